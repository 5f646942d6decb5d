"""``/support``: the live console of support agents and admins."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from hub import desk, errors
from hub.auth import Principal, Role
from hub.chat import support
from hub.console import items
from hub.console.models import WorkItem
from hub.console.protocol import CONSOLE_SNAPSHOT, ConsoleSnapshot, ItemDetail, ItemList
from hub.namespaces import payloads as p
from hub.namespaces import replies as r
from hub.namespaces.base import event
from hub.namespaces.common import HubNamespace
from hub.outages import outage
from hub.presence import Status
from hub.protocol import (
    CONVERSATION_ASSIGNED,
    CONVERSATION_REOPENED,
    CONVERSATION_RESOLVED,
    PRESENCE_SNAPSHOT,
    Conversation,
    PresenceBoard,
    PresenceState,
    ServerEvent,
)
from hub.realtime import AGENTS_ROOM
from hub.storage import chat as chat_store

log = logging.getLogger(__name__)


class SupportNamespace(HubNamespace):
    allowed_roles: ClassVar[frozenset[Role]] = frozenset({Role.SUPPORT, Role.ADMIN})

    async def connected(self, sid: str, user: Principal, auth: dict[str, Any]) -> None:
        await self.enter_room(sid, AGENTS_ROOM)
        await self.emit(PRESENCE_SNAPSHOT.name, await self._board(), to=sid)
        # In the room first, then the snapshot: a change made meanwhile arrives live with a seq
        # above the snapshot's, and nothing falls between the two.
        try:
            snapshot = await self.hub.console.snapshot()
        except Exception as exc:
            if outage(exc) is None:
                raise
            # Chat may still work; the console asks console:snapshot again once the database is back.
            log.warning("no console snapshot for %s yet: database unavailable (%r)", user.user_id, exc)
        else:
            await self.emit(CONSOLE_SNAPSHOT.name, snapshot, to=sid)
        await super().connected(sid, user, auth)

    async def _board(self) -> dict[str, Any]:
        presence = self.hub.presence
        workers = await presence.snapshot("worker")
        agents = await presence.snapshot("support")  # admins included
        return {"workers": [s.to_dict() for s in workers], "agents": [s.to_dict() for s in agents]}

    @event("presence:snapshot", payload=None, ack=PresenceBoard)
    async def presence_snapshot(self, user: Principal, sid: str, payload: None) -> dict[str, Any]:
        """Every worker's and agent's presence (also sent right after connecting)."""
        return await self._board()

    @event("presence:set", payload=p.PresenceSet, ack=PresenceState)
    async def presence_set(self, user: Principal, sid: str, wanted: p.PresenceSet) -> dict[str, Any]:
        """Choose ``online`` (takes conversations from the queue) or ``away``.

        Errors: ``invalid_status``."""
        return await self.choose_status(user, wanted)

    # The console: snapshot and work items -----------------------------------------------------

    @event("console:snapshot", payload=None, ack=ConsoleSnapshot)
    async def console_snapshot(self, user: Principal, sid: str, payload: None) -> dict[str, Any]:
        """Where the console stands (also sent right after connecting), with the stream's seq;
        take one again when a sync answers ``reset``."""
        return await self.hub.console.snapshot()

    @event("items:list", payload=p.ItemsList, ack=ItemList)
    async def items_list(self, user: Principal, sid: str, query: p.ItemsList) -> dict[str, Any]:
        """Work items by state (unresolved by default), kind or booking, most pressing first."""
        found, next_cursor = await items.listing(
            self.hub.pool, query.state, query.kind, query.booking_id, query.cursor, query.limit
        )
        return {"items": [i.model_dump(mode="json") for i in found], "next_cursor": next_cursor}

    @event("item:get", payload=p.ItemRef, ack=ItemDetail)
    async def item_get(self, user: Principal, sid: str, ref: p.ItemRef) -> dict[str, Any]:
        """One work item with its history.

        Errors: ``item_not_found``."""
        item, history = await items.detail(self.hub.pool, ref.item_id)
        return {"item": item.model_dump(mode="json"), "history": [h.model_dump(mode="json") for h in history]}

    @event("item:acknowledge", payload=p.ItemRef, ack=WorkItem)
    async def item_acknowledge(self, user: Principal, sid: str, ref: p.ItemRef) -> dict[str, Any]:
        """Seen and being handled; the caller becomes its owner unless it has one.

        Errors: ``item_not_found``, ``item_resolved``."""
        return (await items.acknowledge(self.hub.pool, user, ref.item_id)).model_dump(mode="json")

    @event("item:assign", payload=p.ItemAssign, ack=WorkItem)
    async def item_assign(self, user: Principal, sid: str, move: p.ItemAssign) -> dict[str, Any]:
        """Give the item to an agent (yourself included).

        Errors: ``item_not_found``, ``item_resolved``."""
        owner = (move.agent_role, move.agent_id)
        return (await items.assign(self.hub.pool, user, move.item_id, owner, move.note)).model_dump(
            mode="json"
        )

    @event("item:note", payload=p.ItemNote, ack=WorkItem)
    async def item_note(self, user: Principal, sid: str, note: p.ItemNote) -> dict[str, Any]:
        """Add a line to the item's history (a call made, what was tried).

        Errors: ``item_not_found``."""
        return (await items.note(self.hub.pool, user, note.item_id, note.note)).model_dump(mode="json")

    @event("item:resolve", payload=p.ItemNote, ack=WorkItem)
    async def item_resolve(self, user: Principal, sid: str, note: p.ItemNote) -> dict[str, Any]:
        """Resolve the item, saying how.

        Errors: ``item_not_found``, ``item_resolved``."""
        return (await items.resolve(self.hub.pool, user, note.item_id, note.note)).model_dump(mode="json")

    # Conversations ----------------------------------------------------------------------------

    @event("support:queue", payload=None, ack=r.Queue)
    async def support_queue(self, user: Principal, sid: str, payload: None) -> dict[str, Any]:
        """The conversations waiting for an agent, longest waiting first."""
        queue = await support.queue_positions(self.hub.pool)
        return {"items": [{**c.to_dict(), "position": n} for c, n in queue], "next_cursor": None}

    @event("conversation:pick", payload=p.ConversationRef, ack=Conversation)
    async def conversation_pick(self, user: Principal, sid: str, ref: p.ConversationRef) -> dict[str, Any]:
        """Take a queued conversation.

        Errors: ``not_queued`` (someone was faster)."""
        change = await support.pick(self.hub.pool, user, ref.conversation_id)
        await self._changed(change, CONVERSATION_ASSIGNED, queue_changed=True)
        return change.conversation.to_dict()

    @event("conversation:transfer", payload=p.Transfer, ack=Conversation)
    async def conversation_transfer(self, user: Principal, sid: str, move: p.Transfer) -> dict[str, Any]:
        """Hand a conversation to another online agent (by its agent or an admin).

        Errors: ``agent_unavailable``, ``not_your_conversation``."""
        roles = [move.agent_role] if move.agent_role is not None else ["support", "admin"]
        online = [
            state
            for state in [await self.hub.presence.get(move.agent_id, role) for role in roles]
            if state is not None and state.status == Status.ONLINE
        ]
        if not online:
            raise errors.Conflict("that agent is not online", code="agent_unavailable")
        target = online[0]
        change = await support.transfer(self.hub.pool, user, move.conversation_id, move.agent_id, target.role)
        await self._changed(change, CONVERSATION_ASSIGNED)
        return change.conversation.to_dict()

    @event("conversation:resolve", payload=p.ConversationRef, ack=Conversation)
    async def conversation_resolve(self, user: Principal, sid: str, ref: p.ConversationRef) -> dict[str, Any]:
        """Resolve a conversation.

        Errors: ``already_resolved``."""
        change = await support.resolve(self.hub.pool, user, ref.conversation_id)
        await self._changed(change, CONVERSATION_RESOLVED)
        return change.conversation.to_dict()

    @event("conversation:reopen", payload=p.ConversationRef, ack=Conversation)
    async def conversation_reopen(self, user: Principal, sid: str, ref: p.ConversationRef) -> dict[str, Any]:
        """Reopen a resolved conversation, assigned to the caller.

        Errors: ``not_resolved``, ``customer_has_open_conversation``."""
        change = await support.reopen(self.hub.pool, user, ref.conversation_id)
        await self._changed(change, CONVERSATION_REOPENED)
        return change.conversation.to_dict()

    @event("chat:join", payload=p.ConversationRef, ack=Conversation)
    async def chat_join(self, user: Principal, sid: str, ref: p.ConversationRef) -> dict[str, Any]:
        """Join a conversation (e.g. a booking's) to receive its messages live."""
        conversation = await self.hub.chat.conversation_for(user, ref.conversation_id)
        await chat_store.add_member(self.hub.pool, conversation.id, user.user_id, user.role.value)
        self.hub.chat.forget(conversation.id)
        return conversation.to_dict()

    async def _changed(self, change: Any, event: ServerEvent, queue_changed: bool = False) -> None:
        self.hub.chat.forget(change.conversation.id)
        await desk.publish_change(self.hub, change, event)
        # A resolve or transfer frees capacity; a pick shortens the queue.
        self.hub.spawn(desk.run_assignment(self.hub, queue_changed=queue_changed))
