"""SQL for service packages: what is sold, what each customer bought, and the visits used."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from hub.storage.db import Conn, Executor

PACKAGE_COLUMNS = """id, service_id, name, visits, visit_minutes, price_cents, validity_days, active,
    created_at, updated_at"""
ORDER_COLUMNS = """id, package_id, customer_id, service_id, name, visits, visits_left, visit_minutes,
    price_cents, validity_days, status, payment_due_at, paid_at, expires_at, created_at, updated_at"""
EDITABLE = ("name", "visits", "visit_minutes", "price_cents", "validity_days", "active")


async def insert_package(conn: Conn, package_id: uuid.UUID, fields: dict[str, Any]) -> asyncpg.Record:
    row = await _insert_package(conn, package_id, fields, "")
    assert row is not None  # INSERT ... RETURNING returns the row it wrote
    return row


async def add_package(conn: Conn, package_id: uuid.UUID, fields: dict[str, Any]) -> None:
    """A package under a fixed id, unless it is there (an admin's changes to it stay)."""
    await _insert_package(conn, package_id, {"active": True, **fields}, "ON CONFLICT (id) DO NOTHING")


async def _insert_package(
    conn: Conn, package_id: uuid.UUID, fields: dict[str, Any], on_conflict: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""INSERT INTO packages (id, service_id, name, visits, visit_minutes, price_cents,
                                  validity_days, active)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) {on_conflict} RETURNING {PACKAGE_COLUMNS}""",
        package_id,
        fields["service_id"],
        fields["name"],
        fields["visits"],
        fields["visit_minutes"],
        fields["price_cents"],
        fields["validity_days"],
        fields["active"],
    )


async def update_package(conn: Conn, package_id: uuid.UUID, changes: dict[str, Any]) -> asyncpg.Record | None:
    names = [name for name in EDITABLE if name in changes]
    sets = ", ".join(f"{name} = ${n}" for n, name in enumerate(names, start=2))
    return await conn.fetchrow(
        f"""UPDATE packages SET {sets + ", " if sets else ""}updated_at = now()
             WHERE id = $1 RETURNING {PACKAGE_COLUMNS}""",
        package_id,
        *(changes[name] for name in names),
    )


async def package(db: Executor, package_id: uuid.UUID) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {PACKAGE_COLUMNS} FROM packages WHERE id = $1", package_id)


async def packages(db: Executor, *, active_only: bool) -> list[asyncpg.Record]:
    return await db.fetch(
        f"""SELECT {PACKAGE_COLUMNS} FROM packages WHERE active OR NOT $1
             ORDER BY service_id, price_cents, id""",
        active_only,
    )


async def insert_order(
    conn: Conn, order_id: uuid.UUID, customer_id: str, package: asyncpg.Record, payment_seconds: float
) -> asyncpg.Record:
    """An unpaid order with the package's terms as they are now."""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"""INSERT INTO package_orders (id, package_id, customer_id, service_id, name, visits, visits_left,
                                        visit_minutes, price_cents, validity_days, status, payment_due_at)
            VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, 'pending_payment',
                    now() + make_interval(secs => $10))
            RETURNING {ORDER_COLUMNS}""",
        order_id,
        package["id"],
        customer_id,
        package["service_id"],
        package["name"],
        package["visits"],
        package["visit_minutes"],
        package["price_cents"],
        package["validity_days"],
        payment_seconds,
    )
    assert row is not None
    return row


async def order(db: Executor, order_id: uuid.UUID) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {ORDER_COLUMNS} FROM package_orders WHERE id = $1", order_id)


async def lock_order(conn: Conn, order_id: uuid.UUID) -> asyncpg.Record | None:
    """The order, locked until the caller's transaction ends: its visits are counted one at a time."""
    return await conn.fetchrow(
        f"SELECT {ORDER_COLUMNS} FROM package_orders WHERE id = $1 FOR UPDATE", order_id
    )


async def orders_of(db: Executor, customer_id: str) -> list[asyncpg.Record]:
    return await db.fetch(
        f"SELECT {ORDER_COLUMNS} FROM package_orders WHERE customer_id = $1 ORDER BY created_at DESC, id",
        customer_id,
    )


async def activate(conn: Conn, order_id: uuid.UUID) -> asyncpg.Record | None:
    """Paid: the order's visits can be used from now for its validity. None if it was paid before."""
    return await conn.fetchrow(
        f"""UPDATE package_orders
               SET status = 'active', paid_at = now(),
                   expires_at = now() + make_interval(days => validity_days), updated_at = now()
             WHERE id = $1 AND status = 'pending_payment' RETURNING {ORDER_COLUMNS}""",
        order_id,
    )


async def use_visit(conn: Conn, order_id: uuid.UUID, booking_id: uuid.UUID, amount_cents: int) -> bool:
    """One visit of an active, unexpired order covers the booking; False if none is left."""
    used = await conn.fetchval(
        """UPDATE package_orders SET visits_left = visits_left - 1, updated_at = now()
            WHERE id = $1 AND status = 'active' AND visits_left > 0 AND expires_at > now()
            RETURNING true""",
        order_id,
    )
    if not used:
        return False
    await conn.execute(
        "INSERT INTO package_visits (booking_id, package_order_id, amount_cents) VALUES ($1, $2, $3)",
        booking_id,
        order_id,
        amount_cents,
    )
    return True


async def remaining_cents(db: Executor, order_id: uuid.UUID) -> int:
    """What of the order's price its visits have not used: the price, less what each visit moved to
    its booking and did not get back."""
    left: int = await db.fetchval(
        """SELECT (o.price_cents - coalesce(sum(v.amount_cents - coalesce(v.returned_cents, 0)), 0))::bigint
             FROM package_orders o LEFT JOIN package_visits v ON v.package_order_id = o.id
            WHERE o.id = $1 GROUP BY o.id""",
        order_id,
    )
    return left


async def visit_of(db: Executor, booking_id: uuid.UUID) -> asyncpg.Record | None:
    return await db.fetchrow(
        """SELECT booking_id, package_order_id, amount_cents, returned_cents, returned_at
             FROM package_visits WHERE booking_id = $1""",
        booking_id,
    )


async def return_visit(conn: Conn, booking_id: uuid.UUID, returned_cents: int) -> bool:
    """The booking's visit is given back to its order with ``returned_cents``, once; False if it
    was given back before."""
    order_id = await conn.fetchval(
        """UPDATE package_visits SET returned_at = now(), returned_cents = $2
            WHERE booking_id = $1 AND returned_at IS NULL RETURNING package_order_id""",
        booking_id,
        returned_cents,
    )
    if order_id is None:
        return False
    await conn.execute(
        "UPDATE package_orders SET visits_left = visits_left + 1, updated_at = now() WHERE id = $1", order_id
    )
    return True
