"""The movements of money that follow a booking's life, each written with the change it follows:
completion (the worker's pay owed at the commission rate fixed then, the commission kept, the
discount paid by promotions), a late
cancellation's fee, a refund, a payout. Each is guarded so the ledger's invariants hold under
concurrency: the booking (or the worker) is locked while what it holds is read and moved. A refund
is two steps: asked for (the amount set aside at once) and settled when the provider answers; so is
a payout (set aside when requested, then paid or released)."""

from __future__ import annotations

import uuid

from bookings.orders import Booking
from bookings.payments import commission, ledger
from bookings.storage import earnings as earnings_store
from bookings.storage import ledger as ledger_store
from bookings.storage import locks
from hub.errors import Conflict
from hub.storage.db import Conn, Executor


async def held(db: Executor, booking_id: uuid.UUID) -> int:
    """What the customer paid for the booking that is neither earned nor given back yet."""
    return -await ledger_store.balance(db, ledger.booking_account(booking_id))


async def owed(db: Executor, worker_id: str) -> int:
    """What the platform owes the worker and may still pay out: earned, not paid out, and not set
    aside for a payout in flight."""
    return -await ledger_store.balance(db, ledger.worker_account(worker_id))


async def complete(conn: Conn, booking: Booking, commission_pct: int) -> int:
    """The booking was delivered: what is held for it is earned, the worker's pay at the
    commission rate in force now, fixed on the booking with that rate. Once per booking; returns
    the worker's pay."""
    if booking.worker_id is None:
        return 0
    await _lock_booking(conn, booking.id)
    paid = await held(conn, booking.id)
    discount = int(booking.price.get("discounts_cents", 0))
    gross = commission.gross_cents(booking.price, booking.total_cents)
    pay = commission.worker_pay(gross, commission_pct)
    await earnings_store.fix(conn, booking.id, commission_pct, gross, pay)
    posting = ledger.completion(booking.id, booking.customer_id, booking.worker_id, paid, discount, pay)
    await ledger_store.post(conn, **posting.row())
    return pay


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


async def cover_refund(conn: Conn, booking: Booking, amount: int, reference: str) -> bool:
    """Before a complaint's refund of more than the booking holds: the platform puts the difference
    back into the booking's account (``platform:complaints``), so that the refund leaves the
    usual way and the worker keeps what they earned. Once per ``reference``."""
    await _lock_booking(conn, booking.id)
    return await ledger_store.post(
        conn, **ledger.complaint_cover(booking.id, booking.customer_id, amount, reference).row()
    )


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


async def reserve_payout(conn: Conn, worker_id: str, amount: int, reference: str) -> None:
    """Set ``amount`` of what the worker is owed aside for a payout; never more than is owed
    (payouts already set aside count as paid). Two requests racing for one balance: the second
    waits for the first's lock and is refused if the rest does not cover it."""
    await _lock_worker(conn, worker_id)
    await _reserve(conn, worker_id, amount, reference)


async def pay_out(conn: Conn, worker_id: str, method: str, amount: int, reference: str) -> bool:
    """Pay the worker ``amount`` of what they are owed (from ``cash:<method>``); never more than
    that. The payout was set aside when it was asked for (``reserve_payout``); if it was not, it
    is set aside now, under the same guard. False if it was paid before."""
    await _lock_worker(conn, worker_id)
    if await ledger_store.recorded(conn, ledger.payout_released(worker_id, amount, reference).reference):
        raise Conflict("this payout was released; it cannot be paid", code="payout_released")
    if not await ledger_store.recorded(conn, ledger.payout_requested(worker_id, amount, reference).reference):
        await _reserve(conn, worker_id, amount, reference)
    return await ledger_store.post(conn, **ledger.payout(worker_id, method, amount, reference).row())


async def release_payout(conn: Conn, worker_id: str, amount: int, reference: str) -> bool:
    """A payout that will not be paid (rejected, or its transfer failed): what was set aside is
    owed to the worker again. False if there was nothing to release (never set aside, paid, or
    released before)."""
    await _lock_worker(conn, worker_id)
    if not await ledger_store.recorded(conn, ledger.payout_requested(worker_id, amount, reference).reference):
        return False
    if await ledger_store.recorded(conn, ledger.payout(worker_id, "", amount, reference).reference):
        raise Conflict("this payout was paid; it cannot be released", code="payout_paid")
    return await ledger_store.post(conn, **ledger.payout_released(worker_id, amount, reference).row())


async def _reserve(conn: Conn, worker_id: str, amount: int, reference: str) -> None:
    available = await owed(conn, worker_id)
    if not 0 < amount <= available:
        raise Conflict(
            "a payout cannot be more than what the worker is owed",
            code="payout_exceeds_balance",
            details={"requested_cents": amount, "available_cents": available},
        )
    await ledger_store.post(conn, **ledger.payout_requested(worker_id, amount, reference).row())


async def _lock_worker(conn: Conn, worker_id: str) -> None:
    """Every movement of a worker's money holds this until its transaction ends."""
    await locks.key(conn, f"payout:{worker_id}")


async def _lock_booking(conn: Conn, booking_id: uuid.UUID) -> None:
    await locks.booking(conn, booking_id)
