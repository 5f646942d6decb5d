"""The offer loop: candidates, waves of offers with deadlines, first accept wins, escalation.

Truth is in PostgreSQL. A wave is created only if the booking is still dispatching at the wave
the caller saw (``dispatch_wave``), under the booking's row lock, so a deadline firing on two
nodes, or twice, creates one wave. Accepting is one conditional UPDATE of the booking; whoever
gets there second finds it no longer dispatching and is told ``offer_taken``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bookings import geo, orders, tracking
from bookings.orders import Actor, Booking, Status
from bookings.protocol import OFFER, OFFER_EXPIRED, OFFER_TAKEN, OFFER_WITHDRAWN
from bookings.rules import DispatchRules, RulesCache
from bookings.storage import bookings as booking_store
from bookings.storage import offers as offer_store
from bookings.storage import workers as worker_store
from hub.chat import bookings as booking_chat
from hub.errors import Conflict, NotFound
from hub.presence import PRESENCE_UNAVAILABLE, PresenceState, PresenceTracker
from hub.presence import Status as Presence
from hub.push.inbox import NewNotification, notify_many
from hub.realtime import Realtime
from hub.scheduler import Timers
from hub.storage.db import Conn
from hub.times import iso

log = logging.getLogger(__name__)

# The worker app's alert: play this sound, vibrate in this pattern (ms on/off/on), keep
# repeating until the offer is displayed (offer:seen); the event must pierce quiet hours.
ALERT = {"sound": "new_offer", "vibrate": [400, 200, 400], "repeat_until_seen": True, "urgent": True}
RETRIES = 3  # a wave that lost a deadlock is tried again at once
NEUTRAL_RATING = 4.0  # a new worker is scored as an average one, not as the worst
MAX_EXPERIENCE_YEARS = 15.0  # experience counts up to this


@dataclass(frozen=True, slots=True)
class Candidate:
    worker_id: str
    name: str
    distance_km: float
    score: float
    online: bool


@dataclass(frozen=True, slots=True)
class Offer:
    id: uuid.UUID
    booking_id: uuid.UUID
    worker_id: str
    wave: int
    status: str
    deadline: datetime
    distance_km: float
    pay_cents: int
    seen_at: datetime | None


@dataclass(frozen=True, slots=True)
class Accepted:
    booking: Booking
    offer_id: uuid.UUID
    conversation_id: uuid.UUID
    taken: list[tuple[str, uuid.UUID]]  # (worker, offer) of the others, who are told at once


def score(row: asyncpg.Record, distance: float, online: bool, rules: DispatchRules) -> float:
    w = rules.weights
    rating = row["rating_sum"] / row["rating_count"] if row["rating_count"] else NEUTRAL_RATING
    parts = (
        w.distance * max(0.0, 1 - distance / max(row["area_radius_km"], 0.1)),
        w.rating * rating / 5,
        w.fairness / (1 + 0.2 * row["recent_offers"] + 0.5 * row["recent_jobs"]),
        w.experience * min(row["years_experience"], MAX_EXPERIENCE_YEARS) / MAX_EXPERIENCE_YEARS,
        w.online * (1.0 if online else 0.0),
    )
    return round(sum(parts), 6)


class Dispatcher:
    def __init__(
        self,
        pool: asyncpg.Pool,
        presence: PresenceTracker,
        realtime: Realtime,
        timers: Timers,
        rules: RulesCache,
        timezone: str,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        travel_speed_kmh: float,
    ) -> None:
        self.pool = pool
        self.presence = presence
        self.realtime = realtime
        self.timers = timers
        self.rules = rules
        self.timezone = timezone
        self._spawn = spawn
        self.travel_speed_kmh = travel_speed_kmh
        self._inflight: set[tuple[uuid.UUID, int]] = set()

    # Waves -------------------------------------------------------------------------------------

    async def candidates(self, conn: Conn, booking: Booking, rules: DispatchRules) -> list[Candidate]:
        chosen = booking.chosen_worker_id if booking.dispatch_wave == 0 else None
        buffer = rules.travel_buffer_minutes
        rows = await offer_store.candidates(conn, booking.id, self.timezone, buffer, chosen)
        if chosen is not None and not rows:  # the chosen worker cannot take it: dispatch as usual
            rows = await offer_store.candidates(conn, booking.id, self.timezone, buffer, None)
        lat, lng = booking.address.lat, booking.address.lng
        in_area = [
            (row, d)
            for row in rows
            if (d := geo.distance_km(row["area_lat"], row["area_lng"], lat, lng)) <= row["area_radius_km"]
        ]
        states = await self._presence_of([row["id"] for row, _ in in_area])
        found = []
        for (row, distance), state in zip(in_area, states, strict=True):
            if state is not None and state.status == Presence.ON_LEAVE:
                continue
            online = state is not None and state.status == Presence.ONLINE
            found.append(
                Candidate(row["id"], row["name"], distance, score(row, distance, online, rules), online)
            )
        found.sort(key=lambda c: (-c.score, c.distance_km, c.worker_id))
        return found

    async def _presence_of(self, worker_ids: list[str]) -> Sequence[PresenceState | None]:
        """Their presence, or none known while presence is unavailable (Redis restarting): the
        wave goes out all the same, ranked without the online bonus. Leave is kept in PostgreSQL
        and already filtered."""
        try:
            return await asyncio.gather(*(self.presence.get(worker, "worker") for worker in worker_ids))
        except PRESENCE_UNAVAILABLE as exc:
            log.warning("presence unavailable (%r): ranking %d candidates without it", exc, len(worker_ids))
            return [None] * len(worker_ids)

    def request(self, booking_id: uuid.UUID, after_wave: int) -> None:
        """Make the next wave in the background (once per node at a time).

        Callers do not wait: the outbox relay must not queue every other event behind a wave,
        and a payment callback or a decline is answered at once. If this node dies first, the
        outbox redelivers the request or the sweep finds the stalled booking."""
        key = (booking_id, after_wave)
        if key not in self._inflight:
            self._inflight.add(key)
            self._spawn(self._wave_in_background(key))

    async def _wave_in_background(self, key: tuple[uuid.UUID, int]) -> None:
        try:
            for attempt in range(1, RETRIES + 1):
                try:
                    await self.next_wave(*key)
                    return
                except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError) as exc:
                    log.warning("wave for booking %s failed (attempt %d): %r", key[0], attempt, exc)
        finally:
            self._inflight.discard(key)

    async def next_wave(self, booking_id: uuid.UUID, after_wave: int) -> None:
        """Offer the booking to the next K candidates, or escalate it when there are none left.

        Does nothing unless the booking is dispatching at ``after_wave`` with no offer pending,
        so it is safe to call from every deadline, decline and redelivered event."""
        async with self.pool.acquire() as conn:
            rules = await self.rules.get(conn)
            booking = await orders.get(conn, booking_id)
            if booking is None or not self._waiting(booking, after_wave):
                return
            picked = (await self.candidates(conn, booking, rules))[: rules.wave_size]
            async with conn.transaction():
                row = await booking_store.lock_for_wave(conn, booking_id)
                if (
                    row is None
                    or row["status"] != Status.DISPATCHING
                    or row["dispatch_wave"] != after_wave
                    or row["escalated_at"] is not None
                    or row["open"]
                ):
                    return
                if not picked or after_wave >= rules.max_waves + (1 if booking.chosen_worker_id else 0):
                    # Announced to the console through the outbox (bookings.live), like every change.
                    await self._escalate(conn, booking, after_wave, bool(picked))
                    return
                offers = await self._offer(conn, booking, picked, after_wave + 1, rules)
        await asyncio.gather(*(self._announce(offer, booking) for offer in offers))
        if offers:
            deadline = max(offer.deadline for offer in offers)
            self.schedule_deadline(booking_id, after_wave + 1, deadline)

    @staticmethod
    def _waiting(booking: Booking, after_wave: int) -> bool:
        return (
            booking.status == Status.DISPATCHING
            and booking.dispatch_wave == after_wave
            and booking.escalated_at is None
        )

    async def _offer(
        self, conn: Conn, booking: Booking, picked: Sequence[Candidate], wave: int, rules: DispatchRules
    ) -> list[Offer]:
        # The longer deadline is the chosen worker's own, not a fallback wave's when they cannot come.
        chosen = [c.worker_id for c in picked] == [booking.chosen_worker_id]
        seconds = rules.chosen_offer_seconds if chosen else rules.offer_seconds
        deadline = datetime.now(UTC) + timedelta(seconds=seconds)
        # Notifications lock each worker's inbox counter until commit: taking them in one global
        # order keeps two waves that share workers from deadlocking (seen at 20 bookings/s).
        offers = [
            Offer(
                uuid.uuid4(),
                booking.id,
                candidate.worker_id,
                wave,
                "pending",
                deadline,
                round(candidate.distance_km, 2),
                booking.worker_pay_cents,
                None,
            )
            for candidate in sorted(picked, key=lambda c: c.worker_id)
        ]
        scores = {c.worker_id: c.score for c in picked}
        # A wave is three statements however many workers it reaches: its offers, their
        # notifications, and the notifications' outbox events.
        await offer_store.insert_wave(
            conn,
            booking.id,
            wave,
            booking.worker_pay_cents,
            deadline,
            [(o.id, o.worker_id, scores[o.worker_id], o.distance_km) for o in offers],
        )
        service = f"{booking.service.name_zh} / {booking.service.name_en}"
        await notify_many(
            conn,
            [
                NewNotification(
                    user_id=offer.worker_id,
                    role="worker",
                    kind="offer",
                    title="New job offer",
                    body=f"{service}, {offer.distance_km:.1f} km, pay {offer.pay_cents / 100:.2f} CNY",
                    data={
                        "offer_id": str(offer.id),
                        "booking_id": str(booking.id),
                        "deadline": iso(deadline),
                    },
                    urgent=True,
                )
                for offer in offers
            ],
        )
        await booking_store.set_wave(conn, booking.id, wave)
        offered = [{"worker_id": c.worker_id, "score": c.score, "online": c.online} for c in picked]
        current = booking.model_copy(update={"dispatch_wave": wave})
        await orders.record(
            conn, current, "offered", Actor.system(), f"wave {wave}", {"wave": wave, "offers": offered}
        )
        return offers

    async def _escalate(self, conn: Conn, booking: Booking, wave: int, candidates_left: bool) -> None:
        await booking_store.escalate(conn, booking.id)
        current = await orders.require(conn, booking.id)
        reason = "all_waves_unanswered" if candidates_left or wave > 0 else "no_candidates"
        await orders.record(
            conn,
            current,
            "escalated",
            Actor.system(),
            "no worker took the booking",
            {"reason": reason, "waves": wave},
        )
        await orders.tell(
            conn,
            booking,
            booking.customer_id,
            "customer",
            "Finding your worker",
            "It is taking longer than usual; our support team is assigning a worker for you.",
        )

    def offer_event(self, offer: Offer, booking: Booking) -> dict[str, Any]:
        return {
            "offer_id": str(offer.id),
            "booking_id": str(booking.id),
            "wave": offer.wave,
            "deadline": iso(offer.deadline),
            "seconds_left": max(0.0, round((offer.deadline - datetime.now(UTC)).total_seconds(), 1)),
            "chosen": booking.chosen_worker_id == offer.worker_id,
            "order": {
                "service": booking.service.model_dump(),
                "slot_start": iso(booking.slot_start),
                "slot_end": iso(booking.slot_end),
                "duration_minutes": booking.duration_minutes,
                "address": booking.address.model_dump(),
                "distance_km": offer.distance_km,
                "pay_cents": offer.pay_cents,
                "special_requests": booking.special_requests,
            },
            "alert": ALERT,
        }

    async def _announce(self, offer: Offer, booking: Booking) -> None:
        await self.realtime.to_user(offer.worker_id, "worker", OFFER, self.offer_event(offer, booking))

    def schedule_deadline(self, booking_id: uuid.UUID, wave: int, when: datetime) -> None:
        self.timers.at(f"offers:{booking_id}:{wave}", when, self.wave_deadline, booking_id, wave)

    async def wave_deadline(self, booking_id: uuid.UUID, wave: int) -> None:
        """Expire what is still pending of ``wave`` (idempotent), then move on to the next wave."""
        rows = await offer_store.expire_wave(self.pool, booking_id, wave)
        for row in rows:
            await self.realtime.to_user(
                row["worker_id"],
                "worker",
                OFFER_EXPIRED,
                {"offer_id": str(row["id"]), "booking_id": str(booking_id)},
            )
        await self.next_wave(booking_id, wave)

    # A worker's answers --------------------------------------------------------------------------

    async def seen(self, worker_id: str, offer_id: uuid.UUID) -> dict[str, Any]:
        row = await offer_store.mark_seen(self.pool, offer_id, worker_id)
        if row is None:
            raise NotFound("no such offer", code="offer_not_found")
        return {"offer_id": str(row["id"]), "status": row["status"], "seen_at": iso(row["seen_at"])}

    async def accept(self, worker_id: str, offer_id: uuid.UUID) -> Accepted:
        async with self.pool.acquire() as conn, conn.transaction():
            # The one conditional UPDATE that decides the race (storage's accept).
            won = await booking_store.accept(conn, offer_id, worker_id)
            if won is None:
                again = await self._accepted_before(conn, worker_id, offer_id)
                if again is not None:
                    return again
                raise await self._refusal(conn, worker_id, offer_id)
            if not await offer_store.mark_accepted(conn, offer_id):  # expired between the two statements
                raise Conflict("the offer has expired", code="offer_expired")
            others = await offer_store.close_pending(conn, won, "taken")
            booking = await orders.require(conn, won)
            booking = await tracking.set_depart_by(conn, booking, worker_id, self.travel_speed_kmh)
            await orders.record(
                conn, booking, "accepted", Actor(worker_id, "worker"), data={"offer_id": str(offer_id)}
            )
            conversation = await booking_chat.open_booking_conversation(
                conn, str(booking.id), booking.customer_id, worker_id
            )
            await self._tell_customer_assigned(conn, booking, worker_id)
        await self.tell_taken(booking.id, others)
        return Accepted(booking, offer_id, conversation.id, others)

    async def _accepted_before(self, conn: Conn, worker_id: str, offer_id: uuid.UUID) -> Accepted | None:
        """A phone that lost the ack of its accept sends it again: it gets the same answer."""
        booking_id = await offer_store.accepted_booking(conn, offer_id, worker_id)
        if booking_id is None:
            return None
        booking = await orders.require(conn, booking_id)
        conversation = await booking_chat.open_booking_conversation(
            conn, str(booking_id), booking.customer_id, worker_id
        )
        return Accepted(booking, offer_id, conversation.id, [])

    async def _tell_customer_assigned(self, conn: Conn, booking: Booking, worker_id: str) -> None:
        name = await worker_store.name(conn, worker_id) or worker_id
        await orders.tell(
            conn,
            booking,
            booking.customer_id,
            "customer",
            "Worker confirmed",
            f"{name} will do your {booking.service.name_en} booking.",
            worker_id=worker_id,
        )

    async def _refusal(self, conn: Conn, worker_id: str, offer_id: uuid.UUID) -> Exception:
        row = await offer_store.with_booking_state(conn, offer_id, worker_id)
        if row is None:
            return NotFound("no such offer", code="offer_not_found")
        if row["status"] in ("taken", "withdrawn") or row["booking_status"] in (
            "accepted",
            *orders.WITH_WORKER,
        ):
            return Conflict("another worker has taken this booking", code="offer_taken")
        if row["booking_status"] in ("cancelled", "expired"):
            return Conflict("the booking was cancelled", code="offer_withdrawn")
        if row["status"] == "declined":
            return Conflict("you declined this offer", code="offer_declined")
        if row["status"] == "expired" or row["late"]:
            return Conflict("the offer has expired", code="offer_expired")
        return Conflict("the booking is no longer open for offers", code="offer_taken")

    async def decline(self, worker_id: str, offer_id: uuid.UUID, reason: str) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            row = await offer_store.decline(conn, offer_id, worker_id, reason)
            if row is None:
                status = await offer_store.status(conn, offer_id, worker_id)
                if status == "declined":  # a resent decline whose ack was lost
                    return {"offer_id": str(offer_id), "status": "declined"}
                raise await self._refusal(conn, worker_id, offer_id)
            # Counted after the decline committed: of two workers declining at once, the later
            # one sees nobody left (inside one transaction each would still see the other).
            left = await offer_store.count_pending(conn, row["booking_id"])
        if left == 0:  # everyone in this wave has answered: no need to wait for the deadline
            self.request(row["booking_id"], row["wave"])
        return {"offer_id": str(offer_id), "status": "declined"}

    async def tell_taken(self, booking_id: uuid.UUID, others: Sequence[tuple[str, uuid.UUID]]) -> None:
        await asyncio.gather(
            *(
                self.realtime.to_user(
                    worker, "worker", OFFER_TAKEN, {"offer_id": str(offer), "booking_id": str(booking_id)}
                )
                for worker, offer in others
            )
        )

    async def tell_withdrawn(
        self, booking_id: uuid.UUID, others: Sequence[tuple[str, uuid.UUID]], reason: str
    ) -> None:
        await asyncio.gather(
            *(
                self.realtime.to_user(
                    worker,
                    "worker",
                    OFFER_WITHDRAWN,
                    {"offer_id": str(offer), "booking_id": str(booking_id), "reason": reason},
                )
                for worker, offer in others
            )
        )

    async def pending_for(self, worker_id: str) -> list[dict[str, Any]]:
        """The worker's open offers, as ``offer`` events (resent when the worker reconnects)."""
        rows = await offer_store.pending_for(self.pool, worker_id)
        return [
            self.offer_event(
                Offer(
                    row["offer_id"],
                    row["id"],
                    worker_id,
                    row["offer_wave"],
                    "pending",
                    row["offer_deadline"],
                    row["offer_distance_km"],
                    row["offer_pay_cents"],
                    row["offer_seen_at"],
                ),
                orders.booking_from(row),
            )
            for row in rows
        ]

    # Recovery ------------------------------------------------------------------------------------

    async def reschedule_pending(self) -> int:
        """After a start: a date job for every wave still waiting on its deadline."""
        rows = await offer_store.waiting_waves(self.pool)
        for row in rows:
            self.schedule_deadline(row["booking_id"], row["wave"], row["deadline"])
        return len(rows)

    async def sweep(self) -> None:
        """Fire overdue deadlines (another node's, a restarted node's) and restart stalled dispatches."""
        overdue = await offer_store.overdue_waves(self.pool)
        for row in overdue:
            await self.wave_deadline(row["booking_id"], row["wave"])
        stalled = await booking_store.stalled(self.pool)
        for row in stalled:
            await self.next_wave(row["id"], row["dispatch_wave"])
