"""Missed-message recovery at any distance: what a client has not seen, from storage, in order.

python-socketio has no connection state recovery, and a phone may be away five seconds or five
days; so the client says what it last saw per stream and the hub replays the rest from
PostgreSQL. Pages are bounded; ``more`` tells the client to ask again from where it got to.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from hub.auth import Principal
from hub.chat.models import AGENT_ROLES, can_see
from hub.console.feed import ConsoleFeed
from hub.errors import Forbidden
from hub.storage import chat as chat_store
from hub.storage import notifications as inbox_store

PAGE = 200  # items per stream per call


async def missed(
    pool: asyncpg.Pool,
    user: Principal,
    notifications_since: int | None,
    conversations: dict[uuid.UUID, int] | None,
    console_since: int | None = None,
    console: ConsoleFeed | None = None,
) -> dict[str, Any]:
    if console_since is not None and user.role not in AGENT_ROLES:
        raise Forbidden("the console stream is for support agents and admins", code="console_staff_only")
    result: dict[str, Any] = {}
    if notifications_since is not None:
        items = await inbox_store.after(pool, user.user_id, user.role, notifications_since, PAGE + 1)
        result["notifications"] = {"items": items[:PAGE], "more": len(items) > PAGE}
        result["notifications_unread"] = await inbox_store.unread_count(pool, user.user_id, user.role)
    if conversations is not None:
        result["conversations"] = await _conversations(pool, user, conversations)
    if console_since is not None and console is not None:
        result["console"] = await console.replay(console_since)
    return result


async def _conversations(
    pool: asyncpg.Pool, user: Principal, known: dict[uuid.UUID, int]
) -> dict[str, dict[str, Any]]:
    # Conversations the client did not mention (new while it was away, or forgotten) replay
    # from the user's own read mark, i.e. what is still unread.
    marks = await chat_store.member_marks(pool, user.user_id, user.role)
    wanted = {**marks, **known}
    agent = user.role in AGENT_ROLES
    out: dict[str, dict[str, Any]] = {}
    found = {r["id"]: r for r in await chat_store.heads(pool, list(wanted))}
    for conversation_id, after_seq in wanted.items():
        row = found.get(conversation_id)
        if row is None or not can_see(
            user.user_id, user.role, row["kind"], row["customer_id"], row["worker_id"]
        ):
            out[str(conversation_id)] = {"error": "conversation_not_found", "messages": [], "more": False}
            continue
        if row["last_seq"] <= after_seq:
            continue  # nothing new: no query
        messages = await chat_store.messages_after(pool, conversation_id, after_seq, PAGE + 1, agent)
        out[str(conversation_id)] = {
            "messages": [m.to_dict() for m in messages[:PAGE]],
            "more": len(messages) > PAGE,
            "last_seq": row["last_seq"],
        }
    return out
