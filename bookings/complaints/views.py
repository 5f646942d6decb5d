"""Complaint rows as the customer and as staff see them. The customer's view is built from the
steps addressed to them and nothing else, so a staff note cannot reach it by mistake."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg

from bookings.complaints.models import (
    Attachment,
    Complaint,
    ComplaintDetail,
    CustomerComplaint,
    Message,
    Person,
    Step,
)

ATTACHMENT_PATH = "/api/v1/complaints/{complaint_id}/attachments/{upload_id}"


def attachments(row: asyncpg.Record) -> list[Attachment]:
    return [
        Attachment(
            upload_id=item["upload_id"],
            url=ATTACHMENT_PATH.format(complaint_id=row["id"], upload_id=item["upload_id"]),
            content_type=item["content_type"],
            size=item["size"],
            filename=item.get("filename"),
        )
        for item in row["attachments"]
    ]


def _person(role: str | None, person_id: str | None) -> Person | None:
    return None if role is None else Person(role=role, id=person_id)


def for_customer(row: asyncpg.Record, to_customer: Sequence[asyncpg.Record]) -> CustomerComplaint:
    """``to_customer``: the complaint's steps addressed to the customer (its messages)."""
    return CustomerComplaint(
        id=row["id"],
        booking_id=row["booking_id"],
        category=row["category"],
        body=row["body"],
        attachments=attachments(row),
        status=row["status"],
        due_at=row["due_at"],
        messages=[Message(body=step["body"], at=step["at"]) for step in to_customer if step["to_customer"]],
        resolution=row["resolution"],
        outcome=dict(row["outcome"]),
        answer=row["answer"],
        closed_at=row["closed_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def for_customer_list(
    rows: Sequence[asyncpg.Record], steps: Sequence[asyncpg.Record]
) -> list[CustomerComplaint]:
    by_complaint: dict[uuid.UUID, list[asyncpg.Record]] = {}
    for step in steps:
        by_complaint.setdefault(step["complaint_id"], []).append(step)
    return [for_customer(row, by_complaint.get(row["id"], [])) for row in rows]


def for_staff(row: asyncpg.Record) -> Complaint:
    return Complaint(
        id=row["id"],
        booking_id=row["booking_id"],
        customer_id=row["customer_id"],
        worker_id=row["worker_id"],
        category=row["category"],
        body=row["body"],
        attachments=attachments(row),
        status=row["status"],
        owner=_person(row["owner_role"], row["owner_id"]),
        due_at=row["due_at"],
        overdue=row["overdue"],
        escalated_at=row["escalated_at"],
        resolution=row["resolution"],
        outcome=dict(row["outcome"]),
        answer=row["answer"],
        closed_by=_person(row["closed_by_role"], row["closed_by_id"]),
        closed_at=row["closed_at"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def step(row: asyncpg.Record) -> Step:
    return Step(
        id=row["id"],
        action=row["action"],
        actor=Person(role=row["actor_role"], id=row["actor_id"]),
        body=row["body"],
        data=dict(row["data"]),
        to_customer=row["to_customer"],
        at=row["at"],
    )


def detail(row: asyncpg.Record, steps: Sequence[asyncpg.Record]) -> ComplaintDetail:
    return ComplaintDetail(**dict(for_staff(row)), history=[step(s) for s in steps])
