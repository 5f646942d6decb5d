"""What the people of a complaint are told, each in the transaction of the step (inbox, live and
push, through ``orders.tell``): the customer at every step they take part in, the worker it is
about when it is filed, investigated and closed (never the customer's words, nor a message
meant for the customer), and the staff member who owns it when it is given to them or overdue.
Staff notes are told to nobody."""

from __future__ import annotations

import asyncpg

from bookings import orders
from bookings.orders import Booking
from hub.storage.db import Conn

KIND = "complaint"  # the notification kind: a customer may mute it in their push preferences
PREVIEW_CHARS = 300  # of a message, in the notification's body (the whole message is in the complaint)


def _job(booking: Booking) -> str:
    return f"the {booking.service.name_en} job of {booking.slot_start:%Y-%m-%d}"


async def _customer(conn: Conn, booking: Booking, complaint: asyncpg.Record, title: str, body: str) -> None:
    await orders.tell(
        conn,
        booking,
        complaint["customer_id"],
        "customer",
        title,
        body,
        kind=KIND,
        complaint_id=str(complaint["id"]),
        status=complaint["status"],
    )


async def _worker(conn: Conn, booking: Booking, complaint: asyncpg.Record, title: str, body: str) -> None:
    if complaint["worker_id"] is None:
        return
    await orders.tell(
        conn,
        booking,
        complaint["worker_id"],
        "worker",
        title,
        body,
        kind=KIND,
        complaint_id=str(complaint["id"]),
        status=complaint["status"],
    )


async def filed(conn: Conn, booking: Booking, complaint: asyncpg.Record) -> None:
    await _customer(
        conn,
        booking,
        complaint,
        "Complaint received",
        f"We have your complaint about {_job(booking)}; support will answer by "
        f"{complaint['due_at']:%Y-%m-%d %H:%M} UTC.",
    )
    await _worker(
        conn,
        booking,
        complaint,
        "A complaint about a job",
        f"The customer of {_job(booking)} made a complaint ({complaint['category']}). "
        "Support will look into it and may contact you.",
    )


async def investigating(conn: Conn, booking: Booking, complaint: asyncpg.Record) -> None:
    await _customer(
        conn, booking, complaint, "Complaint under investigation", "Support is looking into your complaint."
    )
    await _worker(
        conn,
        booking,
        complaint,
        "Complaint under investigation",
        f"Support is looking into the complaint about {_job(booking)}.",
    )


async def message(conn: Conn, booking: Booking, complaint: asyncpg.Record, body: str) -> None:
    preview = body if len(body) <= PREVIEW_CHARS else body[: PREVIEW_CHARS - 1] + "…"
    await _customer(conn, booking, complaint, "Support replied to your complaint", preview)


async def resolved(
    conn: Conn, booking: Booking, complaint: asyncpg.Record, for_customer: str, for_worker: str
) -> None:
    await _customer(conn, booking, complaint, "Complaint resolved", for_customer)
    await _worker(conn, booking, complaint, "Complaint resolved", for_worker)


async def rejected(conn: Conn, booking: Booking, complaint: asyncpg.Record, reason: str) -> None:
    await _customer(conn, booking, complaint, "Complaint closed", reason)
    await _worker(
        conn,
        booking,
        complaint,
        "Complaint closed",
        f"The complaint about {_job(booking)} was closed without action.",
    )


async def to_owner(
    conn: Conn, booking: Booking, complaint: asyncpg.Record, title: str, body: str, *, urgent: bool = False
) -> None:
    """The staff member who owns the complaint, if anyone does."""
    if complaint["owner_id"] is None:
        return
    await orders.tell(
        conn,
        booking,
        complaint["owner_id"],
        complaint["owner_role"],
        title,
        body,
        kind=KIND,
        urgent=urgent,
        complaint_id=str(complaint["id"]),
        status=complaint["status"],
    )


async def assigned(conn: Conn, booking: Booking, complaint: asyncpg.Record) -> None:
    await to_owner(
        conn,
        booking,
        complaint,
        "Complaint assigned to you",
        f"A {complaint['category']} complaint about {_job(booking)}, "
        f"due {complaint['due_at']:%Y-%m-%d %H:%M} UTC.",
    )


async def overdue(conn: Conn, booking: Booking, complaint: asyncpg.Record) -> None:
    await to_owner(
        conn,
        booking,
        complaint,
        "Complaint overdue",
        f"The {complaint['category']} complaint about {_job(booking)} passed its response deadline.",
        urgent=True,
    )
