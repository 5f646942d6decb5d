"""Paying for a booking: one payment per attempt with a provider, and a provider's word (a verified
notify, or an admin marking it paid by hand) applied exactly once.

A payment succeeds once: its row is locked while a notice is applied, so duplicate and concurrent
notifies queue up and find it done. Success records the money in the ledger and moves the booking
to dispatching in the same transaction, with the booking's outbox events.
"""

from __future__ import annotations

import base64
import enum
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pydantic

from bookings import checkout, orders
from bookings.orders import Actor, Booking, Status
from bookings.payments import ledger, package_money
from bookings.payments.providers.base import Notice, NoticeKind, NoticeStatus, Prepared
from bookings.storage import ledger as ledger_store
from bookings.storage import locks
from bookings.storage import packages as package_store
from bookings.storage import payments as payment_store
from hub.errors import Conflict, NotFound
from hub.storage.db import Conn, Executor
from hub.times import Timestamp

CURRENCY = "CNY"
MANUAL = "manual"  # an admin's mark-paid: money received outside the providers


class PaymentView(pydantic.BaseModel):
    id: uuid.UUID
    out_trade_no: str
    booking_id: uuid.UUID | None  # what the payment is for: a booking, or a package order
    package_order_id: uuid.UUID | None = None
    method: str
    channel: str
    amount_cents: int
    currency: str
    status: str  # created, pending, succeeded, failed, closed
    client: dict[str, Any] | None  # what the app needs to pay
    failure: str | None
    expires_at: Timestamp
    paid_at: Timestamp | None
    created_at: Timestamp


def view(row: asyncpg.Record) -> PaymentView:
    return PaymentView.model_validate(dict(row))


def new_trade_no() -> str:
    """27 characters of [A-Z2-7]: within every provider's limits (WeChat's 6-32, [A-Za-z0-9_-])."""
    return "P" + base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=")


async def start(conn: Conn, booking: Booking, customer_id: str, method: str, channel: str) -> asyncpg.Record:
    """A new payment attempt for the customer's unpaid booking, due when the booking is."""
    if booking.customer_id != customer_id:
        raise NotFound("no such booking", code="booking_not_found")
    if booking.status != Status.PENDING_PAYMENT:
        raise Conflict(
            f"a booking that is {booking.status.value} is not waiting for payment",
            code="not_payable",
            details={"status": booking.status.value},
        )
    if booking.payment_due_at <= datetime.now(UTC):
        raise Conflict("the time to pay this booking is over", code="payment_window_closed")
    return await payment_store.insert(
        conn,
        payment_id=uuid.uuid4(),
        out_trade_no=new_trade_no(),
        booking_id=booking.id,
        customer_id=customer_id,
        method=method,
        channel=channel,
        amount_cents=booking.total_cents,
        currency=CURRENCY,
        expires_at=booking.payment_due_at,
    )


async def prepared(db: Executor, payment_id: uuid.UUID, result: Prepared) -> None:
    await payment_store.set_prepared(db, payment_id, result.provider_ref, result.client)


class Outcome(enum.StrEnum):
    APPLIED = "applied"  # the notice changed the payment (and maybe the booking)
    DUPLICATE = "duplicate"  # seen before: acknowledged, nothing changed
    REFUSED = "refused"  # genuine, but not about a payment we can accept: nothing changed
    IGNORED = "ignored"  # genuine, and nothing for the hub to do: acknowledged so it is not resent


class Applied(pydantic.BaseModel):
    outcome: Outcome
    reason: str = ""  # for a refusal: unknown_order, wrong_method, wrong_amount, wrong_currency
    paid: Booking | None = None  # the booking that became paid (dispatch starts)
    unpayable: str | None = None  # money arrived for a booking that can no longer take it
    payment_id: uuid.UUID | None = None
    booking_id: uuid.UUID | None = None


async def apply(conn: Conn, method: str, notice: Notice) -> Applied:
    """Apply a verified payment notice, in the caller's transaction."""
    if notice.kind != NoticeKind.PAYMENT:
        # The hub starts no refunds yet: one made at the provider's console is only recorded.
        return Applied(outcome=Outcome.IGNORED, reason="refund_not_tracked")
    row = await payment_store.lock_by_trade_no(conn, notice.out_trade_no)
    if row is None:
        return Applied(outcome=Outcome.REFUSED, reason="unknown_order")
    if row["method"] != method:
        return Applied(outcome=Outcome.REFUSED, reason="wrong_method")
    if notice.amount_cents != row["amount_cents"]:
        return Applied(outcome=Outcome.REFUSED, reason="wrong_amount")
    if notice.currency.upper() != row["currency"]:
        return Applied(outcome=Outcome.REFUSED, reason="wrong_currency")
    if row["status"] in ("succeeded", "failed", "closed"):
        # Final states stay final: a late "failed" after a success (or the reverse) is history.
        return Applied(outcome=Outcome.DUPLICATE)
    if notice.status == NoticeStatus.SUCCEEDED:
        return await succeed(conn, row, notice.provider_ref, Actor(method, "payment"))
    if notice.status in (NoticeStatus.FAILED, NoticeStatus.CLOSED):
        await payment_store.finish(conn, row["id"], notice.status.value, failure=notice.status.value)
        await _tell_failed(conn, row, notice.status)
        return Applied(outcome=Outcome.APPLIED)
    return Applied(outcome=Outcome.DUPLICATE)  # still pending: nothing to record


async def _tell_failed(conn: Conn, row: asyncpg.Record, status: NoticeStatus) -> None:
    """The customer sees a failed attempt on the booking's timeline, live, and is told."""
    booking = await orders.require(conn, row["booking_id"])
    if booking.status != Status.PENDING_PAYMENT:
        return  # paid another way, or over: nothing to try again
    data = {"payment_id": str(row["id"]), "method": row["method"], "status": status.value}
    await orders.record(conn, booking, "payment_failed", Actor(row["method"], "payment"), data=data)
    await orders.tell(
        conn,
        booking,
        booking.customer_id,
        "customer",
        "Payment did not go through",
        "Nothing was charged. Try again, or choose another way to pay.",
    )


async def succeed(conn: Conn, row: asyncpg.Record, provider_ref: str | None, actor: Actor) -> Applied:
    """The payment ``row`` (locked) is paid: record the money, then pay the booking if it can
    still be paid. One code path for a provider's notify and an admin's mark-paid."""
    await payment_store.finish(conn, row["id"], "succeeded", provider_ref=provider_ref)
    if row["package_order_id"] is not None:  # a package bought: its visits can be used now
        if not await package_money.paid(conn, row):
            await payment_store.finish(conn, row["id"], "succeeded", failure="package_already_paid")
        return Applied(outcome=Outcome.APPLIED, payment_id=row["id"])
    money = ledger.payment(
        row["booking_id"], row["customer_id"], row["method"], row["amount_cents"], row["out_trade_no"]
    )
    await ledger_store.post(conn, **money.row())
    try:
        async with conn.transaction():  # a savepoint: the money stays recorded if the booking refuses
            booking = await checkout.mark_paid(conn, row["booking_id"], row["out_trade_no"], actor)
    except Conflict as exc:
        # Paid after the booking expired or was cancelled, or paid twice: the money is held
        # against the booking (its ledger account), to be given back.
        await payment_store.finish(conn, row["id"], "succeeded", failure=f"booking_not_payable:{exc.code}")
        return Applied(
            outcome=Outcome.APPLIED, unpayable=exc.code, payment_id=row["id"], booking_id=row["booking_id"]
        )
    return Applied(outcome=Outcome.APPLIED, paid=booking)


async def mark_paid_by_hand(conn: Conn, booking: Booking, payment_ref: str, actor: Actor) -> Booking:
    """An admin says the booking was paid outside the providers (``payment_ref`` is theirs):
    recorded as a manual payment, then the same path as a provider's notify. Idempotent per
    ``payment_ref``. A booking with nothing to pay is simply marked paid."""
    if booking.total_cents == 0:
        return await checkout.mark_paid(conn, booking.id, payment_ref, actor)
    # Two admins (or one, twice) with the same reference at once: one records it, the other waits
    # here and then finds it recorded.
    await locks.key(conn, f"payment:{payment_ref}")
    row = await payment_store.lock_by_trade_no(conn, payment_ref)
    if row is not None and row["booking_id"] != booking.id:
        raise Conflict("this payment reference belongs to another booking", code="payment_ref_used")
    if row is None:
        if booking.paid_at is not None:
            raise Conflict("the booking is already paid", code="already_paid")
        row = await payment_store.insert(
            conn,
            payment_id=uuid.uuid4(),
            out_trade_no=payment_ref,
            booking_id=booking.id,
            customer_id=booking.customer_id,
            method=MANUAL,
            channel="admin",
            amount_cents=booking.total_cents,
            currency=CURRENCY,
            expires_at=datetime.now(UTC),
            status="pending",
        )
    if row["status"] != "succeeded":
        applied = await succeed(conn, row, None, actor)
        if applied.unpayable is not None:
            raise Conflict("the booking cannot be paid now", code=applied.unpayable)
    return await checkout.mark_paid(conn, booking.id, payment_ref, actor)  # idempotent: the booking


# Package orders: paid on the same path as bookings -----------------------------------------------


async def start_package(
    conn: Conn, order: asyncpg.Record, customer_id: str, method: str, channel: str
) -> asyncpg.Record:
    """A new payment attempt for the customer's unpaid package order, due when the order is."""
    if order["customer_id"] != customer_id:
        raise NotFound("no such package order", code="package_order_not_found")
    if order["status"] != "pending_payment":
        raise Conflict(
            "the package order is already paid", code="not_payable", details={"status": order["status"]}
        )
    if order["payment_due_at"] <= datetime.now(UTC):
        raise Conflict("the time to pay this package order is over", code="payment_window_closed")
    return await payment_store.insert(
        conn,
        payment_id=uuid.uuid4(),
        out_trade_no=new_trade_no(),
        booking_id=None,
        package_order_id=order["id"],
        customer_id=customer_id,
        method=method,
        channel=channel,
        amount_cents=order["price_cents"],
        currency=CURRENCY,
        expires_at=order["payment_due_at"],
    )


async def mark_package_paid_by_hand(
    conn: Conn, order_id: uuid.UUID, payment_ref: str, actor: Actor
) -> asyncpg.Record:
    """An admin says the package order was paid outside the providers: a manual payment down the
    same path as a provider's notify. Idempotent per ``payment_ref``. The order as it now is."""
    await locks.key(conn, f"payment:{payment_ref}")
    row = await payment_store.lock_by_trade_no(conn, payment_ref)  # the payment, then its order: as a notify
    order = await package_store.lock_order(conn, order_id)
    if order is None:
        raise NotFound("no such package order", code="package_order_not_found")
    if row is not None and row["package_order_id"] != order_id:
        raise Conflict("this payment reference belongs to something else", code="payment_ref_used")
    if row is None:
        if order["status"] != "pending_payment":
            raise Conflict("the package order is already paid", code="already_paid")
        row = await payment_store.insert(
            conn,
            payment_id=uuid.uuid4(),
            out_trade_no=payment_ref,
            booking_id=None,
            package_order_id=order_id,
            customer_id=order["customer_id"],
            method=MANUAL,
            channel="admin",
            amount_cents=order["price_cents"],
            currency=CURRENCY,
            expires_at=datetime.now(UTC),
            status="pending",
        )
    if row["status"] != "succeeded":
        await succeed(conn, row, None, actor)
    paid = await package_store.order(conn, order_id)
    assert paid is not None
    return paid
