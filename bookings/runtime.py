"""The use cases the bookings HTTP views and worker events call, on one hub process: each is one
transaction, then what must happen after it commits (presence, live events, timers)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import date
from typing import Any

import asyncpg

from bookings import checkout, manage, orders, points, redeeming, schedule, tracking
from bookings.complaints.service import Complaints
from bookings.config import BookingConfig, ComplaintsConfig, DispatchDefaults, PointsDefaults, ReviewConfig
from bookings.coupons import campaigns
from bookings.dispatch import Accepted, Dispatcher
from bookings.live import entry_for_customer
from bookings.orders import Actor, Booking, BookingDetail
from bookings.payloads import SlotRequest
from bookings.payments import commission, money, paying
from bookings.payments.config import PaymentsConfig
from bookings.payments.providers.base import PaymentProvider
from bookings.payments.service import Payments
from bookings.price_rules import PriceRulesCache
from bookings.protocol import BOOKING_LOCATION
from bookings.reviews.service import Reviews
from bookings.rules import RulesCache
from bookings.search.service import CatalogSearch
from bookings.settlement.config import SettlementConfig
from bookings.settlement.service import Settlement
from bookings.storage import bookings as booking_store
from bookings.storage import idempotency
from bookings.storage import workers as worker_store
from hub.auth import Principal, Role
from hub.context import HubContext
from hub.errors import Conflict, NotFound
from hub.presence import PRESENCE_UNAVAILABLE, Status
from hub.storage.db import Conn

log = logging.getLogger(__name__)

PRUNE_EVERY_SWEEPS = 720  # idempotency keys are pruned about hourly at the default 5 s sweep


class BookingsRuntime:
    def __init__(
        self,
        hub: HubContext,
        config: BookingConfig,
        dispatch: DispatchDefaults,
        payments: PaymentsConfig | None = None,
        providers: Mapping[str, PaymentProvider] | None = None,
        settlement: SettlementConfig | None = None,
        points_defaults: PointsDefaults | None = None,
        reviews: ReviewConfig | None = None,
        complaints: ComplaintsConfig | None = None,
    ) -> None:
        self.hub = hub
        self.config = config
        self.points_defaults = points_defaults or PointsDefaults.from_env({})
        self.rules = RulesCache(dispatch)
        self.pricing = PriceRulesCache()
        self.search = CatalogSearch(hub.pool)
        self.dispatcher = Dispatcher(
            hub.pool,
            hub.presence,
            hub.realtime,
            hub.timers,
            self.rules,
            self.config.timezone,
            hub.spawn,
            self.config.travel_speed_kmh,
        )
        self.throttle = tracking.LocationThrottle(self.config.location_interval_seconds)
        self.payments = Payments(
            hub.pool, payments or PaymentsConfig(public_url=None), providers or {}, self._paid
        )
        self.settlement = Settlement(hub.pool, settlement or SettlementConfig(), config.timezone)
        self.reviews = Reviews(hub.pool, reviews or ReviewConfig())
        self.complaints = Complaints(
            hub.pool, complaints or ComplaintsConfig.from_env({}), config, self.payments, self._paid
        )
        self._sweeps = 0

    @property
    def pool(self) -> asyncpg.Pool:
        return self.hub.pool

    @property
    def read_only_seconds(self) -> float:
        return self.hub.settings.chat.booking_read_only_seconds

    # Booking and paying ----------------------------------------------------------------------------

    async def quote(self, conn: Conn, customer_id: str, request: SlotRequest) -> checkout.QuoteResult:
        rules = await self.pricing.get(conn)
        adjust = redeeming.pricing(conn, customer_id, request, self.points_defaults, booking=False)
        return await checkout.quote(conn, customer_id, request, self.config, rules, adjust)

    async def create(self, conn: Conn, customer_id: str, request: SlotRequest) -> BookingDetail:
        rules = await self.pricing.get(conn)
        adjust = redeeming.pricing(conn, customer_id, request, self.points_defaults, booking=True)
        booking, _ = await checkout.create(conn, customer_id, request, self.config, rules, adjust)
        booking = await redeeming.take(conn, booking, request)  # points spent, or paid by a package
        if booking.paid_at is None:
            self.hub.timers.at(f"unpaid:{booking.id}", booking.payment_due_at, self.expire_unpaid, booking.id)
        return await orders.detail(conn, booking)

    async def mark_paid(self, booking_id: uuid.UUID, payment_ref: str, actor: Actor) -> BookingDetail:
        """An admin's word that the booking was paid: the same path as a provider's notify."""
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                booking = await paying.mark_paid_by_hand(
                    conn, await orders.require(conn, booking_id), payment_ref, actor
                )
            self._paid(booking)
            return await orders.detail(conn, booking)

    def _paid(self, booking: Booking) -> None:
        """After the commit that paid ``booking``: no expiry, and dispatch at once (the outbox
        event is the safety net)."""
        self.hub.timers.cancel(f"unpaid:{booking.id}")
        self.dispatcher.request(booking.id, 0)

    async def expire_unpaid(self, booking_id: uuid.UUID) -> None:
        await self.payments.ask_before_expiry(booking_id)  # paid after all: then it does not expire
        async with self.pool.acquire() as conn, conn.transaction():
            await checkout.expire_unpaid(conn, booking_id)

    # Reading -------------------------------------------------------------------------------------

    async def visible(self, user: Principal, booking_id: uuid.UUID) -> BookingDetail:
        """The booking with its timeline, if ``user`` may see it: its customer, its worker, staff."""
        booking = await orders.get(self.pool, booking_id)
        if booking is None or not orders.can_see(user, booking):
            raise NotFound("no such booking", code="booking_not_found")
        detail = await orders.detail(self.pool, booking)
        if user.role == Role.CUSTOMER:
            detail.timeline = [
                orders.TimelineEntry.model_validate(entry_for_customer(e.model_dump()))
                for e in detail.timeline
            ]
        return detail

    # Support actions -----------------------------------------------------------------------------

    async def cancel(self, user: Principal, booking_id: uuid.UUID, reason: str) -> BookingDetail:
        actor = Actor(user.user_id, user.role.value)
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                changed = await manage.cancel(conn, booking_id, actor, reason, self.read_only_seconds)
                refund = await self._refund_what_is_held(conn, booking_id, "cancelled")
            await self._after_change(changed, "cancelled")
            self.hub.timers.cancel(f"unpaid:{booking_id}")
            if refund is not None:
                await self.payments.send_refund(refund)
            return await orders.detail(conn, changed.booking)

    async def _refund_what_is_held(self, conn: Conn, booking_id: uuid.UUID, reason: str) -> uuid.UUID | None:
        """In the cancelling transaction: what the customer paid and the fee did not keep goes back."""
        held = await money.held(conn, booking_id)
        if held <= 0:
            return None
        # What is held, not the whole payment: a late cancellation's fee was earned from it.
        row = await self.payments.refund_in(conn, booking_id, held, reason, Actor.system())
        refund_id: uuid.UUID = row["id"]
        return refund_id

    async def cancel_untaken(self) -> None:
        """The sweep: a paid booking that nobody took by its start is cancelled and refunded."""
        for booking_id in await booking_store.untaken_at_start(self.pool):
            async with self.pool.acquire() as conn:
                try:
                    async with conn.transaction():
                        changed = await manage.cancel(
                            conn,
                            booking_id,
                            Actor.system(),
                            "no worker could take it before it began; you are refunded in full",
                            self.read_only_seconds,
                        )
                        refund = await self._refund_what_is_held(conn, booking_id, "no worker took it")
                except Conflict:
                    continue  # taken or cancelled meanwhile
            await self._after_change(changed, "cancelled")
            if refund is not None:
                await self.payments.send_refund(refund)

    async def assign(self, user: Principal, booking_id: uuid.UUID, worker_id: str) -> BookingDetail:
        actor = Actor(user.user_id, user.role.value)
        async with self.pool.acquire() as conn:
            rules = await self.rules.get(conn)
            async with conn.transaction():
                changed = await manage.assign(
                    conn, booking_id, worker_id, actor, rules.travel_buffer_minutes, self.config.timezone
                )
                booking = await tracking.set_depart_by(
                    conn, changed.booking, worker_id, self.config.travel_speed_kmh
                )
            await self.dispatcher.tell_taken(booking_id, changed.withdrawn)
            return await orders.detail(conn, booking)

    async def redispatch(self, user: Principal, booking_id: uuid.UUID, reason: str) -> BookingDetail:
        actor = Actor(user.user_id, user.role.value)
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                changed = await manage.redispatch(conn, booking_id, actor, reason)
            self.dispatcher.request(booking_id, 0)
            await self._after_change(changed, "redispatched")
            return await orders.detail(conn, changed.booking)

    async def _after_change(self, changed: manage.Changed, reason: str) -> None:
        await self.dispatcher.tell_withdrawn(changed.booking.id, changed.withdrawn, reason)
        if changed.released_worker is not None:
            await self._clear_busy(changed.released_worker, changed.booking.id)

    async def _clear_busy(self, worker_id: str, booking_id: uuid.UUID) -> None:
        try:
            state = await self.hub.presence.get(worker_id, "worker")
            if state is not None and state.booking_id in (None, str(booking_id)):
                await self.hub.presence.clear_busy(worker_id)
        except PRESENCE_UNAVAILABLE as exc:
            log.warning("presence unavailable (%r): worker %s not shown free yet", exc, worker_id)

    async def _show_busy(self, worker_id: str, booking_id: uuid.UUID) -> None:
        """After the step is committed: a presence outage must not turn a done step into an
        error (the worker would resend it). Presence catches up when it comes back (restore_jobs)."""
        try:
            await self.hub.presence.set_busy(worker_id, str(booking_id))
        except PRESENCE_UNAVAILABLE as exc:
            log.warning("presence unavailable (%r): worker %s not shown busy yet", exc, worker_id)

    async def jobs_in_progress(self) -> list[tuple[str, str]]:
        """Whom presence shows busy: kept here, restored whenever presence lost it."""
        return await booking_store.jobs_in_progress(self.pool)

    # The worker ----------------------------------------------------------------------------------

    async def remember_leave(self, user: Principal, status: Status) -> None:
        """Leave is kept with the worker's profile too: no offers while on leave, connected or not."""
        if user.role == Role.WORKER:
            await worker_store.set_on_leave(self.pool, user.user_id, status == Status.ON_LEAVE)

    # Their job ---------------------------------------------------------------------------------

    async def accept(self, worker_id: str, offer_id: uuid.UUID) -> Accepted:
        return await self.dispatcher.accept(worker_id, offer_id)

    async def depart(
        self, worker_id: str, booking_id: uuid.UUID, lat: float, lng: float, eta: int
    ) -> Booking:
        async with self.pool.acquire() as conn, conn.transaction():
            booking = await tracking.depart(conn, worker_id, booking_id, lat, lng, eta, self.config)
        await self._show_busy(worker_id, booking_id)
        return booking

    async def locate(self, worker_id: str, booking_id: uuid.UUID, lat: float, lng: float) -> bool:
        """Forward the position to the customer if it is due (throttled); False if it was dropped."""
        async with self.pool.acquire() as conn:
            due = await tracking.locate(
                conn, worker_id, booking_id, lat, lng, self.config.location_interval_seconds, self.throttle
            )
        if due is None:
            return False
        await self.hub.realtime.to_user(due["customer_id"], "customer", BOOKING_LOCATION, due["event"])
        return True

    async def arrive(self, worker_id: str, booking_id: uuid.UUID, lat: float, lng: float) -> Booking:
        async with self.pool.acquire() as conn, conn.transaction():
            return await tracking.arrive(conn, worker_id, booking_id, lat, lng, self.config)

    async def start(self, worker_id: str, booking_id: uuid.UUID) -> Booking:
        async with self.pool.acquire() as conn, conn.transaction():
            booking = await tracking.start(conn, worker_id, booking_id)
        await self._show_busy(worker_id, booking_id)
        return booking

    async def finish(self, worker_id: str, booking_id: uuid.UUID) -> Booking:
        async with self.pool.acquire() as conn, conn.transaction():
            rate = await commission.current(conn, self.settlement.config.commission_pct)
            rule = await points.rule(conn, self.points_defaults)
            booking = await tracking.finish(
                conn, worker_id, booking_id, self.read_only_seconds, rate.rate_pct, rule
            )
        await self._clear_busy(worker_id, booking_id)
        return booking

    async def schedule(self, worker_id: str, first: date, last: date) -> dict[str, Any]:
        return await schedule.days(self.pool, worker_id, first, last, self.config.timezone)

    # Timers --------------------------------------------------------------------------------------

    async def recover(self) -> None:
        """After start-up: date jobs for deadlines this node (or a dead one) had scheduled."""
        waves = await self.dispatcher.reschedule_pending()
        rows = await booking_store.unpaid_deadlines(self.pool)
        for row in rows:
            self.hub.timers.at(f"unpaid:{row['id']}", row["payment_due_at"], self.expire_unpaid, row["id"])
        log.info("timers recovered: %d offer waves, %d unpaid bookings", waves, len(rows))

    async def sweep(self) -> None:
        """The safety net under every date job; each step is idempotent."""
        await self.dispatcher.sweep()
        await self.payments.ask_about_unanswered()
        await self.payments.send_unsent_refunds()
        await self.cancel_untaken()
        await self.complaints.escalate_overdue()
        async with self.pool.acquire() as conn:
            await campaigns.fail_overdue_groups(conn)
            for booking_id in await checkout.overdue_unpaid(conn):
                await self.payments.ask_before_expiry(booking_id)
                async with conn.transaction():
                    await checkout.expire_unpaid(conn, booking_id)
            for booking_id in await tracking.overdue_departures(conn, self.config.lateness_grace_minutes):
                async with conn.transaction():
                    await tracking.check_departure(conn, booking_id)
            await tracking.check_stalled(conn, self.config.stalled_grace_minutes, self.config.overrun_minutes)
            self._sweeps += 1
            if self._sweeps % PRUNE_EVERY_SWEEPS == 1:
                await idempotency.prune(conn)
