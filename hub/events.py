"""Events: what the domain says happened, delivered through the outbox to subscribers."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    """A fact in the past tense (``booking.accepted``), with a JSON-serialisable payload.

    ``id`` is chosen by the publisher so a subscriber can recognise a redelivery.
    """

    topic: str
    payload: Mapping[str, Any]
    id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as read back from the outbox, with its delivery bookkeeping."""

    seq: int
    id: uuid.UUID
    topic: str
    payload: Mapping[str, Any]
    created_at: datetime
    attempts: int
