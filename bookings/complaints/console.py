"""The support console's work items a complaint opens and resolves, in the transaction of the
step: ``complaint`` when it is filed, ``complaint_overdue`` when it passes its deadline, both
resolved when the complaint is closed. The core keeps at most one open item per kind and booking
and one item ever per complaint, so a retried step opens nothing more."""

from __future__ import annotations

from typing import Any

import asyncpg

from bookings.orders import Booking
from hub.console import items as work_items
from hub.console.models import NewItem, Priority
from hub.storage.db import Conn

FILED = "complaint"
OVERDUE = "complaint_overdue"
# Complaints that may need action before the deadline: the console shows them first.
PRESSING = frozenset({"safety", "damage"})


def _data(complaint: asyncpg.Record) -> dict[str, Any]:
    return {
        "complaint_id": str(complaint["id"]),
        "category": complaint["category"],
        "worker_id": complaint["worker_id"],
    }


def _item(kind: str, booking: Booking, complaint: asyncpg.Record, title: str, priority: Priority) -> NewItem:
    return NewItem(
        kind=kind,
        subject=str(booking.id),
        cause=str(complaint["id"]),
        title=title,
        priority=priority,
        booking_id=booking.id,
        person=("customer", complaint["customer_id"]),
        due_at=complaint["due_at"],
        data=_data(complaint),
    )


async def filed(conn: Conn, booking: Booking, complaint: asyncpg.Record) -> None:
    priority = Priority.HIGH if complaint["category"] in PRESSING else Priority.NORMAL
    job = f"{booking.service.name_en} of {booking.slot_start:%Y-%m-%d}"
    title = f"Complaint ({complaint['category']}) about {job}"
    await work_items.open_item(conn, _item(FILED, booking, complaint, title, priority))


async def overdue(conn: Conn, booking: Booking, complaint: asyncpg.Record) -> None:
    title = f"Complaint ({complaint['category']}) past its response deadline"
    await work_items.open_item(conn, _item(OVERDUE, booking, complaint, title, Priority.URGENT))


async def closed(conn: Conn, complaint: asyncpg.Record, by: tuple[str, str], note: str) -> None:
    for kind in (FILED, OVERDUE):
        await work_items.resolve_open(conn, kind, str(complaint["booking_id"]), by, note)
