"""Delivers stored notifications: live to the person's sockets, and as an offline push when they
have no foreground socket. Runs as an outbox subscriber, so it is retried until it succeeds and
must be idempotent: a repeated live emit carries the same seq (clients drop what they have), and
``queue_push`` ignores a notification it already queued for a device."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable

import asyncpg

from hub.events import StoredEvent
from hub.protocol import NOTIFICATION, ServerEvent
from hub.push.preferences import channels_for
from hub.push.queue import PushMessage, queue_push

log = logging.getLogger(__name__)

Reachable = Callable[[str, str], Awaitable[bool]]  # (user id, role)
EmitToUser = Callable[[str, str, ServerEvent, object], Awaitable[None]]


class Notifier:
    """Live first; a push when the person has no foreground socket."""

    def __init__(self, pool: asyncpg.Pool, emit_to_user: EmitToUser, reachable: Reachable) -> None:
        self._pool = pool
        self._emit = emit_to_user
        self._reachable = reachable

    async def __call__(self, event: StoredEvent) -> None:
        notification = dict(event.payload)
        user_id, role, kind = notification["user_id"], notification["role"], notification["kind"]
        channels = await channels_for(self._pool, user_id, role, kind)
        if channels.in_app:
            await self._emit(user_id, role, NOTIFICATION, notification)
        if channels.push and not await self._seen_live(user_id, role):
            async with self._pool.acquire() as conn, conn.transaction():
                await queue_push(
                    conn,
                    PushMessage(
                        notification_id=uuid.UUID(notification["id"]),
                        user_id=user_id,
                        role=role,
                        kind=kind,
                        title=notification["title"],
                        body=notification["body"],
                        data={**notification["data"], "seq": notification["seq"]},
                        urgent=notification["urgent"],
                        sound=notification["data"].get("sound"),
                    ),
                )

    async def _seen_live(self, user_id: str, role: str) -> bool:
        """Whether a foreground socket got it. When presence cannot say (Redis restarting), the
        answer is no: a phone buzzing for something already on screen beats a push that waits
        for Redis to come back, or never comes."""
        try:
            return await self._reachable(user_id, role)
        except Exception as exc:
            log.warning(
                "presence unavailable (%r); pushing to %s without knowing whether they see it", exc, user_id
            )
            return False
