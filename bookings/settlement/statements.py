"""Settlement: one statement per worker and period, counting the earnings of the bookings they
completed in it (and any earlier one no statement counted yet), with the commission and the net.

A statement is made once: the worker's settlement is serialised by a lock, and (worker, period)
is unique, so running a period again, by hand or on every node at once, finds the statement made
and does nothing. A statement asks for a payout of its net (at most what the worker may still be
paid: an earlier payout may have taken part of it) when the worker has a payout account; that
payout waits for finance like any other, and its ledger reference is its own transfer number.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

import asyncpg
import pydantic

from bookings.payments import money
from bookings.settlement import payouts
from bookings.settlement.periods import Period
from bookings.storage import payouts as payout_store
from bookings.storage import statements as store
from hub import cursors
from hub.cursors import NEXT_CURSOR_DESCRIPTION
from hub.push.inbox import NewNotification, notify
from hub.storage.db import Conn, Executor
from hub.times import Timestamp

SYSTEM = "system"


class Statement(pydantic.BaseModel):
    id: uuid.UUID
    worker_id: str
    period: str
    starts_on: date
    ends_on: date
    bookings: int
    gross_cents: int
    commission_cents: int
    net_cents: int
    payout_id: uuid.UUID | None
    created_at: Timestamp


class StatementList(pydantic.BaseModel):
    items: list[Statement]
    next_cursor: str | None = pydantic.Field(description=NEXT_CURSOR_DESCRIPTION)


@dataclass(frozen=True, slots=True)
class Settled:
    statement: Statement
    payout_id: uuid.UUID | None


async def settle_worker(conn: Conn, worker_id: str, period: Period, timezone: str) -> Settled | None:
    """The worker's statement for ``period``, in the caller's transaction; None if they have one."""
    await store.lock_worker(conn, worker_id)
    if await store.exists(conn, worker_id, period.key):
        return None
    row = await store.insert(
        conn,
        statement_id=uuid.uuid4(),
        worker_id=worker_id,
        period=period.key,
        starts_on=period.first,
        ends_on=period.last,
        end=period.end(timezone),
    )
    if row is None:
        return None
    payout_id = await _ask_for_payout(conn, row)
    statement = Statement.model_validate({**dict(row), "payout_id": payout_id})
    await _tell(conn, statement)
    return Settled(statement, payout_id)


async def _ask_for_payout(conn: Conn, row: asyncpg.Record) -> uuid.UUID | None:
    if await payout_store.settings_of(conn, row["worker_id"]) is None:
        return None  # told to set an account; they can ask for the payout themselves then
    amount = min(row["net_cents"], await money.owed(conn, row["worker_id"]))
    if amount <= 0:
        return None
    payout = await payouts.request(conn, row["worker_id"], amount, SYSTEM, statement_id=row["id"])
    await store.set_payout(conn, row["id"], payout["id"])
    payout_id: uuid.UUID = payout["id"]
    return payout_id


async def _tell(conn: Conn, statement: Statement) -> None:
    net = f"{statement.net_cents / 100:.2f} CNY"
    jobs = f"{statement.bookings} job{'s' if statement.bookings != 1 else ''}"
    body = f"{statement.period}: {jobs}, net {net}."
    if statement.payout_id is None and statement.net_cents > 0:
        body += " Set a payout account to be paid."
    await notify(
        conn,
        NewNotification(
            user_id=statement.worker_id,
            role="worker",
            kind="settlement",
            title="Statement ready",
            body=body,
            data={
                "statement_id": str(statement.id),
                "period": statement.period,
                "net_cents": statement.net_cents,
                "payout_id": str(statement.payout_id) if statement.payout_id else None,
            },
        ),
    )


async def of_worker(db: Executor, worker_id: str, limit: int, cursor: str | None) -> StatementList:
    offset = cursors.offset(cursor, "statements")
    rows, next_cursor = cursors.offset_page(
        "statements", await store.of_worker(db, worker_id, limit + 1, offset), limit, offset
    )
    return StatementList(items=[Statement.model_validate(dict(row)) for row in rows], next_cursor=next_cursor)
