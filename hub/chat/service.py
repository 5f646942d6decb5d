"""Chat use cases: who may do what, in which transaction. Callers emit the results."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from hub import cursors
from hub.auth import Principal
from hub.chat.batching import GroupCommit
from hub.chat.models import AGENT_ROLES, MAX_BODY_CHARS, Conversation, Member, Message, can_see
from hub.errors import Conflict, Forbidden, InvalidPayload, NotFound
from hub.storage import chat as store
from hub.storage import uploads as upload_store
from hub.storage.db import timeouts_of

MEMBERS_CACHE_SECONDS = 5.0  # typing indicators may reach a just-transferred agent for this long
MEMBERS_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class Sent:
    message: Message
    members: list[Member]
    duplicate: bool  # a retry of an earlier send: nothing was written, nothing to emit


@dataclass(frozen=True, slots=True)
class Receipt:
    conversation_id: uuid.UUID
    user_id: str
    role: str
    delivered_seq: int
    read_seq: int
    members: list[Member]

    def to_dict(self) -> dict[str, Any]:
        return {
            "conversation_id": str(self.conversation_id),
            "user_id": self.user_id,
            "role": self.role,
            "delivered_seq": self.delivered_seq,
            "read_seq": self.read_seq,
        }


@dataclass(frozen=True, slots=True)
class ConversationChange:
    """A support conversation moved (assigned, transferred, resolved, reopened)."""

    conversation: Conversation
    members: list[Member]
    system_message: Message | None
    previous_agent: Member | None = None  # told the conversation went to someone else


class ChatService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        batch_max: int = 1,
        on_batch: Callable[[int], None] | None = None,
        writer: asyncpg.Pool | None = None,
    ) -> None:
        """``batch_max`` above 1 turns on group commit of ``send`` (``hub.chat.batching``): up
        to that many messages written in one transaction, through ``writer`` (``pool`` when None);
        ``on_batch`` is told each batch's size."""
        self.pool = pool
        self._writer = writer or pool
        self._members: dict[uuid.UUID, tuple[float, Conversation, list[Member]]] = {}
        self._on_batch = on_batch
        timeouts = timeouts_of(pool)
        self._batches: GroupCommit[store.NewMessage, store.Written] | None = None
        if batch_max > 1:
            self._batches = GroupCommit(
                self._write,
                max_size=batch_max,
                # The write in flight, then this one's: each a pool wait and its statements,
                # each bounded (a lone message, one; a batch, the lock and the insert).
                wait_seconds=2 * (timeouts.acquire + 2 * timeouts.command),
                on_batch=on_batch,
            )

    @property
    def sends_waiting(self) -> int:
        """Messages queued behind the write in flight (0 without group commit)."""
        return 0 if self._batches is None else self._batches.waiting

    # Reading -----------------------------------------------------------------------------------

    async def conversation_for(self, user: Principal, conversation_id: uuid.UUID) -> Conversation:
        """The conversation if ``user`` may see it; ``NotFound`` otherwise (existence is not leaked)."""
        conversation = await store.get_conversation(self.pool, conversation_id)
        if conversation is None or not conversation.visible_to(user.user_id, user.role):
            raise NotFound("no such conversation", code="conversation_not_found")
        return conversation

    async def history(
        self, user: Principal, conversation_id: uuid.UUID, cursor: str | None, limit: int
    ) -> tuple[list[Message], str | None]:
        """A page of messages, oldest first, and the cursor of the page before it. A cursor names
        its conversation: one from another conversation is ``invalid_cursor``."""
        await self.conversation_for(user, conversation_id)
        kind = f"messages/{conversation_id}"
        before = cursors.read(cursor, kind, int)
        newest_first = await store.history(
            self.pool,
            conversation_id,
            None if before is None else before[0],
            limit + 1,
            user.role in AGENT_ROLES,
        )
        page, next_cursor = cursors.page(kind, newest_first, limit, lambda m: (m.seq,))
        return page[::-1], next_cursor

    async def conversations(self, user: Principal, limit: int = 100) -> list[dict[str, Any]]:
        rows = await store.list_for_member(
            self.pool, user.user_id, user.role.value, user.role in AGENT_ROLES, limit
        )
        return [
            {**conv.to_dict(), "last_read_seq": read, "last_delivered_seq": delivered, "unread": unread}
            for conv, read, delivered, unread in rows
        ]

    async def recipients(self, user: Principal, conversation_id: uuid.UUID) -> list[Member]:
        """Active members, for ephemeral signals (typing); cached briefly to keep them query-free."""
        now = time.monotonic()
        cached = self._members.get(conversation_id)
        if cached is not None and cached[0] >= now:
            _, conversation, members = cached
            if not conversation.visible_to(user.user_id, user.role):
                raise NotFound("no such conversation", code="conversation_not_found")
            return members
        # Checked before anything is cached: the cache is the node's, and someone who may not see
        # the conversation must not fill it (nor, at its size limit, empty it for everyone).
        conversation = await self.conversation_for(user, conversation_id)
        members = await store.active_members(self.pool, conversation_id)
        if len(self._members) >= MEMBERS_CACHE_SIZE:
            self._members.clear()
        self._members[conversation_id] = (now + MEMBERS_CACHE_SECONDS, conversation, members)
        return members

    async def upload(self, user: Principal, upload_id: uuid.UUID) -> tuple[str, str | None, bytes, str]:
        """(content type, filename, bytes, sha256) of an upload ``user`` may see: their own, or one
        attached to a message they may see (a private note's, agents only). ``NotFound``
        otherwise, whether it exists or not, and before its bytes are read."""
        found = None
        if await self._may_see_upload(user, upload_id):
            found = await upload_store.content(self.pool, upload_id)
        if found is None:
            raise NotFound("no such upload", code="upload_not_found")
        return found

    async def _may_see_upload(self, user: Principal, upload_id: uuid.UUID) -> bool:
        owner = await upload_store.owner(self.pool, upload_id)
        if owner is None:
            return False
        if owner == (user.user_id, user.role.value):
            return True
        is_agent = user.role in AGENT_ROLES
        return any(
            can_see(user.user_id, user.role, row["kind"], row["customer_id"], row["worker_id"])
            and (is_agent or not row["private"])
            for row in await upload_store.attached_in(self.pool, upload_id)
        )

    def forget(self, conversation_id: uuid.UUID) -> None:
        self._members.pop(conversation_id, None)

    # Writing -----------------------------------------------------------------------------------

    async def send(
        self,
        user: Principal,
        conversation_id: uuid.UUID,
        client_id: str,
        body: str,
        upload_ids: Sequence[uuid.UUID] = (),
        private: bool = False,
        message_id: uuid.UUID | None = None,
    ) -> Sent:
        """Persist a message (idempotent on ``client_id``) and return it with its recipients.

        ``message_id`` is the id the message gets if this call stores it: knowing it, a caller
        whose call failed on a database that did not answer can find out later whether it was
        stored all the same (``stored_late``)."""
        is_agent = user.role in AGENT_ROLES
        if private and not is_agent:
            raise Forbidden("only support agents can write private notes", code="private_not_allowed")
        if not body.strip() and not upload_ids:
            raise InvalidPayload("a message needs a body or an attachment", code="empty_message")
        if len(body) > MAX_BODY_CHARS:
            raise InvalidPayload(f"the body is longer than {MAX_BODY_CHARS} characters", code="body_too_long")
        attachments = await self._attachments(user, upload_ids) if upload_ids else []
        new = store.NewMessage(
            id=message_id or uuid.uuid4(),
            conversation_id=conversation_id,
            sender_id=user.user_id,
            sender_role=user.role.value,
            client_id=client_id,
            body=body,
            attachments=attachments,
            private=private,
        )
        if self._batches is not None:
            written = await self._batches.submit(new)
        else:
            if self._on_batch is not None:
                self._on_batch(1)
            written = await self._write_one(new)
        if written is None:
            raise await self._why_not_writable(user, conversation_id)
        message, members, duplicate = written
        return Sent(message, members, duplicate=duplicate)

    async def _write(self, batch: list[store.NewMessage]) -> list[store.Written]:
        # One message alone takes the one-statement path: no lock round trip when the hub is quiet.
        if len(batch) == 1:
            return [await self._write_one(batch[0])]
        return await store.insert_messages(self._writer, batch)

    async def _write_one(self, new: store.NewMessage) -> store.Written:
        try:
            stored = await store.insert_message(
                self.pool,
                message_id=new.id,
                conversation_id=new.conversation_id,
                sender_id=new.sender_id,
                sender_role=new.sender_role,
                client_id=new.client_id,
                kind="text",
                body=new.body,
                attachments=new.attachments,
                private=new.private,
            )
        except asyncpg.UniqueViolationError:
            stored = None  # a concurrent retry of the same client_id won the race
        if stored is not None:
            return stored[0], stored[1], False
        original = await store.find_by_client_id(
            self.pool, new.conversation_id, new.sender_id, new.sender_role, new.client_id
        )
        return None if original is None else (original, [], True)

    async def stored_late(self, message_id: uuid.UUID) -> tuple[Message, list[Member]] | None:
        """The message a failed ``send`` stored after all, with its recipients; None if it was not."""
        message = await store.find_message(self.pool, message_id)
        if message is None:
            return None
        return message, await store.active_members(self.pool, message.conversation_id)

    async def _why_not_writable(self, user: Principal, conversation_id: uuid.UUID) -> Exception:
        conversation = await self.conversation_for(user, conversation_id)
        if conversation.status == "resolved":
            return Conflict("the conversation is resolved", code="conversation_resolved")
        if conversation.read_only_after is not None:
            return Conflict("the booking's conversation is closed", code="conversation_closed")
        return Forbidden("you are not a participant of this conversation", code="not_a_participant")

    async def _attachments(self, user: Principal, upload_ids: Sequence[uuid.UUID]) -> list[dict[str, Any]]:
        found = await upload_store.describe(self.pool, list(upload_ids), user.user_id, user.role.value)
        missing = [str(u) for u in upload_ids if u not in found]
        if missing:
            raise InvalidPayload(
                "unknown attachment", code="invalid_attachment", details={"upload_ids": missing}
            )
        return [found[u] for u in upload_ids]

    async def receipt(
        self, user: Principal, conversation_id: uuid.UUID, seq: int, *, read: bool
    ) -> Receipt | None:
        """Record delivered (and read) up to ``seq``; None for a non-member agent just looking."""
        conversation = await self.conversation_for(user, conversation_id)
        marks = await store.record_receipt(
            self.pool, conversation.id, user.user_id, user.role.value, seq, seq if read else None
        )
        if marks is None:
            return None
        members = await self.recipients(user, conversation_id)
        return Receipt(conversation_id, user.user_id, user.role, marks[0], marks[1], members)
