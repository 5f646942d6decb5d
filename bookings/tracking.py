"""The worker's progress on a job: depart, location, arrive, start, finish; and lateness.

Each step is a status transition that only the assigned worker can make (anyone else is told
the booking does not exist), with a notification for the customer in the same transaction.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bookings import console_items, geo, orders, points
from bookings.config import BookingConfig
from bookings.orders import Actor, Booking, Status
from bookings.payments import money
from bookings.storage import bookings as booking_store
from bookings.storage import workers as worker_store
from hub.chat import bookings as booking_chat
from hub.errors import Conflict, NotFound
from hub.storage.db import Conn
from hub.times import iso, iso_or_none

ONLY_ASSIGNED = "AND worker_id = $3"
DEFAULT_TRAVEL_MINUTES = 30  # a worker without a base on record
LOCATION_CACHE_LIMIT = 50_000  # bookings remembered for the local location throttle


@dataclass(frozen=True, slots=True)
class Step:
    to: Status
    kind: str
    title: str
    body: str


STEPS = {
    "depart": Step(Status.ON_THE_WAY, "departed", "Your worker is on the way", "ETA {eta} min"),
    "arrive": Step(Status.ARRIVED, "arrived", "Your worker has arrived", "{name} is at your door."),
    "start": Step(Status.IN_SERVICE, "started", "Service started", "{name} has started the service."),
    "finish": Step(
        Status.COMPLETED, "finished", "Service finished", "How did it go? You can rate {name} now."
    ),
}


async def _advance(
    conn: Conn,
    worker_id: str,
    booking_id: uuid.UUID,
    name: str,
    sets: str,
    params: tuple[Any, ...] = (),
    data: dict[str, Any] | None = None,
    **told: Any,
) -> tuple[Booking, bool]:
    """Make step ``name`` as the assigned worker, then tell the customer; the flag says whether
    the step was made by this call. A step resent because its ack was lost (a flaky network) is
    answered with the booking as it is, not refused, and the caller adds nothing: its side
    records and alerts belong to the first one."""
    step = STEPS[name]
    try:
        async with conn.transaction():  # a savepoint, so a refusal leaves the caller's transaction usable
            booking, _ = await orders.transition(
                conn,
                booking_id,
                step.to,
                Actor(worker_id, "worker"),
                step.kind,
                data=data,
                sets=sets,
                params=(worker_id, *params),
                where=ONLY_ASSIGNED,
            )
    except Conflict:
        current = await orders.require_worker_booking(conn, booking_id, worker_id)
        if current.status == step.to:
            return current, False
        raise
    worker = await worker_store.name(conn, worker_id) or "Your worker"
    body = step.body.format(name=worker, **told)
    await orders.tell(
        conn, booking, booking.customer_id, "customer", step.title, body, status=step.to.value, **told
    )
    return booking, True


async def depart(
    conn: Conn,
    worker_id: str,
    booking_id: uuid.UUID,
    lat: float,
    lng: float,
    eta_minutes: int,
    config: BookingConfig,
) -> Booking:
    booking, made = await _advance(
        conn,
        worker_id,
        booking_id,
        "depart",
        "departed_at = now(), eta_at = now() + make_interval(mins => $4), last_lat = $5, last_lng = $6, "
        "last_located_at = now()",
        (eta_minutes, lat, lng),
        {"lat": lat, "lng": lng, "eta_minutes": eta_minutes},
        eta=eta_minutes,
    )
    assert booking.eta_at is not None
    if made and booking.eta_at > booking.slot_start + timedelta(minutes=config.lateness_grace_minutes):
        await alert_late(conn, booking, "eta_after_start", {"eta_at": iso(booking.eta_at)})
    return booking


async def arrive(
    conn: Conn, worker_id: str, booking_id: uuid.UUID, lat: float, lng: float, config: BookingConfig
) -> Booking:
    current = await orders.require_worker_booking(conn, booking_id, worker_id)
    meters = round(geo.distance_km(lat, lng, current.address.lat, current.address.lng) * 1000)
    flagged = meters > config.geofence_meters
    booking, made = await _advance(
        conn,
        worker_id,
        booking_id,
        "arrive",
        "arrived_at = now(), arrival_distance_m = $4, arrival_flagged = $5, last_lat = $6, last_lng = $7, "
        "last_located_at = now()",
        (meters, flagged, lat, lng),
        {"lat": lat, "lng": lng, "distance_m": meters, "outside_geofence": flagged},
    )
    if made and booking.arrival_flagged:
        # Accepted (GPS drifts, entrances differ), but support should look.
        await orders.record(
            conn,
            booking,
            "arrival_flagged",
            Actor(worker_id, "worker"),
            f"arrival reported {meters} m from the address (geofence {config.geofence_meters:g} m)",
            {"distance_m": meters, "geofence_m": config.geofence_meters},
        )
    return booking


async def start(conn: Conn, worker_id: str, booking_id: uuid.UUID) -> Booking:
    booking, _ = await _advance(conn, worker_id, booking_id, "start", "started_at = now()")
    return booking


async def finish(
    conn: Conn,
    worker_id: str,
    booking_id: uuid.UUID,
    read_only_seconds: float,
    commission_pct: int,
    points_rule: points.PointsRule | None = None,
) -> Booking:
    """The job is done; the money is earned at ``commission_pct``, the rate in force now, and the
    customer earns points by ``points_rule``."""
    booking, made = await _advance(conn, worker_id, booking_id, "finish", "finished_at = now()")
    if made:  # a resent finish must not push the conversation's read-only time further out
        await booking_chat.close_booking_conversation(conn, str(booking_id), read_only_seconds)
        await money.complete(conn, booking, commission_pct)  # delivered: the money is earned
        if points_rule is not None:
            await points.earn(conn, booking, points_rule)  # once per booking, whatever is resent
    return booking


async def set_depart_by(conn: Conn, booking: Booking, worker_id: str, speed_kmh: float) -> Booking:
    """When must the worker leave? Slot start minus the trip from their base at city speed."""
    row = await worker_store.base(conn, worker_id)
    minutes = DEFAULT_TRAVEL_MINUTES
    if row is not None:
        km = geo.distance_km(row["area_lat"], row["area_lng"], booking.address.lat, booking.address.lng)
        minutes = geo.travel_minutes(km, speed_kmh)
    depart_by = booking.slot_start - timedelta(minutes=minutes)
    await booking_store.set_depart_by(conn, booking.id, depart_by)
    return booking.model_copy(update={"depart_by": depart_by})


class LocationThrottle:
    """At most one forwarded location per booking per interval on this node; the database's
    ``last_located_at`` condition enforces it across nodes."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: dict[uuid.UUID, float] = {}

    def allows(self, booking_id: uuid.UUID) -> bool:
        now = time.monotonic()
        last = self._last.get(booking_id)
        if last is not None and now - last < self.interval:
            return False
        if len(self._last) >= LOCATION_CACHE_LIMIT:
            self._last.clear()
        self._last[booking_id] = now
        return True


async def locate(
    conn: Conn,
    worker_id: str,
    booking_id: uuid.UUID,
    lat: float,
    lng: float,
    interval: float,
    throttle: LocationThrottle,
) -> dict[str, Any] | None:
    """Record the worker's position; the customer's live event if it is due, else None.

    Only the assigned worker gets as far as the throttle: it is kept per booking, so a position
    from anyone else must never take the slot of the next real one (``NotFound`` instead)."""
    if await booking_store.worker_of(conn, booking_id) != worker_id:
        raise NotFound("no such booking", code="booking_not_found")
    if not throttle.allows(booking_id):
        return None
    row = await booking_store.locate(conn, booking_id, worker_id, lat, lng, interval)
    if row is None:
        return None  # not due yet by another node's position, or the job is not under way
    return {
        "customer_id": row["customer_id"],
        "event": {
            "booking_id": str(booking_id),
            "lat": lat,
            "lng": lng,
            "distance_m": round(geo.distance_km(lat, lng, row["lat"], row["lng"]) * 1000),
            "eta_at": iso_or_none(row["eta_at"]),
            "at": iso(row["last_located_at"]),
        },
    }


async def alert_late(conn: Conn, booking: Booking, reason: str, data: dict[str, Any]) -> bool:
    """Announce lateness once per acceptance: to support (order:alert) and to the customer."""
    if not await booking_store.flag_late(conn, booking.id):
        return False
    current = await orders.require(conn, booking.id)
    await orders.record(
        conn,
        current,
        "late",
        Actor.system(),
        "the worker is running late",
        {"reason": reason, "can_redispatch": current.status == Status.ACCEPTED, **data},
    )
    await orders.tell(
        conn,
        booking,
        booking.customer_id,
        "customer",
        "Your worker may be late",
        "We are checking with your worker and will keep you posted.",
        reason=reason,
    )
    return True


async def overdue_departures(conn: Conn, grace_minutes: float) -> list[uuid.UUID]:
    return await booking_store.overdue_departures(conn, grace_minutes)


async def check_departure(conn: Conn, booking_id: uuid.UUID) -> bool:
    booking = await orders.get(conn, booking_id)
    if booking is None or booking.status != Status.ACCEPTED or booking.depart_by is None:
        return False
    now = datetime.now(UTC)
    return await alert_late(
        conn,
        booking,
        "not_departed",
        {"depart_by": iso(booking.depart_by), "checked_at": iso(now)},
    )


async def check_stalled(conn: Conn, grace_minutes: float, overrun_minutes: float) -> int:
    """Open a ``job_stalled`` item for each job that stopped moving (the sweep, on any node)."""
    opened = 0
    for row in await booking_store.stalled_jobs(conn, grace_minutes, overrun_minutes):
        async with conn.transaction():
            booking = await orders.get(conn, row["id"])
            if booking is None:
                continue
            await console_items.stalled(
                conn, booking, row["phase"], row["cause"], row["since"], row["expected"]
            )
            opened += 1
    return opened
