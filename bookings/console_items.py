"""Which booking facts open a console work item, and which close one.

Called for every timeline entry in the transaction that records it (``orders.record``): an item
is stored with the fact that raised it, and resolved by the fact that answers it (the late
worker set off, the escalated booking was assigned). The stalled-job sweep opens its own.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from hub.console import items as work_items
from hub.console.models import NewItem, Priority
from hub.storage.db import Conn
from hub.times import iso_or_none

if TYPE_CHECKING:
    from bookings.orders import Booking, TimelineEntry

WORKER_LATE = "worker_late"
ARRIVAL_FLAGGED = "arrival_flagged"
DISPATCH_ESCALATED = "dispatch_escalated"
JOB_STALLED = "job_stalled"
PAYMENT_FAILED = "payment_failed"
REFUND_FAILED = "refund_failed"

SYSTEM = ("system", "bookings")

# Timeline entry kind → the open items of the booking it answers.
RESOLVED_BY: dict[str, tuple[str, ...]] = {
    "departed": (WORKER_LATE,),
    "arrived": (WORKER_LATE, JOB_STALLED),
    "accepted": (DISPATCH_ESCALATED,),
    "assigned": (DISPATCH_ESCALATED,),
    "finished": (JOB_STALLED,),
    "redispatched": (WORKER_LATE, JOB_STALLED),
    "cancelled": (WORKER_LATE, DISPATCH_ESCALATED, JOB_STALLED, PAYMENT_FAILED),
    "expired": (PAYMENT_FAILED,),
    "paid": (PAYMENT_FAILED,),
    "refunded": (REFUND_FAILED,),
}


async def follow(conn: Conn, booking: Booking, entry: TimelineEntry) -> None:
    """Open or resolve what ``entry`` calls for, in its transaction."""
    for kind in RESOLVED_BY.get(entry.kind, ()):
        await work_items.resolve_open(
            conn, kind, str(booking.id), SYSTEM, f"{entry.kind}: {entry.note}".strip(": ")
        )
    new = _raised_by(booking, entry)
    if new is not None:
        await work_items.open_item(conn, new)


def _raised_by(booking: Booking, entry: TimelineEntry) -> NewItem | None:
    data: dict[str, Any] = entry.data
    subject, worker = str(booking.id), booking.worker_id
    person = ("worker", worker) if worker else None
    if entry.kind == "late":
        soon = (booking.slot_start - entry.at).total_seconds() < 30 * 60
        return NewItem(
            kind=WORKER_LATE,
            # Once per acceptance, as the lateness alert itself.
            cause=f"accepted:{_iso(booking.accepted_at)}",
            subject=subject,
            title=_late_title(data.get("reason")),
            priority=Priority.URGENT if soon else Priority.HIGH,
            booking_id=booking.id,
            person=person,
            due_at=booking.slot_start,
            data={"reason": data.get("reason"), "slot_start": _iso(booking.slot_start), **_dates(data)},
        )
    if entry.kind == "arrival_flagged":
        return NewItem(
            kind=ARRIVAL_FLAGGED,
            cause=str(entry.id),
            subject=subject,
            title=f"Arrival reported {data.get('distance_m')} m from the address",
            priority=Priority.NORMAL,
            booking_id=booking.id,
            person=person,
            data={"distance_m": data.get("distance_m"), "geofence_m": data.get("geofence_m")},
        )
    if entry.kind == "escalated":
        return NewItem(
            kind=DISPATCH_ESCALATED,
            cause=str(entry.id),
            subject=subject,
            title="Nobody took the booking: assign a worker",
            priority=Priority.URGENT,
            booking_id=booking.id,
            due_at=booking.slot_start,
            data={
                "reason": data.get("reason"),
                "waves": data.get("waves"),
                "slot_start": _iso(booking.slot_start),
            },
        )
    if entry.kind == "payment_failed":
        return NewItem(
            kind=PAYMENT_FAILED,
            cause=str(entry.id),
            subject=subject,
            title="A payment attempt failed",
            priority=Priority.NORMAL,
            booking_id=booking.id,
            person=("customer", booking.customer_id),
            data=data,
        )
    if entry.kind == "refund_failed":
        return NewItem(
            kind=REFUND_FAILED,
            cause=str(data.get("refund_id") or entry.id),
            subject=subject,
            title="A refund failed: the customer has not got their money back",
            priority=Priority.HIGH,
            booking_id=booking.id,
            person=("customer", booking.customer_id),
            data=data,
        )
    return None


async def stalled(
    conn: Conn, booking: Booking, phase: str, cause: str, since: datetime, expected: datetime
) -> None:
    """A job that stopped moving: on the way past its ETA, or in service well past its length;
    ``cause`` names the departure or start (``bookings.storage.bookings.stalled_jobs``)."""
    what = "not arrived by the ETA" if phase == "on_the_way" else "in service well past its length"
    await work_items.open_item(
        conn,
        NewItem(
            kind=JOB_STALLED,
            cause=cause,
            subject=str(booking.id),
            title=f"Job stalled: {what}",
            priority=Priority.HIGH,
            booking_id=booking.id,
            person=("worker", booking.worker_id) if booking.worker_id else None,
            data={"phase": phase, "since": _iso(since), "expected_by": _iso(expected)},
        ),
    )


def _late_title(reason: Any) -> str:
    if reason == "eta_after_start":
        return "Worker late: the ETA is after the start"
    return "Worker late: not on the way yet"


def _dates(data: dict[str, Any]) -> dict[str, Any]:
    return {k: data[k] for k in ("depart_by", "eta_at") if k in data}


def _iso(at: datetime | None) -> str | None:
    return iso_or_none(at)
