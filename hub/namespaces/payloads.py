"""Client payloads, validated before any handler logic runs (``hub.acks.parse``)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictInt, StrictStr, model_validator

from hub.acks import Payload, Seq
from hub.cursors import CursorParam

ConversationId = uuid.UUID


class ConversationRef(Payload):
    conversation_id: ConversationId


class AttachmentRef(Payload):
    upload_id: uuid.UUID


class ChatSend(Payload):
    conversation_id: ConversationId
    client_id: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    # The 4,000-character limit is checked by the chat service, which names it precisely.
    body: Annotated[StrictStr, Field(max_length=100_000)] = ""
    attachments: Annotated[list[AttachmentRef], Field(max_length=10)] = []
    private: StrictBool = False


class ChatTyping(Payload):
    conversation_id: ConversationId
    typing: StrictBool


class ChatMark(Payload):
    conversation_id: ConversationId
    seq: Seq


class ChatHistory(Payload):
    conversation_id: ConversationId
    cursor: CursorParam | None = None
    limit: Annotated[StrictInt, Field(ge=1, le=100)] = 50


class Sync(Payload):
    notifications_since: Seq | None = None
    conversations: Annotated[dict[ConversationId, Seq], Field(max_length=1000)] | None = None
    # Support agents and admins: the last console stream seq applied.
    console_since: Seq | None = None


class NotificationsList(Payload):
    cursor: CursorParam | None = None
    limit: Annotated[StrictInt, Field(ge=1, le=100)] = 50


class NotificationsRead(Payload):
    seq: Annotated[Seq, Field(ge=1)] | None = None
    all: StrictBool = False

    @model_validator(mode="after")
    def one_of(self) -> NotificationsRead:
        if (self.seq is None) == (not self.all):
            raise ValueError("give either seq or all: true")
        return self


class PresenceSet(Payload):
    status: StrictStr


class AppState(Payload):
    state: Literal["foreground", "background"]


class Csat(Payload):
    conversation_id: ConversationId
    score: Annotated[StrictInt, Field(ge=1, le=5)]
    comment: Annotated[StrictStr, Field(max_length=1000)] | None = None


class Transfer(Payload):
    conversation_id: ConversationId
    agent_id: Annotated[StrictStr, Field(min_length=1, max_length=128)]
    # An id is unique within its role only; without a role, the support agent of that id if
    # online, else the admin.
    agent_role: Literal["support", "admin"] | None = None


class AuthRefresh(Payload):
    # Optional here so that a missing token is answered token_missing, like a handshake without one.
    token: StrictStr | None = Field(default=None, description="A new JWT for the same person and role.")


class HandshakeAuth(Payload):
    """The Socket.IO ``auth`` object a client connects to a namespace with."""

    token: StrictStr = Field(description="The JWT (sub, role, exp; iss and aud when configured).")
    sync: Sync | None = Field(
        default=None,
        description="Missed-message recovery in the handshake itself: answered with a sync event.",
    )


class ItemRef(Payload):
    item_id: uuid.UUID


class ItemAssign(Payload):
    item_id: uuid.UUID
    agent_id: Annotated[StrictStr, Field(min_length=1, max_length=128)]
    agent_role: Literal["support", "admin"] = "support"
    note: Annotated[StrictStr, Field(max_length=2000)] = ""


class ItemNote(Payload):
    item_id: uuid.UUID
    note: Annotated[StrictStr, Field(min_length=1, max_length=2000)]


class ItemsList(Payload):
    state: Literal["unresolved", "open", "acknowledged", "resolved"] = "unresolved"
    kind: Annotated[StrictStr, Field(min_length=1, max_length=64)] | None = None
    booking_id: uuid.UUID | None = None
    cursor: CursorParam | None = None
    limit: Annotated[StrictInt, Field(ge=1, le=500)] = 100
