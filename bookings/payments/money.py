"""The movements of money that follow a booking's life, each written with the change it follows:
completion (the worker's pay owed, the commission kept, the discount paid by promotions), a late
cancellation's fee, a refund, a payout. Each is guarded so the ledger's invariants hold under
concurrency: the booking (or the worker) is locked while what it holds is read and moved. A refund
is two steps: asked for (the amount set aside at once) and settled when the provider answers."""

from __future__ import annotations

import uuid

from bookings.orders import Booking
from bookings.payments import ledger
from bookings.storage import ledger as ledger_store
from hub.errors import Conflict
from hub.storage.db import Conn, Executor


async def held(db: Executor, booking_id: uuid.UUID) -> int:
    """What the customer paid for the booking that is neither earned nor given back yet."""
    return -await ledger_store.balance(db, ledger.booking_account(booking_id))


async def owed(db: Executor, worker_id: str) -> int:
    """What the platform owes the worker (earned, not paid out)."""
    return -await ledger_store.balance(db, ledger.worker_account(worker_id))


async def complete(conn: Conn, booking: Booking) -> None:
    """The booking was delivered: what is held for it is earned. Once per booking."""
    if booking.worker_id is None:
        return
    await _lock_booking(conn, booking.id)
    paid = await held(conn, booking.id)
    discount = int(booking.price.get("discounts_cents", 0))
    posting = ledger.completion(
        booking.id, booking.customer_id, booking.worker_id, paid, discount, booking.worker_pay_cents
    )
    await ledger_store.post(conn, **posting.row())


async def keep_cancellation_fee(conn: Conn, booking: Booking, fee: int) -> int:
    """A paid booking was cancelled late: the fee (at most what was paid) is earned; the rest stays
    held, to be refunded. Returns what stays held."""
    await _lock_booking(conn, booking.id)
    paid = await held(conn, booking.id)
    kept = min(fee, paid)
    if kept > 0:
        posting = ledger.cancellation_fee(booking.id, booking.customer_id, kept)
        await ledger_store.post(conn, **posting.row())
    return paid - kept


async def request_refund(
    conn: Conn, booking_id: uuid.UUID, customer_id: str, amount: int, reference: str
) -> None:
    """Set ``amount`` of what is held for the booking aside for a refund; never more than is held
    (refunds already asked for count as given)."""
    await _lock_booking(conn, booking_id)
    available = await held(conn, booking_id)
    if not 0 < amount <= available:
        raise Conflict(
            "a refund cannot be more than what was paid and not yet refunded or earned",
            code="refund_exceeds_paid",
            details={"requested_cents": amount, "refundable_cents": available},
        )
    await ledger_store.post(conn, **ledger.refund_requested(booking_id, customer_id, amount, reference).row())


async def settle_refund(
    conn: Conn,
    booking_id: uuid.UUID,
    customer_id: str,
    method: str,
    amount: int,
    reference: str,
    *,
    succeeded: bool,
) -> bool:
    """The provider's answer to a refund: the money left (or is held again). False if that answer
    was recorded before."""
    if succeeded:
        posting = ledger.refund(booking_id, customer_id, method, amount, reference)
    else:
        posting = ledger.refund_failed(booking_id, customer_id, amount, reference)
    return await ledger_store.post(conn, **posting.row())


async def pay_out(conn: Conn, worker_id: str, method: str, amount: int, reference: str) -> None:
    """Pay the worker ``amount`` of what they are owed; never more than that."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"payout:{worker_id}")
    available = await owed(conn, worker_id)
    if not 0 < amount <= available:
        raise Conflict(
            "a payout cannot be more than what the worker is owed",
            code="payout_exceeds_balance",
            details={"requested_cents": amount, "available_cents": available},
        )
    await ledger_store.post(conn, **ledger.payout(worker_id, method, amount, reference).row())


async def _lock_booking(conn: Conn, booking_id: uuid.UUID) -> None:
    await conn.execute("SELECT 1 FROM bookings WHERE id = $1 FOR UPDATE", booking_id)
