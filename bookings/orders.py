"""Bookings: the status machine, the timeline and the one path by which a change leaves.

Every change is a conditional UPDATE on the status it expects (``WHERE status = ANY(...)``), so two
requests racing for one booking cannot both win; the loser gets ``Conflict`` (HTTP 409) with the
status it found. The same transaction appends a timeline entry and publishes ``booking.changed``
through the outbox, so nothing that happened to a booking is ever left unannounced.
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

import asyncpg
import pydantic

from bookings import console_items
from bookings.storage import bookings as store
from hub import cursors
from hub.auth import Principal, Role
from hub.errors import Conflict, NotFound
from hub.events import Event
from hub.push.inbox import NewNotification, notify
from hub.storage.db import Conn, Executor
from hub.storage.outbox import publish
from hub.times import Timestamp

BOOKING_CHANGED = "booking.changed"
DISPATCH_REQUESTED = "dispatch.requested"


class Status(enum.StrEnum):
    PENDING_PAYMENT = "pending_payment"
    DISPATCHING = "dispatching"
    ACCEPTED = "accepted"
    ON_THE_WAY = "on_the_way"
    ARRIVED = "arrived"
    IN_SERVICE = "in_service"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


S = Status
# Every legal move. Back to dispatching is support re-dispatching a booking whose worker fails it.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.PENDING_PAYMENT: frozenset({S.DISPATCHING, S.CANCELLED, S.EXPIRED}),
    S.DISPATCHING: frozenset({S.ACCEPTED, S.CANCELLED}),
    S.ACCEPTED: frozenset({S.ON_THE_WAY, S.DISPATCHING, S.CANCELLED}),
    S.ON_THE_WAY: frozenset({S.ARRIVED, S.DISPATCHING, S.CANCELLED}),
    S.ARRIVED: frozenset({S.IN_SERVICE, S.CANCELLED}),
    S.IN_SERVICE: frozenset({S.COMPLETED}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
    S.EXPIRED: frozenset(),
}
OPEN = frozenset(s for s, nexts in TRANSITIONS.items() if nexts)
WITH_WORKER = frozenset({S.ACCEPTED, S.ON_THE_WAY, S.ARRIVED, S.IN_SERVICE})


def sources(target: Status) -> list[str]:
    return [s.value for s, nexts in TRANSITIONS.items() if target in nexts]


@dataclass(frozen=True, slots=True)
class Actor:
    id: str | None
    role: str  # customer, worker, support, admin, system, payment

    @classmethod
    def system(cls) -> Actor:
        return cls(None, "system")


class Address(pydantic.BaseModel):
    label: str = ""
    line: str
    city: str = ""
    lat: float
    lng: float


class ServiceRef(pydantic.BaseModel):
    id: str
    name_en: str
    name_zh: str


class Booking(pydantic.BaseModel):
    id: uuid.UUID
    status: Status
    customer_id: str
    service: ServiceRef
    worker_id: str | None
    chosen_worker_id: str | None
    slot_start: Timestamp
    slot_end: Timestamp
    duration_minutes: int
    address: Address
    special_requests: str
    price: dict[str, Any]
    total_cents: int
    worker_pay_cents: int
    payment_due_at: Timestamp
    paid_at: Timestamp | None
    dispatch_wave: int
    escalated_at: Timestamp | None
    accepted_at: Timestamp | None
    depart_by: Timestamp | None
    departed_at: Timestamp | None
    eta_at: Timestamp | None
    arrived_at: Timestamp | None
    arrival_distance_m: int | None
    arrival_flagged: bool
    started_at: Timestamp | None
    finished_at: Timestamp | None
    cancelled_at: Timestamp | None
    cancel_reason: str | None
    cancellation_fee_cents: int | None
    late_alerted_at: Timestamp | None
    redo_of: uuid.UUID | None = None  # the booking whose job this one does again, free (a complaint's redo)
    redos: list[uuid.UUID] = []  # the free redos of this booking's job, oldest first
    version: int
    created_at: Timestamp
    updated_at: Timestamp


class TimelineEntry(pydantic.BaseModel):
    id: int
    status: Status
    kind: str
    actor_id: str | None
    actor_role: str | None
    note: str
    data: dict[str, Any]
    at: Timestamp


class BookingDetail(Booking):
    timeline: list[TimelineEntry]


# runtime.py's own queries (the worker's schedule) still read these here.
COLUMNS = store.COLUMNS
SELECT = store.SELECT


def booking_from(row: asyncpg.Record) -> Booking:
    data = dict(row)
    data["service"] = ServiceRef(
        id=data.pop("service_id"), name_en=data.pop("service_name_en"), name_zh=data.pop("service_name_zh")
    )
    return Booking.model_validate(data)


def entry_from(row: asyncpg.Record) -> TimelineEntry:
    return TimelineEntry.model_validate(dict(row))


async def get(conn: Executor, booking_id: uuid.UUID) -> Booking | None:
    row = await store.get(conn, booking_id)
    return None if row is None else booking_from(row)


async def require(conn: Executor, booking_id: uuid.UUID) -> Booking:
    found = await get(conn, booking_id)
    if found is None:
        raise NotFound("no such booking", code="booking_not_found")
    return found


async def timeline(conn: Executor, booking_id: uuid.UUID) -> list[TimelineEntry]:
    return [entry_from(row) for row in await store.timeline(conn, booking_id)]


async def detail(conn: Executor, booking: Booking) -> BookingDetail:
    return BookingDetail(**dict(booking), timeline=await timeline(conn, booking.id))


async def listing(
    conn: Executor,
    *,
    customer_id: str | None = None,
    worker_id: str | None = None,
    statuses: Sequence[str] = (),
    escalated: bool | None = None,
    late: bool | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Booking], str | None]:
    """A page of bookings, newest first, and the cursor of the next page."""
    rows = await store.listing(
        conn,
        customer_id=customer_id,
        worker_id=worker_id,
        statuses=statuses,
        escalated=escalated,
        late=late,
        after=cursors.read(cursor, "bookings", datetime, uuid.UUID),
        limit=limit + 1,
    )
    return cursors.page(
        "bookings", [booking_from(row) for row in rows], limit, lambda b: (b.created_at, b.id)
    )


async def insert(
    conn: Conn,
    *,
    customer_id: str,
    service_id: str,
    chosen_worker_id: str | None,
    slot_start: datetime,
    slot_end: datetime,
    duration_minutes: int,
    address: Address,
    special_requests: str,
    price: dict[str, Any],
    total_cents: int,
    worker_pay_cents: int,
    payment_minutes: float,
) -> tuple[Booking, TimelineEntry]:
    booking_id = uuid.uuid4()
    await store.insert(
        conn,
        booking_id,
        customer_id=customer_id,
        service_id=service_id,
        chosen_worker_id=chosen_worker_id,
        slot_start=slot_start,
        slot_end=slot_end,
        duration_minutes=duration_minutes,
        address=address.model_dump(),
        lat=address.lat,
        lng=address.lng,
        special_requests=special_requests,
        price=price,
        total_cents=total_cents,
        worker_pay_cents=worker_pay_cents,
        payment_seconds=payment_minutes * 60,
    )
    booking = await require(conn, booking_id)
    entry = await record(conn, booking, "created", Actor(customer_id, "customer"))
    return booking, entry


async def transition(
    conn: Conn,
    booking_id: uuid.UUID,
    to: Status,
    actor: Actor,
    kind: str,
    *,
    note: str = "",
    data: dict[str, Any] | None = None,
    sets: str = "",
    params: Iterable[Any] = (),
    where: str = "",
    allowed_from: Iterable[Status] | None = None,
) -> tuple[Booking, TimelineEntry]:
    """Move the booking to ``to`` if its status allows it; ``Conflict("illegal_transition")`` if not.

    ``sets`` and ``where`` are trusted SQL fragments over the bookings row, with parameters from
    $3 on (``params``); ``where`` narrows who may make the move (e.g. only the assigned worker),
    and failing it reads as ``NotFound``, as if the booking were someone else's.
    """
    params = tuple(params)
    froms = [s.value for s in allowed_from] if allowed_from is not None else sources(to)
    row = await store.transition(conn, booking_id, to.value, froms, sets, where, params)
    if row is None:
        await _explain_refusal(conn, booking_id, to, where, params)
    booking = booking_from(row)
    entry = await record(conn, booking, kind, actor, note, data)
    return booking, entry


async def _explain_refusal(
    conn: Conn, booking_id: uuid.UUID, to: Status, where: str, params: tuple[Any, ...]
) -> NoReturn:
    current = await store.status(conn, booking_id)
    if current is None:
        raise NotFound("no such booking", code="booking_not_found")
    if where:
        used = max((int(n) for n in re.findall(r"\$(\d+)", where)), default=2) - 2
        if not await store.matches(conn, booking_id, where, params[:used]):
            raise NotFound("no such booking", code="booking_not_found")
    raise Conflict(
        f"a booking that is {current} cannot become {to.value}",
        code="illegal_transition",
        details={"status": current, "wanted": to.value},
    )


async def record(
    conn: Conn,
    booking: Booking,
    kind: str,
    actor: Actor,
    note: str = "",
    data: dict[str, Any] | None = None,
) -> TimelineEntry:
    """Append a timeline entry and announce it (with the booking as it now is) through the outbox."""
    row = await store.append_timeline(
        conn, booking.id, booking.status.value, kind, actor.id, actor.role, note, data or {}
    )
    entry = entry_from(row)
    await publish(
        conn,
        Event(
            BOOKING_CHANGED,
            {"booking": booking.model_dump(mode="json"), "entry": entry.model_dump(mode="json")},
        ),
    )
    await console_items.follow(conn, booking, entry)  # what support must look at, or no longer
    return entry


async def request_dispatch(conn: Conn, booking_id: uuid.UUID, after_wave: int) -> None:
    """Ask (through the outbox, so it survives a crash) for the wave after ``after_wave``."""
    await publish(conn, Event(DISPATCH_REQUESTED, {"booking_id": str(booking_id), "after_wave": after_wave}))


# Cancellation ---------------------------------------------------------------------------------

# (hours before the slot, share of the price kept as a fee) for a booking with a worker; the
# first row whose bound the notice reaches applies.
CANCELLATION_FEES = ((24.0, 0), (2.0, 10), (0.0, 30))
ON_THE_WAY_FEE_PCT = 50  # the worker is already travelling
CUSTOMER_CANCELLABLE = frozenset({S.PENDING_PAYMENT, S.DISPATCHING, S.ACCEPTED, S.ON_THE_WAY})


def cancellation_fee(booking: Booking, now: datetime) -> int:
    """Free before a worker is committed; afterwards by notice, as ``CANCELLATION_FEES`` says."""
    if booking.status in (S.PENDING_PAYMENT, S.DISPATCHING):
        return 0
    if booking.status == S.ON_THE_WAY:
        pct = ON_THE_WAY_FEE_PCT
    else:
        hours = (booking.slot_start - now).total_seconds() / 3600
        pct = next(fee for bound, fee in CANCELLATION_FEES if hours >= bound or bound == 0.0)
    return booking.total_cents * pct // 100


def can_see(user: Principal, booking: Booking) -> bool:
    """Whether ``user`` may see the booking: its customer, its worker, staff."""
    if user.role in (Role.SUPPORT, Role.ADMIN):
        return True
    if user.role == Role.CUSTOMER:
        return booking.customer_id == user.user_id
    return booking.worker_id == user.user_id


async def require_worker_booking(conn: Executor, booking_id: uuid.UUID, worker_id: str) -> Booking:
    """The booking if ``worker_id`` is assigned to it; ``NotFound`` otherwise (never another's)."""
    booking = await get(conn, booking_id)
    if booking is None or booking.worker_id != worker_id:
        raise NotFound("no such booking", code="booking_not_found")
    return booking


async def tell(
    conn: Conn,
    booking: Booking,
    user_id: str,
    role: str,
    title: str,
    body: str,
    *,
    kind: str = "booking",
    urgent: bool | None = None,
    **data: Any,
) -> None:
    """A notification about ``booking`` for one person, in the caller's transaction (live, in the
    inbox, and pushed when they are away)."""
    await notify(
        conn,
        NewNotification(
            user_id=user_id,
            role=role,
            kind=kind,
            title=title,
            body=body,
            data={"booking_id": str(booking.id), **data},
            urgent=urgent,
        ),
    )
