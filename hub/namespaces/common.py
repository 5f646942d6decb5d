"""Events every namespace offers: sync, notifications, app state, chat."""

from __future__ import annotations

import logging
from typing import Any

from hub import acks, desk, errors, sync
from hub.auth import Principal
from hub.namespaces import payloads as p
from hub.namespaces.base import AuthenticatedNamespace, event
from hub.presence import InvalidStatus, Status
from hub.storage import notifications as inbox

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
            result = acks.ok(await self.sync(user, sid, wanted))
        except errors.ClientError as exc:
            result = acks.from_error(exc)
        except Exception:
            log.exception("sync after connect failed for %s", user.user_id)
            result = acks.refused("internal_error", "sync failed; send a sync event")
        await self.emit("sync", result, to=sid)

    async def choose_status(self, user: Principal, payload: Any) -> dict[str, Any]:
        """Set the status a person chose, then tell the listeners (``HubContext.on_status_chosen``)."""
        wanted = acks.parse(p.PresenceSet, payload)
        try:
            status = Status(wanted.status)
            state = await self.hub.presence.set_status(user.user_id, user.role.value, status)
        except (ValueError, InvalidStatus) as exc:
            raise errors.InvalidPayload(str(exc), code="invalid_status") from None
        for listener in self.hub.status_listeners:
            await listener(user, status)
        result: dict[str, Any] = state.to_dict()
        return result

    # Recovery and inbox ----------------------------------------------------------------------

    @event("sync")
    async def sync(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        wanted = acks.parse(p.Sync, payload)
        return await sync.missed(self.hub.pool, user, wanted.notifications_since, wanted.conversations)

    @event("notifications:list")
    async def notifications_list(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        query = acks.parse(p.NotificationsList, payload)
        items = await inbox.page(self.hub.pool, user.user_id, query.before_seq, query.limit)
        return {"items": items, "unread": await inbox.unread_count(self.hub.pool, user.user_id)}

    @event("notifications:read")
    async def notifications_read(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        mark = acks.parse(p.NotificationsRead, payload)
        if mark.seq is not None and not await inbox.exists(self.hub.pool, user.user_id, mark.seq):
            raise errors.NotFound("no such notification", code="notification_not_found")
        unread = await inbox.mark_read(self.hub.pool, user.user_id, mark.seq)
        await self.hub.realtime.to_user(
            user.user_id, user.role, "notifications:unread", {"unread": unread}, skip_sid=sid
        )
        return {"unread": unread}

    @event("app:state")
    async def app_state(self, user: Principal, sid: str, payload: Any) -> None:
        """The app went to the background (or back): a backgrounded device gets offline pushes."""
        state = acks.parse(p.AppState, payload)
        await self.hub.presence.set_background(user.user_id, sid, state.state == "background")

    # Chat --------------------------------------------------------------------------------------

    @event("chat:send", limit="chat")
    async def chat_send(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        send = acks.parse(p.ChatSend, payload)
        sent = await self.hub.chat.send(
            user,
            send.conversation_id,
            send.client_id,
            send.body,
            [a.upload_id for a in send.attachments],
            send.private,
        )
        message = sent.message
        if not sent.duplicate:
            await desk.emit_message(self.hub, message, sent.members, skip_sid=sid)
            self.hub.spawn(desk.push_to_unreachable(self.hub, message, sent.members))
        return {
            "id": str(message.id),
            "seq": message.seq,
            "created_at": message.created_at.isoformat(),
            "conversation_id": str(message.conversation_id),
            "client_id": message.client_id,
            "duplicate": sent.duplicate,
        }

    @event("chat:typing", limit="typing")
    async def chat_typing(self, user: Principal, sid: str, payload: Any) -> None:
        typing = acks.parse(p.ChatTyping, payload)
        members = await self.hub.chat.recipients(user, typing.conversation_id)
        signal = {
            "conversation_id": str(typing.conversation_id),
            "user_id": user.user_id,
            "role": user.role.value,
            "typing": typing.typing,
        }
        await self.hub.realtime.to_members(members, "chat:typing", signal, skip_user=user.user_id)

    @event("chat:read")
    async def chat_read(self, user: Principal, sid: str, payload: Any) -> dict[str, Any] | None:
        return await self._receipt(user, payload, read=True)

    @event("chat:delivered")
    async def chat_delivered(self, user: Principal, sid: str, payload: Any) -> dict[str, Any] | None:
        return await self._receipt(user, payload, read=False)

    async def _receipt(self, user: Principal, payload: Any, *, read: bool) -> dict[str, Any] | None:
        mark = acks.parse(p.ChatMark, payload)
        receipt = await self.hub.chat.receipt(user, mark.conversation_id, mark.seq, read=read)
        if receipt is None:
            return None
        data = receipt.to_dict()
        await self.hub.realtime.to_members(receipt.members, "chat:receipt", data, skip_user=user.user_id)
        return data

    @event("chat:history")
    async def chat_history(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        query = acks.parse(p.ChatHistory, payload)
        messages = await self.hub.chat.history(user, query.conversation_id, query.before_seq, query.limit)
        return {
            "messages": [m.to_dict() for m in messages],
            "more": bool(messages) and messages[0].seq > 1 and len(messages) == query.limit,
        }

    @event("conversations:list")
    async def conversations_list(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        conversations = await self.hub.chat.conversations(user)
        return {"conversations": conversations, "unread": sum(c["unread"] for c in conversations)}
