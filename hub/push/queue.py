"""``queue_push``: turn one notification into push deliveries, inside the caller's transaction."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hub.push.preferences import channels_for, in_quiet_hours, quiet_hours_for
from hub.storage import push as store
from hub.storage.db import Conn

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PushMessage:
    """What a push shows. ``data`` reaches the app (FCM turns non-string values into JSON text).

    ``urgent`` (job offers, safety alerts) ignores quiet hours and is sent at high priority.
    """

    notification_id: uuid.UUID
    user_id: str
    role: str  # with ``user_id``, who it is for: ids are unique within a role only
    kind: str
    title: str
    body: str
    data: Mapping[str, Any] = field(default_factory=dict)
    urgent: bool = False
    sound: str | None = None
    collapse_key: str | None = None


async def queue_push(conn: Conn, message: PushMessage, *, now: datetime | None = None) -> int:
    """Queue ``message`` for every device of its user (id and role); return how many deliveries
    were queued.

    Run it in the transaction that records the notification: the deliveries exist if, and only
    if, that commits, and the commit wakes the senders. Nothing is queued when the user turned
    push off for the kind, or during their quiet hours unless the message is urgent. Calling it
    again for the same ``notification_id`` (a redelivered outbox event) queues nothing new.
    """
    channels = await channels_for(conn, message.user_id, message.role, message.kind)
    if not channels.push:
        return 0
    if not message.urgent:
        quiet = await quiet_hours_for(conn, message.user_id, message.role)
        if in_quiet_hours(quiet, now or datetime.now(UTC)):
            log.debug("push %s for %s held back by quiet hours", message.notification_id, message.user_id)
            return 0
    return await store.enqueue(
        conn,
        notification_id=message.notification_id,
        user_id=message.user_id,
        role=message.role,
        kind=message.kind,
        title=message.title,
        body=message.body,
        data=dict(message.data),
        urgent=message.urgent,
        sound=message.sound,
        collapse_key=message.collapse_key,
    )
