"""``/customer``: people who book services, chat with support and track their worker."""

from __future__ import annotations

from typing import Any, ClassVar

from hub import desk
from hub.auth import Principal, Role
from hub.chat import support
from hub.namespaces import payloads as p
from hub.namespaces import replies as r
from hub.namespaces.base import event
from hub.namespaces.common import HubNamespace
from hub.presence import Status
from hub.storage import chat as chat_store


class CustomerNamespace(HubNamespace):
    allowed_roles: ClassVar[frozenset[Role]] = frozenset({Role.CUSTOMER})

    @event("support:open", payload=None, ack=r.SupportOpened)
    async def support_open(self, user: Principal, sid: str, payload: None) -> dict[str, Any]:
        """The customer's one open support conversation (created if needed), assigned at once if
        an agent has room, otherwise waiting with its queue position."""
        opened = await support.open_support(self.hub.pool, user)
        conversation, position = opened.conversation, None
        if conversation.status == "queued":
            await desk.run_assignment(self.hub, queue_changed=opened.created)
            # Read after the pass, in one snapshot: another node's pass may have assigned it too.
            read = await chat_store.with_queue_position(self.hub.pool, conversation.id)
            if read is not None:
                conversation, position = read
        return {"conversation": conversation.to_dict(), "created": opened.created, "position": position}

    @event("support:availability", payload=None, ack=r.Availability)
    async def support_availability(self, user: Principal, sid: str, payload: None) -> dict[str, Any]:
        """Whether a support agent is online now."""
        online = await self.hub.presence.count("support", Status.ONLINE)
        return {"available": online > 0, "online_agents": online}

    @event("conversation:csat", payload=p.Csat, ack=None)
    async def conversation_csat(self, user: Principal, sid: str, rating: p.Csat) -> None:
        """Rate a resolved support conversation, once.

        Errors: ``not_resolved``, ``csat_already_given``."""
        await support.rate(self.hub.pool, user, rating.conversation_id, rating.score, rating.comment)
