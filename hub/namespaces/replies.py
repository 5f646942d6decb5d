"""The data of the acks the core's events are answered with (``{"ok": true, "data": ...}``).

They document the JSON the handlers build, key for key (``hub.protocol`` says why the handlers
still return plain dicts); models shared with server events live in ``hub.protocol``.
"""

from __future__ import annotations

import pydantic

from hub.protocol import ChatMessage, Conversation, Receipt, Uuid, Wire
from hub.times import Timestamp


class ServerTime(Wire):
    server_time: Timestamp


class TokenExpiry(Wire):
    expires_at: int = pydantic.Field(description="When the new token expires (Unix seconds).")


class ChatSent(Wire):
    id: Uuid
    seq: int
    created_at: Timestamp
    conversation_id: Uuid
    client_id: str
    duplicate: bool = pydantic.Field(description="A retry of a message already stored: not sent again.")


class ReceiptOrNull(pydantic.RootModel[Receipt | None]):
    """The caller's marks after the change, or null for an agent who is not a member."""


class History(Wire):
    items: list[ChatMessage] = pydantic.Field(description="Oldest first: the newest page comes first.")
    next_cursor: str | None = pydantic.Field(
        description="The `cursor` of the page of older messages; null: this page starts the conversation."
    )


class SupportOpened(Wire):
    conversation: Conversation
    created: bool
    position: int | None = pydantic.Field(description="Place in the queue (1 = next); null once assigned.")


class Availability(Wire):
    available: bool
    online_agents: int


class QueuedConversation(Conversation):
    position: int


class Queue(Wire):
    items: list[QueuedConversation] = pydantic.Field(description="Longest waiting first.")
    next_cursor: None = pydantic.Field(description="Always null: the list has one page.")
