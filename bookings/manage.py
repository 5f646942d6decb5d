"""What customers and support do to a booking besides paying: cancel, assign, re-dispatch."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from bookings import orders, redeeming
from bookings.coupons import wallet
from bookings.orders import Actor, Booking, Status
from bookings.payments import money
from bookings.storage import bookings as booking_store
from bookings.storage import offers as offer_store
from hub.chat import bookings as booking_chat
from hub.errors import Conflict, NotFound
from hub.storage.db import Conn

STAFF = frozenset({"support", "admin"})


@dataclass(frozen=True, slots=True)
class Changed:
    booking: Booking
    withdrawn: list[tuple[str, uuid.UUID]]  # (worker, offer) told their offer is gone
    released_worker: str | None  # a worker no longer on this job (presence busy to clear)


async def cancel(
    conn: Conn, booking_id: uuid.UUID, actor: Actor, reason: str, read_only_seconds: float
) -> Changed:
    """A customer cancels their own booking (with the fee the notice calls for); support any open one."""
    current = await orders.require(conn, booking_id)
    if actor.role == "customer":
        if current.customer_id != actor.id:
            raise NotFound("no such booking", code="booking_not_found")
        allowed = orders.CUSTOMER_CANCELLABLE
    else:
        allowed = orders.OPEN
    fee = orders.cancellation_fee(current, datetime.now(UTC)) if actor.role == "customer" else 0
    if current.status not in allowed:
        raise Conflict(
            f"a booking that is {current.status.value} cannot be cancelled"
            + ("; contact support" if actor.role == "customer" and current.status in orders.OPEN else ""),
            code="illegal_transition",
            details={"status": current.status.value, "wanted": "cancelled"},
        )
    booking, _ = await orders.transition(
        conn,
        booking_id,
        Status.CANCELLED,
        actor,
        "cancelled",
        note=reason,
        data={"fee_cents": fee, "by": actor.role},
        sets="cancelled_at = now(), cancelled_by = $3, cancel_reason = $4, cancellation_fee_cents = $5",
        params=(actor.id, reason, fee),
        allowed_from=[current.status],
    )
    if fee and current.paid_at is not None:
        await money.keep_cancellation_fee(conn, booking, fee)  # the rest is held, to be refunded
    await wallet.release(conn, booking, current.status, actor)  # before service: the coupon goes back
    await redeeming.give_back(conn, booking)  # its points, and its package visit with what is held
    withdrawn = await offer_store.close_pending(conn, booking_id, "withdrawn")
    await booking_chat.close_booking_conversation(conn, str(booking_id), read_only_seconds)
    if current.worker_id is not None:
        await orders.tell(
            conn,
            current,
            current.worker_id,
            "worker",
            "Booking cancelled",
            f"The {current.service.name_en} booking at "
            f"{current.slot_start:%Y-%m-%d %H:%M} UTC was cancelled.",
            urgent=True,
        )
    if actor.role != "customer":
        await orders.tell(
            conn,
            current,
            current.customer_id,
            "customer",
            "Booking cancelled",
            ("Your booking was cancelled" if actor.role == "system" else "Support cancelled your booking")
            + (f": {reason}" if reason else "."),
        )
    return Changed(booking, withdrawn, current.worker_id)


async def assign(
    conn: Conn, booking_id: uuid.UUID, worker_id: str, actor: Actor, buffer_minutes: int, timezone: str
) -> Changed:
    """Support gives a dispatching booking to a worker directly (after escalation, usually)."""
    current = await orders.require(conn, booking_id)
    await _check_assignable(conn, current, worker_id, buffer_minutes, timezone)
    booking, _ = await orders.transition(
        conn,
        booking_id,
        Status.ACCEPTED,
        actor,
        "assigned",
        data={"worker_id": worker_id},
        sets="worker_id = $3, accepted_at = now(), escalated_at = NULL, late_alerted_at = NULL",
        params=(worker_id,),
        allowed_from=[Status.DISPATCHING],
    )
    withdrawn = await offer_store.close_pending(conn, booking_id, "withdrawn")
    await booking_chat.open_booking_conversation(conn, str(booking_id), booking.customer_id, worker_id)
    await orders.tell(
        conn,
        current,
        worker_id,
        "worker",
        "New job assigned",
        f"{booking.service.name_zh} / {booking.service.name_en} at {booking.address.line}",
        kind="assignment",
        urgent=True,
    )
    return Changed(booking, withdrawn, None)


async def _check_assignable(
    conn: Conn, booking: Booking, worker_id: str, buffer_minutes: int, timezone: str
) -> None:
    """Support may pick anyone the offer loop could have picked, bar the score and area."""
    row = await booking_store.assignability(
        conn,
        worker_id,
        booking.id,
        booking.service.id,
        booking.slot_start,
        booking.slot_end,
        buffer_minutes,
        timezone,
    )
    if row is None:
        raise NotFound("no such worker", code="worker_not_found")
    if not row["skilled"]:
        raise Conflict("this worker does not have the skill for this service", code="worker_lacks_skill")
    if not row["eligible"]:
        raise Conflict(
            "this worker is not vetted, or lacks a valid health or skill certificate for the job's date",
            code="worker_not_eligible",
        )
    if row["busy"]:
        raise Conflict("this worker has another job at that time", code="worker_unavailable")


async def redispatch(conn: Conn, booking_id: uuid.UUID, actor: Actor, reason: str) -> Changed:
    """Take the booking from a worker who is not going to make it and offer it again, in one action."""
    current = await orders.require(conn, booking_id)
    booking, _ = await orders.transition(
        conn,
        booking_id,
        Status.DISPATCHING,
        actor,
        "redispatched",
        note=reason,
        data={"previous_worker_id": current.worker_id},
        sets="worker_id = NULL, dispatch_wave = 0, escalated_at = NULL, late_alerted_at = NULL, "
        "depart_by = NULL, "
        "accepted_at = NULL, departed_at = NULL, eta_at = NULL",
        allowed_from=[Status.ACCEPTED, Status.ON_THE_WAY],
    )
    await offer_store.withdraw_accepted(conn, booking_id)
    await booking_chat.open_booking_conversation(conn, str(booking_id), booking.customer_id, None)
    await orders.request_dispatch(conn, booking_id, after_wave=0)
    if current.worker_id is not None:
        await orders.tell(
            conn,
            current,
            current.worker_id,
            "worker",
            "Job reassigned",
            "Support has given this booking to another worker" + (f": {reason}" if reason else "."),
            urgent=True,
        )
    return Changed(booking, [], current.worker_id)
