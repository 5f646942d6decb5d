"""A customer files a complaint about their own booking: one that got a worker (from acceptance to
completion, or cancelled after acceptance), within the window after the job ended, with at most
one unresolved complaint per booking. Everything is checked before anything is written; the
complaint, its first step, the console item, the notifications and the booking's timeline entry
are written in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bookings import orders
from bookings.complaints import console, notices
from bookings.complaints.models import NewComplaint
from bookings.config import ComplaintsConfig
from bookings.orders import Actor, Booking, Status
from bookings.storage import complaints as store
from hub.errors import Conflict, InvalidPayload, NotFound
from hub.storage import uploads as upload_store
from hub.storage.db import Conn
from hub.times import iso

# Bookings a worker took: the only ones a complaint can be about.
WITH_WORKER = frozenset({*orders.WITH_WORKER, Status.COMPLETED, Status.CANCELLED})
# What may be attached: pictures, a video, a document.
ATTACHMENT_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/gif", "image/webp", "video/mp4", "application/pdf"}
)


def check_complainable(booking: Booking, now: datetime, window_days: int) -> None:
    """``not_complainable`` before a worker took the booking; ``complaint_window_closed`` once the
    window after the job's end has passed."""
    if booking.status not in WITH_WORKER or booking.worker_id is None or booking.accepted_at is None:
        raise Conflict(
            "a complaint is about a job a worker took; this booking has none",
            code="not_complainable",
            details={"status": booking.status.value},
        )
    ended = booking.finished_at if booking.status == Status.COMPLETED else booking.cancelled_at
    if ended is not None and now > ended + timedelta(days=window_days):
        raise Conflict(
            f"complaints are accepted until {window_days} days after the job",
            code="complaint_window_closed",
            details={"ended_at": iso(ended), "window_days": window_days},
        )


async def claim_attachments(
    conn: Conn, customer_id: str, upload_ids: Sequence[uuid.UUID]
) -> list[dict[str, Any]]:
    """Descriptions of the uploads, which must be the customer's own and of an accepted type
    (``invalid_attachment`` names those that are not)."""
    if not upload_ids:
        return []
    found = await upload_store.describe(conn, list(upload_ids), customer_id, "customer")
    missing = [str(u) for u in upload_ids if u not in found]
    if missing:
        raise InvalidPayload(
            "attach uploads of your own", code="invalid_attachment", details={"upload_ids": missing}
        )
    wrong = [str(u) for u in upload_ids if found[u]["content_type"] not in ATTACHMENT_TYPES]
    if wrong:
        raise InvalidPayload(
            f"attach pictures, video/mp4 or PDF ({', '.join(sorted(ATTACHMENT_TYPES))})",
            code="attachment_type_not_allowed",
            details={"upload_ids": wrong},
        )
    return [
        {key: found[u][key] for key in ("upload_id", "content_type", "size", "filename")} for u in upload_ids
    ]


def _already_open(complaint_id: uuid.UUID | None) -> Conflict:
    return Conflict(
        "this booking has a complaint that is not resolved yet",
        code="complaint_open",
        details={"complaint_id": str(complaint_id) if complaint_id else None},
    )


async def file(
    conn: Conn, customer_id: str, booking_id: uuid.UUID, new: NewComplaint, config: ComplaintsConfig
) -> asyncpg.Record:
    """The new complaint, in the caller's transaction."""
    booking = await orders.get(conn, booking_id)
    if booking is None or booking.customer_id != customer_id:
        raise NotFound("no such booking", code="booking_not_found")
    check_complainable(booking, datetime.now(UTC), config.window_days)
    attachments = await claim_attachments(conn, customer_id, new.attachments)
    existing = await store.unresolved_of(conn, booking.id)
    if existing is not None:
        raise _already_open(existing["id"])
    row = await store.insert(
        conn,
        uuid.uuid4(),
        booking_id=booking.id,
        customer_id=customer_id,
        worker_id=booking.worker_id,
        category=new.category,
        body=new.body,
        attachments=attachments,
        due_in_seconds=config.response_hours * 3600,
    )
    if row is None:  # another filing for the booking committed meanwhile
        raise _already_open(None)
    await store.add_step(conn, row["id"], "filed", "customer", customer_id, data={"category": new.category})
    await console.filed(conn, booking, row)
    await notices.filed(conn, booking, row)
    await orders.record(
        conn,
        booking,
        "complaint_filed",
        Actor(customer_id, "customer"),
        data={"complaint_id": str(row["id"]), "category": new.category},
    )
    return row
