"""``/support``: the live console of support agents and admins."""

from __future__ import annotations

from typing import Any, ClassVar

from hub import acks, desk, errors
from hub.auth import Principal, Role
from hub.chat import support
from hub.chat.models import AGENT_ROLES
from hub.namespaces import payloads as p
from hub.namespaces.base import event
from hub.namespaces.common import HubNamespace
from hub.presence import Status
from hub.realtime import AGENTS_ROOM
from hub.storage import chat as chat_store


class SupportNamespace(HubNamespace):
    allowed_roles: ClassVar[frozenset[Role]] = frozenset({Role.SUPPORT, Role.ADMIN})

    async def connected(self, sid: str, user: Principal, auth: dict[str, Any]) -> None:
        await self.enter_room(sid, AGENTS_ROOM)
        await self.emit("presence:snapshot", await self._board(), to=sid)
        await super().connected(sid, user, auth)

    async def _board(self) -> dict[str, Any]:
        presence = self.hub.presence
        workers = await presence.snapshot("worker")
        agents = await presence.snapshot("support")  # admins included
        return {"workers": [s.to_dict() for s in workers], "agents": [s.to_dict() for s in agents]}

    @event("presence:snapshot")
    async def presence_snapshot(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        return await self._board()

    @event("presence:set")
    async def presence_set(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        """``online`` (takes conversations from the queue) or ``away``."""
        return await self.choose_status(user, payload)

    @event("support:queue")
    async def support_queue(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        queue = await support.queue_positions(self.hub.pool)
        return {"queue": [{**c.to_dict(), "position": n} for c, n in queue]}

    @event("conversation:pick")
    async def conversation_pick(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        ref = acks.parse(p.ConversationRef, payload)
        change = await support.pick(self.hub.pool, user, ref.conversation_id)
        await self._changed(change, "conversation:assigned", queue_changed=True)
        return change.conversation.to_dict()

    @event("conversation:transfer")
    async def conversation_transfer(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        move = acks.parse(p.Transfer, payload)
        target = await self.hub.presence.get(move.agent_id)
        if target is None or target.role not in AGENT_ROLES or target.status != Status.ONLINE:
            raise errors.Conflict("that agent is not online", code="agent_unavailable")
        change = await support.transfer(self.hub.pool, user, move.conversation_id, move.agent_id, target.role)
        await self._changed(change, "conversation:assigned")
        return change.conversation.to_dict()

    @event("conversation:resolve")
    async def conversation_resolve(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        ref = acks.parse(p.ConversationRef, payload)
        change = await support.resolve(self.hub.pool, user, ref.conversation_id)
        await self._changed(change, "conversation:resolved")
        return change.conversation.to_dict()

    @event("conversation:reopen")
    async def conversation_reopen(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        ref = acks.parse(p.ConversationRef, payload)
        change = await support.reopen(self.hub.pool, user, ref.conversation_id)
        await self._changed(change, "conversation:reopened")
        return change.conversation.to_dict()

    @event("chat:join")
    async def chat_join(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        """Join a conversation (e.g. a booking's) to receive its messages live."""
        ref = acks.parse(p.ConversationRef, payload)
        conversation = await self.hub.chat.conversation_for(user, ref.conversation_id)
        await chat_store.add_member(self.hub.pool, conversation.id, user.user_id, user.role.value)
        self.hub.chat.forget(conversation.id)
        return conversation.to_dict()

    async def _changed(self, change: Any, event_name: str, queue_changed: bool = False) -> None:
        self.hub.chat.forget(change.conversation.id)
        await desk.publish_change(self.hub, change, event_name)
        # A resolve or transfer frees capacity; a pick shortens the queue.
        self.hub.spawn(desk.run_assignment(self.hub, queue_changed=queue_changed))
