"""Work items: what support must look at, as stored and as sent."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import pydantic

from hub.protocol import Wire
from hub.times import Timestamp


class Priority(StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


# Most pressing first: how the queue and the snapshot order items.
PRIORITY_RANK = {Priority.URGENT: 0, Priority.HIGH: 1, Priority.NORMAL: 2, Priority.LOW: 3}


class ItemState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class NewItem:
    """An item to open. ``subject`` keeps one open item per kind (usually the booking id);
    ``cause`` keeps one item ever per kind, subject and cause (a retry, a second node, a restart
    and an agent's resolve while the cause persists all open nothing more)."""

    kind: str
    subject: str
    cause: str
    title: str
    priority: Priority = Priority.NORMAL
    booking_id: uuid.UUID | None = None
    person: tuple[str, str] | None = None  # (role, id) the item is about
    due_at: datetime | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


class Person(Wire):
    role: str
    id: str


class WorkItem(Wire):
    id: uuid.UUID
    kind: str = pydantic.Field(
        description="e.g. worker_late, arrival_flagged, dispatch_escalated, job_stalled."
    )
    priority: Priority
    state: ItemState
    title: str
    subject: str = pydantic.Field(description="What the item is about (usually a booking id).")
    booking_id: uuid.UUID | None
    person: Person | None = pydantic.Field(description="The customer or worker concerned.")
    owner: Person | None = pydantic.Field(description="The agent who took it.")
    data: dict[str, Any]
    due_at: Timestamp | None
    opened_at: Timestamp
    updated_at: Timestamp
    resolved_at: Timestamp | None
    resolution: str | None
    version: int = pydantic.Field(description="Grows with every change: keep the highest.")


class HistoryEntry(Wire):
    action: str = pydantic.Field(
        description="opened, acknowledged, assigned, noted, acted, resolved, reopened."
    )
    actor: Person
    note: str
    data: dict[str, Any]
    at: Timestamp
