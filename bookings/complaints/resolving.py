"""Resolving a complaint, in ONE transaction with its move to ``resolved``: the remedy (a refund, a
redo, a compensation, or none), the outcome and the answer kept on the complaint, the history's
step, the console's items resolved, and the customer and the worker told. What must happen after
the commit (sending the refund to the provider, dispatching the redo) is returned to the caller."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from bookings import orders
from bookings.complaints import handling, notices, redo, remedies
from bookings.complaints.machine import Action
from bookings.complaints.models import Resolve
from bookings.config import BookingConfig
from bookings.orders import Actor, Booking
from bookings.payments.service import Payments
from bookings.storage import complaints as store
from hub.storage.db import Conn
from hub.times import iso

# What the worker concerned is told of each outcome: never amounts, and their pay stays theirs.
FOR_WORKER = {
    "refund": "the customer was refunded by the platform; your pay for the job is unchanged",
    "redo": "the platform booked the job again for free",
    "compensation": "the platform compensated the customer; your pay for the job is unchanged",
    "none": "no action was taken",
}


@dataclass(frozen=True, slots=True)
class Resolved:
    complaint: asyncpg.Record
    refund_id: uuid.UUID | None = None  # to send to the provider after the commit
    redo: Booking | None = None  # to dispatch after the commit


def _yuan(cents: int) -> str:
    return f"{cents / 100:.2f} CNY"


async def resolve(
    conn: Conn,
    complaint_id: uuid.UUID,
    actor: Actor,
    wanted: Resolve,
    payments: Payments,
    config: BookingConfig,
) -> Resolved:
    row = await handling.close(conn, complaint_id, Action.RESOLVE, actor, wanted.note, wanted.resolution)
    booking = await handling.booking_of(conn, row)
    outcome: dict[str, Any] = {}
    refund_id: uuid.UUID | None = None
    made: Booking | None = None
    told = wanted.note
    if wanted.resolution == "refund":
        refund = await remedies.refund(
            conn, payments, booking, wanted.amount_cents, f"complaint: {wanted.note}"[:200], actor, row["id"]
        )
        refund_id = refund["id"]
        outcome = {"refund_id": str(refund_id), "amount_cents": int(refund["amount_cents"])}
        told = f"A refund of {_yuan(int(refund['amount_cents']))} is on its way. {wanted.note}"
    elif wanted.resolution == "redo":
        assert wanted.date is not None  # Resolve checks a redo has both
        assert wanted.start_time is not None
        made = await redo.book(conn, booking, wanted.date, wanted.start_time, config, row["id"], actor)
        outcome = {"redo_booking_id": str(made.id), "slot_start": iso(made.slot_start)}
        told = f"We booked the job again for free, on {made.slot_start:%Y-%m-%d %H:%M} UTC. {wanted.note}"
    elif wanted.resolution == "compensation" and wanted.coupon_id is not None:
        outcome = await remedies.coupon(conn, row["customer_id"], wanted.coupon_id, row["id"], wanted.note)
        told = f"A coupon ({outcome['code']}) is in your wallet. {wanted.note}"
    elif wanted.resolution == "compensation" and wanted.points is not None:
        outcome = await remedies.credit_points(
            conn, row["customer_id"], wanted.points, row["id"], booking.id, wanted.note
        )
        told = f"{wanted.points} points were added to your balance. {wanted.note}"
    row = await store.set_outcome(conn, row["id"], outcome)
    await handling.step(
        conn, row, "resolved", actor, wanted.note, {"resolution": wanted.resolution, **outcome}
    )
    await notices.resolved(
        conn,
        booking,
        row,
        told,
        f"The complaint about the {booking.service.name_en} job was resolved: "
        f"{FOR_WORKER[wanted.resolution]}.",
    )
    await orders.record(
        conn,
        await orders.require(conn, booking.id),
        "complaint_resolved",
        actor,
        data={"complaint_id": str(row["id"]), "resolution": wanted.resolution},
    )
    return Resolved(row, refund_id, made)
