"""The in-app inbox: ``notify`` is how any domain code tells a person something.

It writes the notification and an outbox event in the caller's transaction; the notifier
subscriber then shows it live and, for a person who cannot see it, queues an offline push.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hub.events import Event
from hub.storage import notifications as store
from hub.storage.db import Conn
from hub.storage.outbox import publish

NOTIFICATION_CREATED = "notification.created"
URGENT_KINDS = frozenset({"offer", "safety"})  # job offers and safety alerts pierce quiet hours


@dataclass(frozen=True, slots=True)
class NewNotification:
    user_id: str
    role: str
    kind: str
    title: str
    body: str
    data: dict[str, Any] = field(default_factory=dict)
    urgent: bool | None = None  # None: urgent when the kind is

    @property
    def is_urgent(self) -> bool:
        return self.kind in URGENT_KINDS if self.urgent is None else self.urgent


async def notify(conn: Conn, notification: NewNotification) -> dict[str, Any]:
    """Persist ``notification`` with the user's next seq; delivered once the transaction commits."""
    stored = await store.insert(
        conn,
        user_id=notification.user_id,
        role=notification.role,
        kind=notification.kind,
        title=notification.title,
        body=notification.body,
        data=notification.data,
        urgent=notification.is_urgent,
    )
    await publish(conn, Event(NOTIFICATION_CREATED, stored))
    return stored
