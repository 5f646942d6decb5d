"""Chat records as the domain hands them out, with their wire form."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.times import iso, iso_or_none

AGENT_ROLES = frozenset({"support", "admin"})
MAX_BODY_CHARS = 4000


def can_see(user_id: str, role: str, kind: str, customer_id: str, worker_id: str | None) -> bool:
    """Customers see their own conversations, workers their bookings' ones, support all.

    ``customer_id`` is a customer's id and ``worker_id`` a worker's: each matches only the
    caller of that role, since an id is unique within its role only."""
    if role in AGENT_ROLES:
        return True
    if role == "customer":
        return customer_id == user_id
    return role == "worker" and kind == "booking" and worker_id == user_id


@dataclass(frozen=True, slots=True)
class Member:
    user_id: str
    role: str

    @property
    def is_agent(self) -> bool:
        return self.role in AGENT_ROLES


@dataclass(frozen=True, slots=True)
class Message:
    id: uuid.UUID
    conversation_id: uuid.UUID
    seq: int
    sender_id: str | None
    sender_role: str
    client_id: str | None
    kind: str
    body: str
    attachments: list[dict[str, Any]]
    private: bool
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "conversation_id": str(self.conversation_id),
            "seq": self.seq,
            "sender": {"id": self.sender_id, "role": self.sender_role},
            "client_id": self.client_id,
            "kind": self.kind,
            "body": self.body,
            "attachments": self.attachments,
            "private": self.private,
            "created_at": iso(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class Conversation:
    id: uuid.UUID
    kind: str
    customer_id: str
    booking_id: str | None
    worker_id: str | None
    status: str
    assigned_agent_id: str | None
    assigned_agent_role: str | None  # "support" | "admin": an id alone does not say who
    queued_at: datetime | None
    read_only_after: datetime | None
    last_seq: int
    last_message_at: datetime | None
    csat_score: int | None
    created_at: datetime

    def visible_to(self, user_id: str, role: str) -> bool:
        return can_see(user_id, role, self.kind, self.customer_id, self.worker_id)

    def assigned_to(self, user_id: str, role: str) -> bool:
        return (self.assigned_agent_id, self.assigned_agent_role) == (user_id, role)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "kind": self.kind,
            "customer_id": self.customer_id,
            "booking_id": self.booking_id,
            "worker_id": self.worker_id,
            "status": self.status,
            "assigned_agent_id": self.assigned_agent_id,
            "assigned_agent_role": self.assigned_agent_role,
            "queued_at": iso_or_none(self.queued_at),
            "read_only_after": iso_or_none(self.read_only_after),
            "last_seq": self.last_seq,
            "last_message_at": iso_or_none(self.last_message_at),
            "csat_score": self.csat_score,
            "created_at": iso(self.created_at),
        }
