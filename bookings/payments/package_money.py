"""The movements of money of a service package: bought (held in ``package:<id>``), a visit's share
moved to the booking it pays, and what that booking still holds given back when it is cancelled
before service. Each is written with the change it follows, the order (or the booking) locked
while what it holds is read and moved, so that no package ever gives its visits more than was
paid for it."""

from __future__ import annotations

import uuid

import asyncpg

from bookings.payments import ledger, money
from bookings.storage import ledger as ledger_store
from bookings.storage import locks
from bookings.storage import packages as package_store
from hub.push.inbox import NewNotification, notify
from hub.storage.db import Conn


async def paid(conn: Conn, payment: asyncpg.Record) -> bool:
    """A succeeded ``payment`` (locked) was for a package order: the money is held in the package
    and the order's visits can be used. False if the order was paid before (paid twice: the money
    stays recorded in the package's account, for staff to give back)."""
    order_id: uuid.UUID = payment["package_order_id"]
    posting = ledger.package_payment(
        order_id, payment["customer_id"], payment["method"], payment["amount_cents"], payment["out_trade_no"]
    )
    await ledger_store.post(conn, **posting.row())
    await package_store.lock_order(conn, order_id)
    order = await package_store.activate(conn, order_id)
    if order is None:
        return False
    await notify(
        conn,
        NewNotification(
            user_id=order["customer_id"],
            role="customer",
            kind="package",
            title="Package ready",
            body=f"{order['name']}: {order['visits']} visits to book until {order['expires_at']:%Y-%m-%d}.",
            data={"package_order_id": str(order_id)},
        ),
    )
    return True


def visit_share(remaining_cents: int, visits_left: int) -> int:
    """A visit's share of what is left of the package: an equal part, the last visit taking what
    rounding left over, so the visits together use exactly the price."""
    return remaining_cents if visits_left <= 1 else remaining_cents // visits_left


async def use_visit(
    conn: Conn, order_id: uuid.UUID, booking_id: uuid.UUID, customer_id: str, amount: int
) -> bool:
    """One visit of the (locked) order pays the booking: ``amount`` moves from the package to the
    booking. False if the order has no usable visit left."""
    if not await package_store.use_visit(conn, order_id, booking_id, amount):
        return False
    await ledger_store.post(conn, **ledger.package_visit(order_id, booking_id, customer_id, amount).row())
    return True


async def give_back_visit(conn: Conn, booking_id: uuid.UUID, customer_id: str) -> int | None:
    """The booking was cancelled before service: its visit goes back to the package, with what
    the booking still holds (all of its share, unless a late cancellation's fee kept some).
    None if the booking was not paid by a package, or its visit was given back before."""
    visit = await package_store.visit_of(conn, booking_id)
    if visit is None or visit["returned_at"] is not None:
        return None
    await locks.booking(conn, booking_id)
    held = await money.held(conn, booking_id)
    back: int = max(0, min(held, visit["amount_cents"]))
    if not await package_store.return_visit(conn, booking_id, back):
        return None
    posting = ledger.package_visit_returned(visit["package_order_id"], booking_id, customer_id, back)
    await ledger_store.post(conn, **posting.row())
    return back
