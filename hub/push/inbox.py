"""The in-app inbox: ``notify`` is how any domain code tells a person something.

It writes the notification and an outbox event in the caller's transaction; the notifier
subscriber then shows it live and, for a person who cannot see it, queues an offline push.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hub import cursors
from hub.events import Event
from hub.storage import notifications as store
from hub.storage.db import Conn, Executor
from hub.storage.outbox import publish, publish_many

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


async def notify_many(conn: Conn, notifications: Sequence[NewNotification]) -> list[dict[str, Any]]:
    """``notify`` for several notifications at once (a dispatch wave's offers), in two statements
    whatever their number; each person's seqs follow the order given."""
    stored = await store.insert_many(
        conn,
        [
            {
                "user_id": n.user_id,
                "role": n.role,
                "kind": n.kind,
                "title": n.title,
                "body": n.body,
                "data": n.data,
                "urgent": n.is_urgent,
            }
            for n in notifications
        ],
    )
    await publish_many(conn, [Event(NOTIFICATION_CREATED, row) for row in stored])
    return stored


async def listing(db: Executor, user_id: str, role: str, cursor: str | None, limit: int) -> dict[str, Any]:
    """A page of the person's inbox, newest first, with its ``next_cursor`` and the unread count:
    ``GET /api/v1/notifications`` and ``notifications:list`` answer the same."""
    after = cursors.read(cursor, "notifications", int)
    rows = await store.page(db, user_id, role, None if after is None else after[0], limit + 1)
    items, next_cursor = cursors.page("notifications", rows, limit, lambda item: (item["seq"],))
    return {"items": items, "next_cursor": next_cursor, "unread": await store.unread_count(db, user_id, role)}
