"""The Socket.IO protocol, declared once, and the wire form of what the core sends.

A client→server event is a ``ClientEvent``, declared where its handler is (``@event`` in
``hub.namespaces.base``, or ``AuthenticatedNamespace.add_event`` for an extension's): the model
its payload is validated with before the handler runs, and the model of the ack's data. Every
server→client event is a ``ServerEvent`` constant: its name, the namespaces it reaches and the
model of its payload; emit sites pass the constant (``Realtime`` accepts nothing else), never a
string. ``/api/v1/asyncapi.json`` (``hub.web.asyncapi``) is generated from the namespaces' handler
tables and the registered server events, so the document cannot drift from the code.

The models here describe the JSON exactly as it is sent; the hub still builds plain dicts (so
no key appears or disappears), and ``tests/api/test_asyncapi.py`` checks what is sent against them.
A field declared with ``omitted()`` is a key that is left out, rather than null, when it does
not apply. Every time is written by ``hub.times.iso`` (UTC, ``Z``). Nothing here imports the rest
of the hub but ``hub.times`` and ``hub.cursors``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pydantic

from hub.cursors import NEXT_CURSOR_DESCRIPTION
from hub.times import Timestamp

CUSTOMER = "/customer"
WORKER = "/worker"
SUPPORT = "/support"
EVERY_NAMESPACE = (CUSTOMER, WORKER, SUPPORT)

Uuid = Annotated[str, pydantic.Field(json_schema_extra={"format": "uuid"})]
Role = Literal["customer", "worker", "support", "admin"]


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def omitted(description: str | None = None) -> Any:
    """A key that is absent (never null) when it does not apply: not required, no default."""
    return pydantic.Field(default=None, description=description, json_schema_extra=_no_default)


def docstring_parts(obj: object) -> tuple[str, str]:
    """(summary, description) of a docstring: its first paragraph on one line, and the rest."""
    doc = inspect.getdoc(obj) or ""
    first, _, rest = doc.partition("\n\n")
    return " ".join(first.split()), rest.strip()


@dataclass(frozen=True, slots=True)
class ClientEvent:
    """A client→server event as a namespace handles it."""

    name: str
    # Validated (``hub.acks.parse``) before the handler runs; None: the event takes no payload
    # and whatever is sent is ignored.
    payload: type[pydantic.BaseModel] | None
    ack: type[pydantic.BaseModel] | None  # the data of a successful ack; None: always null
    limit: str  # rate-limit bucket (``hub.ratelimit.LIMITS``)
    summary: str
    description: str = ""

    def __post_init__(self) -> None:
        if not self.summary:
            raise ValueError(f"event {self.name!r} needs a summary (a docstring or summary=)")


@dataclass(frozen=True, slots=True)
class ServerEvent:
    """A server→client event: emit it as ``realtime.to_user(..., EVENT, data)`` or
    ``namespace.emit(EVENT.name, data)``."""

    name: str
    namespaces: tuple[str, ...]
    payload: type[pydantic.BaseModel]
    summary: str
    description: str = ""


class Wire(pydantic.BaseModel):
    """Base of wire models: building one from a dict with a key it does not declare fails, so a
    model cannot silently miss a key the hub sends."""

    model_config = pydantic.ConfigDict(extra="forbid")


# The ack envelope (``hub.acks``) ------------------------------------------------------------------


class ErrorDetail(Wire):
    code: str = pydantic.Field(description="Stable, to branch on, e.g. invalid_payload or rate_limited.")
    message: str = pydantic.Field(description="For people; may change.")
    details: Any = omitted("Only when there is more to say, e.g. each bad field of invalid_payload.")


class Refused(Wire):
    """The ack of a refused event: nothing changed and the socket stays connected."""

    ok: Literal[False]
    error: ErrorDetail


# Chat ----------------------------------------------------------------------------------------------


class Upload(Wire):
    upload_id: Uuid
    url: str = pydantic.Field(description="Where to download it (with a Bearer token).")
    content_type: str
    size: int
    filename: str | None


class Sender(Wire):
    id: str | None = pydantic.Field(description="None for system messages.")
    role: str


class ChatMessage(Wire):
    id: Uuid
    conversation_id: Uuid
    seq: int = pydantic.Field(description="Grows by one per conversation.")
    sender: Sender
    client_id: str | None = pydantic.Field(description="The sender's idempotency key (None for system).")
    kind: Literal["text", "system"]
    body: str = pydantic.Field(description="Plain text, exactly as written: escape it before display.")
    attachments: list[Upload]
    private: bool = pydantic.Field(description="An agents' note: only ever sent to agents.")
    created_at: Timestamp


class Conversation(Wire):
    id: Uuid
    kind: Literal["support", "booking"]
    customer_id: str
    booking_id: str | None
    worker_id: str | None
    status: Literal["queued", "assigned", "resolved", "open"]
    assigned_agent_id: str | None
    assigned_agent_role: Literal["support", "admin"] | None = pydantic.Field(
        description="The assigned agent's role: an id is unique within its role only."
    )
    queued_at: Timestamp | None
    read_only_after: Timestamp | None
    last_seq: int
    last_message_at: Timestamp | None
    csat_score: int | None
    created_at: Timestamp


class ConversationSummary(Conversation):
    last_read_seq: int
    last_delivered_seq: int
    unread: int


class Conversations(Wire):
    items: list[ConversationSummary] = pydantic.Field(description="Most recent first.")
    next_cursor: None = pydantic.Field(description="Always null: the list has one page.")
    unread: int


class TypingSignal(Wire):
    conversation_id: Uuid
    user_id: str
    role: Role
    typing: bool


class Receipt(Wire):
    conversation_id: Uuid
    user_id: str
    role: Role
    delivered_seq: int
    read_seq: int


class QueuePosition(Wire):
    conversation_id: Uuid
    position: int = pydantic.Field(description="1 = next.")


class QueueLength(Wire):
    queued: int


# Notifications ----------------------------------------------------------------------------------


class Notification(Wire):
    id: Uuid
    seq: int = pydantic.Field(description="The user's own counter: 1, 2, 3...")
    user_id: str
    role: str
    kind: str
    title: str
    body: str
    data: dict[str, Any]
    urgent: bool
    created_at: Timestamp
    read_at: Timestamp | None


class NotificationPage(Wire):
    items: list[Notification] = pydantic.Field(description="Newest first.")
    next_cursor: str | None = pydantic.Field(description=NEXT_CURSOR_DESCRIPTION)
    unread: int


class UnreadCount(Wire):
    unread: int


# Presence ---------------------------------------------------------------------------------------


class PresenceState(Wire):
    user_id: str
    role: Role
    status: Literal["online", "busy", "on_leave", "away", "offline"]
    since: Timestamp = pydantic.Field(description="When the status last changed.")
    last_seen: Timestamp | None = pydantic.Field(description="When the last socket left.")
    booking_id: str | None = pydantic.Field(description="The job in service while busy.")


class PresenceBoard(Wire):
    workers: list[PresenceState]
    agents: list[PresenceState] = pydantic.Field(description="Support agents and admins.")


# Missed-message recovery (``hub.sync``) ----------------------------------------------------------


class NotificationReplay(Wire):
    items: list[Notification] = pydantic.Field(description="Oldest first, at most 200.")
    more: bool = pydantic.Field(description="Ask again from the last seq received.")


class ConversationReplay(Wire):
    messages: list[ChatMessage] = pydantic.Field(description="Oldest first, at most 200.")
    more: bool
    last_seq: int = omitted("The conversation's latest seq (absent with error).")
    error: Literal["conversation_not_found"] = omitted("The user may not see this conversation.")


class ConsoleEntry(Wire):
    seq: int
    event: str = pydantic.Field(description="The event it was sent as, e.g. item:updated or booking:updated.")
    data: dict[str, Any] = pydantic.Field(description="Its payload, exactly as sent live (with seq).")


class ConsoleReplay(Wire):
    events: list[ConsoleEntry] = pydantic.Field(description="Oldest first, at most 200.")
    more: bool = pydantic.Field(description="Ask again from the last seq received.")
    last_seq: int = pydantic.Field(description="The console stream's latest seq.")
    reset: bool = pydantic.Field(
        description="What was asked for is no longer kept: take a console:snapshot and go on from its seq."
    )


class SyncResult(Wire):
    """What came after the client's marks; a stream the client did not ask for is absent."""

    notifications: NotificationReplay = omitted()
    notifications_unread: int = omitted()
    conversations: dict[str, ConversationReplay] = omitted(
        "By conversation id; one with nothing new is absent."
    )
    console: ConsoleReplay = omitted("/support only: the console stream after console_since.")


class SyncDone(Wire):
    ok: Literal[True]
    data: SyncResult


class SyncAnswer(pydantic.RootModel[SyncDone | Refused]):
    """The ack envelope of a ``sync`` call."""


# Session -----------------------------------------------------------------------------------------


class ShutdownNotice(Wire):
    reason: Literal["shutting_down"]
    message: str


class SyncRequired(Wire):
    reason: Literal["fanout_interrupted"]
    message: str


class AbuseNotice(Wire):
    reason: Literal["too_many_refused_events"]


class ExpiryNotice(Wire):
    code: Literal["token_expired"]
    message: str


# Server→client events of the core ------------------------------------------------------------------

CHAT_MESSAGE = ServerEvent(
    "chat:message",
    EVERY_NAMESPACE,
    ChatMessage,
    "A message in one of the person's conversations (private notes reach agents only)",
)
CHAT_TYPING = ServerEvent(
    "chat:typing", EVERY_NAMESPACE, TypingSignal, "Another member started or stopped typing"
)
CHAT_RECEIPT = ServerEvent(
    "chat:receipt", EVERY_NAMESPACE, Receipt, "Another member's delivered and read marks moved"
)
CONVERSATION_ASSIGNED = ServerEvent(
    "conversation:assigned",
    (CUSTOMER, SUPPORT),
    Conversation,
    "An agent took the support conversation (auto-assignment, pick, transfer or reopen); to its members",
)
CONVERSATION_RESOLVED = ServerEvent(
    "conversation:resolved",
    (CUSTOMER, SUPPORT),
    Conversation,
    "The conversation was resolved; to its members",
)
CONVERSATION_REOPENED = ServerEvent(
    "conversation:reopened",
    (CUSTOMER, SUPPORT),
    Conversation,
    "The conversation was reopened; to its members",
)
CONVERSATION_TRANSFERRED = ServerEvent(
    "conversation:transferred",
    (SUPPORT,),
    Conversation,
    "To the agent who handed the conversation over to another agent",
)
SUPPORT_QUEUE = ServerEvent(
    "support:queue", (CUSTOMER,), QueuePosition, "The customer's place in the support queue moved"
)
SUPPORT_QUEUE_CHANGED = ServerEvent(
    "support:queue_changed", (SUPPORT,), QueueLength, "The support queue grew or shrank"
)
PRESENCE_CHANGED = ServerEvent(
    "presence:changed", (SUPPORT,), PresenceState, "A worker's or an agent's status changed"
)
PRESENCE_SNAPSHOT = ServerEvent(
    "presence:snapshot", (SUPPORT,), PresenceBoard, "Every worker and agent, right after connecting"
)
NOTIFICATION = ServerEvent(
    "notification", EVERY_NAMESPACE, Notification, "A new notification, to every device of the person"
)
NOTIFICATIONS_UNREAD = ServerEvent(
    "notifications:unread",
    EVERY_NAMESPACE,
    UnreadCount,
    "The unread count, to the person's other devices after a notifications:read",
)
SYNC = ServerEvent(
    "sync",
    EVERY_NAMESPACE,
    SyncAnswer,
    "The answer to the sync asked for in the handshake (auth.sync), as the ack of a sync call",
)
SERVER_SHUTDOWN = ServerEvent(
    "server:shutdown", EVERY_NAMESPACE, ShutdownNotice, "The hub is restarting: reconnect shortly"
)
SYNC_REQUIRED = ServerEvent(
    "sync:required",
    EVERY_NAMESPACE,
    SyncRequired,
    "Live delivery between hub nodes was interrupted: send sync with the last seqs you have",
    "A node that lost its link to the other nodes (Redis) says so once the link is back, to every "
    "socket it holds and, if events it emitted could not be passed on, to every socket of every "
    "node. Everything stored while the link was down comes back through sync; nothing is lost.",
)
SERVER_ABUSE = ServerEvent(
    "server:abuse",
    EVERY_NAMESPACE,
    AbuseNotice,
    "Too many refused events: the hub disconnects the socket right after",
)
AUTH_EXPIRED = ServerEvent(
    "auth:expired",
    EVERY_NAMESPACE,
    ExpiryNotice,
    "The token ran out without an auth:refresh: the hub disconnects the socket right after",
)

SERVER_EVENTS = (
    SYNC_REQUIRED,
    CHAT_MESSAGE,
    CHAT_TYPING,
    CHAT_RECEIPT,
    CONVERSATION_ASSIGNED,
    CONVERSATION_RESOLVED,
    CONVERSATION_REOPENED,
    CONVERSATION_TRANSFERRED,
    SUPPORT_QUEUE,
    SUPPORT_QUEUE_CHANGED,
    PRESENCE_CHANGED,
    PRESENCE_SNAPSHOT,
    NOTIFICATION,
    NOTIFICATIONS_UNREAD,
    SYNC,
    SERVER_SHUTDOWN,
    SERVER_ABUSE,
    AUTH_EXPIRED,
)
