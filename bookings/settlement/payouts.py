"""Payouts: a worker asks for (part of) what they are owed; finance approves or rejects; an
approved payout is paid (through a transfer provider, or by hand) or fails.

    requested ──approve──▶ approved ──paid──▶ paid
        │                     │
        └──reject──▶ rejected ◀──reject──┘   approved ──fail──▶ failed

The amount is set aside in the ledger when the payout is asked for (``payouts:pending``), so two
requests can never both count on the same balance; it leaves the ledger when paid, and is owed to
the worker again when rejected or failed. Each step is one transaction with its ledger posting,
its row in ``payout_steps`` and a notification to the worker.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Sequence
from typing import Annotated, Literal

import asyncpg
import pydantic
from pydantic import Field, StrictInt, StrictStr

from bookings.payments import money
from bookings.settlement import accounts
from bookings.settlement.accounts import Method, PayoutAccount
from bookings.storage import payouts as store
from hub.acks import Payload
from hub.cursors import NEXT_CURSOR_DESCRIPTION, CursorParam
from hub.errors import Conflict, NotFound
from hub.push.inbox import NewNotification, notify
from hub.storage.db import Conn, Executor
from hub.times import Timestamp

Status = Literal["requested", "approved", "paid", "rejected", "failed"]
NOTIFICATION_KIND = "payout"
# Which step may follow which.
SOURCES: dict[str, tuple[str, ...]] = {
    "approved": ("requested",),
    "rejected": ("requested", "approved"),
    "paid": ("approved",),
    "failed": ("approved",),
}
TOLD = {
    "requested": ("Payout requested", "Your payout of {amount} is waiting for approval."),
    "approved": ("Payout approved", "Your payout of {amount} was approved and is being sent."),
    "rejected": (
        "Payout rejected",
        "Your payout of {amount} was rejected: {reason}. It is back in your balance.",
    ),
    "paid": ("Payout sent", "{amount} was sent to your account."),
    "failed": (
        "Payout failed",
        "Your payout of {amount} could not be sent: {reason}. It is back in your balance.",
    ),
}


class PayoutAsk(Payload):
    amount_cents: Annotated[StrictInt, Field(ge=1, le=100_000_000)]


class Rejection(Payload):
    reason: Annotated[StrictStr, Field(min_length=1, max_length=200)]


class PaidByHand(Payload):
    """The bank's (or provider's) reference of the transfer finance made."""

    transfer_ref: Annotated[StrictStr, Field(min_length=1, max_length=128)]


class PayoutQuery(Payload):
    status: list[Status] = []
    worker_id: Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}$")] | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 50
    cursor: CursorParam | None = None

    @pydantic.model_validator(mode="before")
    @classmethod
    def _listify(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("status"), str):
            return {**data, "status": data["status"].split(",")}
        return data


class PayoutStep(pydantic.BaseModel):
    status: str
    actor: str
    note: str
    at: Timestamp


class PayoutView(pydantic.BaseModel):
    id: uuid.UUID
    out_transfer_no: str
    worker_id: str
    amount_cents: int
    method: Method
    account: PayoutAccount  # masked
    status: Status
    reason: str | None
    statement_id: uuid.UUID | None
    transfer_ref: str | None
    requested_by: str
    decided_by: str | None
    created_at: Timestamp
    updated_at: Timestamp
    steps: list[PayoutStep]


class PayoutList(pydantic.BaseModel):
    items: list[PayoutView]
    next_cursor: str | None = pydantic.Field(description=NEXT_CURSOR_DESCRIPTION)


def new_transfer_no() -> str:
    return "T" + base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=")


async def request(
    conn: Conn, worker_id: str, amount: int, actor: str, statement_id: uuid.UUID | None = None
) -> asyncpg.Record:
    """Set ``amount`` of what the worker is owed aside and ask for it to be paid to their account."""
    settings = await store.settings_of(conn, worker_id)
    if settings is None:
        raise Conflict(
            "set a payout method first (PUT /api/v1/workers/me/payout-settings)",
            code="payout_account_missing",
        )
    number = new_transfer_no()
    await money.reserve_payout(conn, worker_id, amount, number)  # refused beyond the balance
    row = await store.insert(
        conn,
        payout_id=uuid.uuid4(),
        out_transfer_no=number,
        worker_id=worker_id,
        amount_cents=amount,
        method=settings["method"],
        account=accounts.account_of(settings),
        statement_id=statement_id,
        requested_by=actor,
    )
    await _record(conn, row, "requested", actor)
    return row


async def approve(conn: Conn, payout_id: uuid.UUID, actor: str) -> asyncpg.Record:
    row = await _lock_for(conn, payout_id, "approved")
    row = await store.set_status(conn, payout_id, "approved", actor)
    await _record(conn, row, "approved", actor)
    return row


async def reject(conn: Conn, payout_id: uuid.UUID, actor: str, reason: str) -> asyncpg.Record:
    row = await _lock_for(conn, payout_id, "rejected")
    await money.release_payout(conn, row["worker_id"], row["amount_cents"], row["out_transfer_no"])
    row = await store.set_status(conn, payout_id, "rejected", actor, reason=reason)
    await _record(conn, row, "rejected", actor, reason)
    return row


async def paid(
    conn: Conn, payout_id: uuid.UUID, actor: str, transfer_ref: str, cash_method: str
) -> asyncpg.Record:
    """The money reached the worker: it leaves ``cash:<cash_method>``."""
    row = await _lock_for(conn, payout_id, "paid")
    await money.pay_out(conn, row["worker_id"], cash_method, row["amount_cents"], row["out_transfer_no"])
    row = await store.set_status(conn, payout_id, "paid", None, transfer_ref=transfer_ref)
    await _record(conn, row, "paid", actor, transfer_ref)
    return row


async def fail(conn: Conn, payout_id: uuid.UUID, actor: str, reason: str) -> asyncpg.Record:
    row = await _lock_for(conn, payout_id, "failed")
    await money.release_payout(conn, row["worker_id"], row["amount_cents"], row["out_transfer_no"])
    row = await store.set_status(conn, payout_id, "failed", None, reason=reason)
    await _record(conn, row, "failed", actor, reason)
    return row


async def views(db: Executor, rows: Sequence[asyncpg.Record]) -> list[PayoutView]:
    steps: dict[uuid.UUID, list[PayoutStep]] = {row["id"]: [] for row in rows}
    for step in await store.steps_of(db, list(steps)):
        steps[step["payout_id"]].append(PayoutStep.model_validate(dict(step)))
    return [
        PayoutView.model_validate(
            {**dict(row), "account": accounts.masked(dict(row["account"])), "steps": steps[row["id"]]}
        )
        for row in rows
    ]


async def view(db: Executor, payout_id: uuid.UUID) -> PayoutView:
    row = await store.get(db, payout_id)
    if row is None:
        raise NotFound("no such payout", code="payout_not_found")
    return (await views(db, [row]))[0]


async def _lock_for(conn: Conn, payout_id: uuid.UUID, wanted: str) -> asyncpg.Record:
    row = await store.lock(conn, payout_id)
    if row is None:
        raise NotFound("no such payout", code="payout_not_found")
    if row["status"] not in SOURCES[wanted]:
        raise Conflict(
            f"a payout that is {row['status']} cannot become {wanted}",
            code="illegal_transition",
            details={"status": row["status"], "wanted": wanted},
        )
    return row


async def _record(conn: Conn, row: asyncpg.Record, status: str, actor: str, note: str = "") -> None:
    """The step, and the worker told about it, in the step's transaction."""
    await store.add_step(conn, row["id"], status, actor, note)
    title, body = TOLD[status]
    await notify(
        conn,
        NewNotification(
            user_id=row["worker_id"],
            role="worker",
            kind=NOTIFICATION_KIND,
            title=title,
            body=body.format(amount=f"{row['amount_cents'] / 100:.2f} CNY", reason=note),
            data={"payout_id": str(row["id"]), "status": status, "amount_cents": row["amount_cents"]},
        ),
    )
