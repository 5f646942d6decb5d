"""Refunds: part or all of a succeeded payment given back through the provider it came from.

Asking is one transaction: the amount is set aside in the ledger (so two refunds can never give
back more than was paid, whatever their timing) and a refund row is written. The provider is
asked after the commit; its answer (at once, by a notify, or never: the sweep asks again with the
same refund number, which the providers treat as the same refund) settles it exactly once.
"""

from __future__ import annotations

import base64
import secrets
import uuid

import asyncpg
import pydantic

from bookings import orders
from bookings.orders import Actor, Booking
from bookings.payments import money
from bookings.payments.providers.base import Notice, NoticeStatus
from bookings.storage import payments as payment_store
from bookings.storage import refunds as refund_store
from hub.errors import Conflict
from hub.storage.db import Conn
from hub.times import Timestamp

MANUAL = "manual"


class RefundView(pydantic.BaseModel):
    id: uuid.UUID
    out_refund_no: str
    booking_id: uuid.UUID
    payment_id: uuid.UUID
    amount_cents: int
    reason: str
    status: str  # requested, processing, succeeded, failed
    failure: str | None
    created_at: Timestamp
    updated_at: Timestamp


def view(row: asyncpg.Record) -> RefundView:
    return RefundView.model_validate(dict(row))


def new_refund_no() -> str:
    return "R" + base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=")


async def ask(
    conn: Conn,
    booking: Booking,
    amount: int | None,
    reason: str,
    actor: Actor,
    payment_id: uuid.UUID | None = None,
) -> asyncpg.Record:
    """Set ``amount`` (all that is refundable when None) of a succeeded payment of the booking
    aside for a refund, in the caller's transaction."""
    payments = await payment_store.refundable(conn, booking.id)
    if payment_id is not None:
        payments = [p for p in payments if p["id"] == payment_id]
    payment = next((p for p in payments if p["refundable_cents"] > 0), None)
    if payment is None:
        raise Conflict("nothing of this booking is left to refund", code="nothing_to_refund")
    # All that is left: of the payment, and of what the booking still holds (a cancellation fee
    # or the service already earned is not given back).
    left = min(payment["refundable_cents"], await money.held(conn, booking.id))
    wanted = left if amount is None else amount
    if wanted <= 0:
        raise Conflict("nothing of this booking is left to refund", code="nothing_to_refund")
    if wanted > payment["refundable_cents"]:
        raise Conflict(
            "a refund cannot be more than what is left of the payment",
            code="refund_exceeds_paid",
            details={"requested_cents": wanted, "refundable_cents": payment["refundable_cents"]},
        )
    number = new_refund_no()
    await money.request_refund(conn, booking.id, booking.customer_id, wanted, number)
    row = await refund_store.insert(
        conn,
        refund_id=uuid.uuid4(),
        out_refund_no=number,
        booking_id=booking.id,
        payment_id=payment["id"],
        amount_cents=wanted,
        reason=reason,
        requested_by=f"{actor.role}:{actor.id}" if actor.id else actor.role,
    )
    await orders.record(conn, booking, "refund_requested", actor, reason, {"amount_cents": wanted})
    return row


async def settle(
    conn: Conn,
    refund_id: uuid.UUID,
    *,
    succeeded: bool,
    provider_refund_id: str | None = None,
    failure: str | None = None,
) -> bool:
    """The provider's final answer to a refund, once: False if it was settled before."""
    row = await refund_store.lock(conn, refund_id)
    if row is None or row["status"] in ("succeeded", "failed"):
        return False
    payment = await payment_store.get(conn, row["payment_id"])
    assert payment is not None  # a refund row references its payment
    status = "succeeded" if succeeded else "failed"
    await refund_store.set_status(
        conn, refund_id, status, provider_refund_id=provider_refund_id, failure=failure
    )
    await money.settle_refund(
        conn,
        row["booking_id"],
        payment["customer_id"],
        payment["method"],
        row["amount_cents"],
        row["out_refund_no"],
        succeeded=succeeded,
    )
    booking = await orders.require(conn, row["booking_id"])
    amount = f"{row['amount_cents'] / 100:.2f} CNY"
    data = {"amount_cents": row["amount_cents"], "refund_id": str(refund_id)}
    if succeeded:
        await orders.record(conn, booking, "refunded", Actor.system(), row["reason"], data)
        await orders.tell(
            conn,
            booking,
            booking.customer_id,
            "customer",
            "Refund sent",
            f"{amount} is on its way back to you.",
        )
    else:
        await orders.record(conn, booking, "refund_failed", Actor.system(), failure or "", data)
        await orders.tell(
            conn,
            booking,
            booking.customer_id,
            "customer",
            "Refund delayed",
            f"Your refund of {amount} could not be sent; support will contact you.",
        )
    return True


async def processing(conn: Conn, refund_id: uuid.UUID, provider_refund_id: str | None) -> None:
    """The provider accepted the refund; its notify (or a later answer) settles it."""
    await refund_store.set_processing(conn, refund_id, provider_refund_id)


async def apply_notice(conn: Conn, method: str, notice: Notice) -> str:
    """A verified refund notice: ``applied``, ``duplicate``, or ``ignored:<why>`` for a refund the
    hub did not ask for (made in the provider's console)."""
    if notice.out_refund_no is None:
        return "ignored:no_refund_number"
    row = await refund_store.lock_by_no(conn, notice.out_refund_no)
    if row is None:
        return "ignored:refund_not_tracked"
    payment = await payment_store.get(conn, row["payment_id"])
    if payment is None or payment["method"] != method or payment["out_trade_no"] != notice.out_trade_no:
        return "ignored:refund_of_another_payment"
    if notice.status == NoticeStatus.SUCCEEDED:
        done = await settle(conn, row["id"], succeeded=True)
    elif notice.status == NoticeStatus.FAILED:
        done = await settle(conn, row["id"], succeeded=False, failure="refused by the provider")
    else:
        return "duplicate"  # still pending at the provider
    return "applied" if done else "duplicate"
