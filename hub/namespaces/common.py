"""Events every namespace offers: sync, notifications, app state, chat."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from hub import acks, desk, errors, sync
from hub.auth import Principal
from hub.chat.models import Member
from hub.namespaces import payloads as p
from hub.namespaces import replies as r
from hub.namespaces.base import AuthenticatedNamespace, event
from hub.outages import outage
from hub.presence import InvalidStatus, Status
from hub.protocol import (
    CHAT_RECEIPT,
    CHAT_TYPING,
    NOTIFICATIONS_UNREAD,
    SYNC,
    Conversations,
    NotificationPage,
    SyncResult,
    UnreadCount,
)
from hub.push import inbox as notices
from hub.storage import notifications as inbox
from hub.storage import presence as presence_store
from hub.times import iso

log = logging.getLogger(__name__)


class HubNamespace(AuthenticatedNamespace):
    async def connected(self, sid: str, user: Principal, auth: dict[str, Any]) -> None:
        # A client may ask for its missed messages in the handshake itself ({"sync": {...}}), so
        # nothing can slip between connecting and asking.
        wanted = auth.get("sync") if isinstance(auth, dict) else None
        if wanted is not None:
            self.hub.spawn(self._sync_after_connect(sid, user, wanted))

    async def _sync_after_connect(self, sid: str, user: Principal, wanted: Any) -> None:
        try:
            result = acks.ok(await self.sync(user, sid, acks.parse(p.Sync, wanted)))
        except errors.HubError as exc:
            result = acks.from_error(exc)
        except Exception as exc:
            refusal = outage(exc)
            if refusal is None:
                log.exception("sync after connect failed for %s", user.user_id)
                result = acks.refused("internal_error", "sync failed; send a sync event")
            else:
                log.warning("sync after connect for %s: %s (%r)", user.user_id, refusal.code, exc)
                result = acks.from_error(refusal)
        await self.emit(SYNC.name, result, to=sid)

    async def choose_status(self, user: Principal, wanted: p.PresenceSet) -> dict[str, Any]:
        """Set the status a person chose, then tell the listeners (``HubContext.on_status_chosen``)."""
        try:
            status = Status(wanted.status)
            state = await self.hub.presence.set_status(user.user_id, user.role.value, status)
        except (ValueError, InvalidStatus) as exc:
            raise errors.InvalidPayload(str(exc), code="invalid_status") from None
        # Kept for good, so that neither a restart nor a Redis that lost its data forgets it.
        await presence_store.save_choice(self.hub.pool, user.user_id, user.role.value, status)
        for listener in self.hub.status_listeners:
            await listener(user, status)
        result: dict[str, Any] = state.to_dict()
        return result

    # Recovery and inbox ----------------------------------------------------------------------

    @event("sync", payload=p.Sync, ack=SyncResult)
    async def sync(self, user: Principal, sid: str, wanted: p.Sync) -> dict[str, Any]:
        """What the client missed since the marks it sends: notifications, messages and (on
        ``/support``) the console stream, in order.

        Errors: ``console_staff_only`` (``console_since`` from a customer or worker).

        The same can be asked in the handshake (``auth.sync``), answered by a ``sync`` event."""
        return await sync.missed(
            self.hub.pool,
            user,
            wanted.notifications_since,
            wanted.conversations,
            wanted.console_since,
            self.hub.console,
        )

    @event("notifications:list", payload=p.NotificationsList, ack=NotificationPage)
    async def notifications_list(
        self, user: Principal, sid: str, query: p.NotificationsList
    ) -> dict[str, Any]:
        """A page of the person's notifications, newest first, and the unread count."""
        return await notices.listing(self.hub.pool, user.user_id, user.role, query.cursor, query.limit)

    @event("notifications:read", payload=p.NotificationsRead, ack=UnreadCount)
    async def notifications_read(
        self, user: Principal, sid: str, mark: p.NotificationsRead
    ) -> dict[str, Any]:
        """Mark one notification (``seq``) or all of them read; the other devices are told.

        Errors: ``notification_not_found``."""
        if mark.seq is not None and not await inbox.exists(self.hub.pool, user.user_id, user.role, mark.seq):
            raise errors.NotFound("no such notification", code="notification_not_found")
        unread = await inbox.mark_read(self.hub.pool, user.user_id, user.role, mark.seq)
        await self.hub.realtime.to_user(
            user.user_id, user.role, NOTIFICATIONS_UNREAD, {"unread": unread}, skip_sid=sid
        )
        return {"unread": unread}

    @event("app:state", payload=p.AppState, ack=None)
    async def app_state(self, user: Principal, sid: str, state: p.AppState) -> None:
        """The app went to the background (or back): a backgrounded device gets offline pushes."""
        await self.hub.presence.set_background(
            user.user_id, user.role.value, sid, state.state == "background"
        )

    # Chat --------------------------------------------------------------------------------------

    @event("chat:send", payload=p.ChatSend, ack=r.ChatSent, limit="chat")
    async def chat_send(self, user: Principal, sid: str, send: p.ChatSend) -> dict[str, Any]:
        """Send a message; it is stored before it is acknowledged, and a retry with the same
        ``client_id`` returns the original (``duplicate: true``) without sending it again.

        Errors: ``body_too_long``, ``empty_message``, ``invalid_attachment``,
        ``private_not_allowed``, ``not_a_participant``, ``conversation_resolved``,
        ``conversation_closed``, ``conversation_not_found``."""
        attempt = uuid.uuid4()
        try:
            sent = await self.hub.chat.send(
                user,
                send.conversation_id,
                send.client_id,
                send.body,
                [a.upload_id for a in send.attachments],
                send.private,
                message_id=attempt,
            )
        except Exception as exc:
            if outage(exc) is not None:  # it may still be stored: then it must still be delivered
                self.hub.spawn(desk.deliver_if_stored_late(self.hub, attempt))
            raise
        message = sent.message
        if not sent.duplicate:
            await desk.emit_message(self.hub, message, sent.members, skip_sid=sid)
            self.hub.spawn(desk.push_to_unreachable(self.hub, message, sent.members))
        return {
            "id": str(message.id),
            "seq": message.seq,
            "created_at": iso(message.created_at),
            "conversation_id": str(message.conversation_id),
            "client_id": message.client_id,
            "duplicate": sent.duplicate,
        }

    @event("chat:typing", payload=p.ChatTyping, ack=None, limit="typing")
    async def chat_typing(self, user: Principal, sid: str, typing: p.ChatTyping) -> None:
        """Tell the other members the person is (or is no longer) typing; not stored."""
        members = await self.hub.chat.recipients(user, typing.conversation_id)
        signal = {
            "conversation_id": str(typing.conversation_id),
            "user_id": user.user_id,
            "role": user.role.value,
            "typing": typing.typing,
        }
        await self.hub.realtime.to_members(
            members, CHAT_TYPING, signal, skip_member=Member(user.user_id, user.role.value)
        )

    @event("chat:read", payload=p.ChatMark, ack=r.ReceiptOrNull)
    async def chat_read(self, user: Principal, sid: str, mark: p.ChatMark) -> dict[str, Any] | None:
        """The person has read the conversation up to ``seq`` (read implies delivered)."""
        return await self._receipt(user, mark, read=True)

    @event("chat:delivered", payload=p.ChatMark, ack=r.ReceiptOrNull)
    async def chat_delivered(self, user: Principal, sid: str, mark: p.ChatMark) -> dict[str, Any] | None:
        """The person's device has received the conversation up to ``seq``."""
        return await self._receipt(user, mark, read=False)

    async def _receipt(self, user: Principal, mark: p.ChatMark, *, read: bool) -> dict[str, Any] | None:
        receipt = await self.hub.chat.receipt(user, mark.conversation_id, mark.seq, read=read)
        if receipt is None:
            return None
        data = receipt.to_dict()
        await self.hub.realtime.to_members(
            receipt.members, CHAT_RECEIPT, data, skip_member=Member(user.user_id, user.role.value)
        )
        return data

    @event("chat:history", payload=p.ChatHistory, ack=r.History)
    async def chat_history(self, user: Principal, sid: str, query: p.ChatHistory) -> dict[str, Any]:
        """A page of a conversation's messages, oldest first: the latest page, then with
        ``cursor`` the page before it."""
        messages, next_cursor = await self.hub.chat.history(
            user, query.conversation_id, query.cursor, query.limit
        )
        return {"items": [m.to_dict() for m in messages], "next_cursor": next_cursor}

    @event("conversations:list", payload=None, ack=Conversations)
    async def conversations_list(self, user: Principal, sid: str, payload: None) -> dict[str, Any]:
        """The person's conversations with their read marks and unread counts, most recent first."""
        conversations = await self.hub.chat.conversations(user)
        return {
            "items": conversations,
            "next_cursor": None,
            "unread": sum(c["unread"] for c in conversations),
        }
