"""What staff do with a complaint short of resolving it, each in the caller's transaction: take it,
give it to someone else, start investigating, write a note (staff only), message the customer,
reject it; and the sweep's escalation of a complaint past its deadline. Each is a move of the
status machine (``bookings.complaints.machine``) made by one conditional UPDATE, and a step of
the complaint's history."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from bookings import orders
from bookings.complaints import console, machine, notices
from bookings.complaints.machine import Action, Status
from bookings.orders import Actor, Booking
from bookings.storage import complaints as store
from hub.errors import NotFound
from hub.storage.db import Conn, Executor
from hub.times import iso


async def require(db: Executor, complaint_id: uuid.UUID) -> asyncpg.Record:
    row = await store.get(db, complaint_id)
    if row is None:
        raise NotFound("no such complaint", code="complaint_not_found")
    return row


async def move(
    conn: Conn, complaint_id: uuid.UUID, action: Action, sets: str = "", params: Sequence[Any] = ()
) -> asyncpg.Record:
    """Take ``action`` if the complaint's status allows it (``illegal_transition`` if not, also when
    someone else moved it first); the complaint as it now is. The row stays locked until the
    transaction ends, so whatever else the action writes sees no concurrent change."""
    current = await require(conn, complaint_id)
    to = machine.after(Status(current["status"]), action)
    row = await store.move(conn, complaint_id, machine.froms(action), to.value, sets, params)
    if row is None:
        now = await require(conn, complaint_id)
        raise machine.illegal(now["status"], action)
    return row


async def step(
    conn: Conn,
    row: asyncpg.Record,
    action: str,
    actor: Actor,
    body: str = "",
    data: dict[str, Any] | None = None,
    *,
    to_customer: bool = False,
) -> None:
    await store.add_step(conn, row["id"], action, actor.role, actor.id, body, data, to_customer=to_customer)


async def booking_of(conn: Conn, row: asyncpg.Record) -> Booking:
    return await orders.require(conn, row["booking_id"])


async def take(conn: Conn, complaint_id: uuid.UUID, actor: Actor) -> asyncpg.Record:
    """The caller owns it now."""
    row = await move(
        conn, complaint_id, Action.TAKE, "owner_id = $4, owner_role = $5", (actor.id, actor.role)
    )
    await step(conn, row, "taken", actor)
    return row


async def assign(
    conn: Conn, complaint_id: uuid.UUID, actor: Actor, owner_id: str, owner_role: str
) -> asyncpg.Record:
    """Someone else owns it now, and is told."""
    row = await move(
        conn, complaint_id, Action.ASSIGN, "owner_id = $4, owner_role = $5", (owner_id, owner_role)
    )
    await step(conn, row, "assigned", actor, data={"owner": {"role": owner_role, "id": owner_id}})
    if (owner_role, owner_id) != (actor.role, actor.id):
        await notices.assigned(conn, await booking_of(conn, row), row)
    return row


async def investigate(conn: Conn, complaint_id: uuid.UUID, actor: Actor) -> asyncpg.Record:
    """Open → investigating; whoever starts it owns it if nobody did. The customer and the worker
    are told."""
    row = await move(
        conn,
        complaint_id,
        Action.INVESTIGATE,
        "owner_id = coalesce(owner_id, $4), owner_role = coalesce(owner_role, $5)",
        (actor.id, actor.role),
    )
    await step(conn, row, "investigating", actor)
    await notices.investigating(conn, await booking_of(conn, row), row)
    return row


async def note(conn: Conn, complaint_id: uuid.UUID, actor: Actor, body: str) -> asyncpg.Record:
    """A note for staff: kept in the history, told to nobody."""
    row = await move(conn, complaint_id, Action.NOTE)
    await step(conn, row, "noted", actor, body)
    return row


async def message(conn: Conn, complaint_id: uuid.UUID, actor: Actor, body: str) -> asyncpg.Record:
    """A message to the customer: shown with their complaint, and sent to them."""
    row = await move(conn, complaint_id, Action.MESSAGE)
    await step(conn, row, "messaged", actor, body, to_customer=True)
    await notices.message(conn, await booking_of(conn, row), row, body)
    return row


async def close(
    conn: Conn,
    complaint_id: uuid.UUID,
    action: Action,
    actor: Actor,
    answer: str,
    resolution: str | None = None,
) -> asyncpg.Record:
    """Resolve or reject: the move, its step and the console's items resolved. What the
    resolution does and whom it tells is the caller's."""
    row = await move(
        conn,
        complaint_id,
        action,
        """answer = $4, resolution = $5, closed_by_id = $6, closed_by_role = $7, closed_at = now()""",
        (answer, resolution, actor.id, actor.role),
    )
    await console.closed(conn, row, (actor.role, actor.id or ""), f"complaint {row['status']}")
    return row


async def reject(conn: Conn, complaint_id: uuid.UUID, actor: Actor, reason: str) -> asyncpg.Record:
    row = await close(conn, complaint_id, Action.REJECT, actor, reason)
    await step(conn, row, "rejected", actor, reason)
    booking = await booking_of(conn, row)
    await notices.rejected(conn, booking, row, reason)
    await orders.record(conn, booking, "complaint_rejected", actor, data={"complaint_id": str(row["id"])})
    return row


async def escalate_overdue(conn: Conn) -> list[asyncpg.Record]:
    """Complaints past their deadline and unresolved, each escalated once whatever the number of
    sweeps on however many nodes: an ``complaint_overdue`` console item, and the owner told."""
    rows = await store.escalate_overdue(conn)
    for row in rows:
        await store.add_step(
            conn, row["id"], "escalated", "system", None, data={"due_at": iso(row["due_at"])}
        )
        booking = await booking_of(conn, row)
        await console.overdue(conn, booking, row)
        await notices.overdue(conn, booking, row)
    return rows
