"""What a resolution gives the customer, in the transaction that resolves the complaint: a refund
(through the payments' refund path, sent to the provider after the commit), a coupon granted into
their wallet, or points. Each refusal leaves the complaint unresolved and changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from bookings import points
from bookings.coupons import wallet
from bookings.orders import Actor, Booking
from bookings.payments import money
from bookings.payments.service import Payments
from bookings.storage import locks
from bookings.storage import payments as payment_store
from hub.errors import Conflict
from hub.storage.db import Conn


async def refund(
    conn: Conn,
    payments: Payments,
    booking: Booking,
    amount: int | None,
    reason: str,
    actor: Actor,
    complaint_id: uuid.UUID,
) -> asyncpg.Record:
    """Ask for ``amount`` (None: all that is left) of what the customer paid back; the refund row,
    to send after the commit.

    Refused with ``nothing_paid`` (no money was paid for the booking: a package visit, or fully
    discounted), ``nothing_to_refund`` (all of it was refunded already) or ``refund_exceeds_paid``
    (more than is left of the payment). A booking that no longer holds the money (the worker
    earned it at completion, or a cancellation fee kept it) has the difference put back by the
    platform first (``money.cover_refund``): the worker keeps their pay."""
    await locks.booking(conn, booking.id)  # what is held and refundable cannot change under us
    paid = await payment_store.refundable(conn, booking.id)
    if not paid:
        raise Conflict("nothing was paid for this booking", code="nothing_paid")
    payment = max(paid, key=lambda p: int(p["refundable_cents"]))
    left = int(payment["refundable_cents"])
    if left <= 0:
        raise Conflict("everything paid for this booking was refunded", code="nothing_to_refund")
    wanted = left if amount is None else amount
    if wanted > left:
        raise Conflict(
            "a refund cannot be more than what is left of the payment",
            code="refund_exceeds_paid",
            details={"requested_cents": wanted, "refundable_cents": left},
        )
    short = wanted - await money.held(conn, booking.id)
    if short > 0:
        await money.cover_refund(conn, booking, short, str(complaint_id))
    return await payments.refund_in(conn, booking.id, wanted, reason, actor, payment["id"])


async def coupon(
    conn: Conn, customer_id: str, coupon_id: uuid.UUID, complaint_id: uuid.UUID, note: str
) -> dict[str, Any]:
    """Grant one of the coupon into the customer's wallet (its limits apply: ``coupon_not_found``,
    ``coupon_inactive``, ``coupon_expired``, ``coupon_exhausted``, ``coupon_limit_reached``). What the
    outcome records."""
    entry_id = await wallet.take(
        conn, customer_id, coupon_id, source="complaint", grant_key=f"complaint:{complaint_id}", note=note
    )
    granted = await wallet.view(conn, entry_id, customer_id)
    return {
        "coupon_entry_id": str(entry_id),
        "coupon_id": str(coupon_id),
        "code": granted.code,
        "name_en": granted.name_en,
        "name_zh": granted.name_zh,
    }


async def credit_points(
    conn: Conn, customer_id: str, amount: int, complaint_id: uuid.UUID, booking_id: uuid.UUID, note: str
) -> dict[str, Any]:
    await points.compensate(conn, customer_id, amount, f"compensation:{complaint_id}", booking_id, note)
    return {"points": amount}
