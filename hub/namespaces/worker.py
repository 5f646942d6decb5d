"""``/worker``: service workers who receive offers and report their progress."""

from __future__ import annotations

from typing import Any, ClassVar

from hub import acks
from hub.auth import Principal, Role
from hub.namespaces import payloads as p
from hub.namespaces.base import event
from hub.namespaces.common import HubNamespace
from hub.presence import InvalidStatus, Status


async def set_presence(hub_presence: Any, user: Principal, payload: Any) -> dict[str, Any]:
    wanted = acks.parse(p.PresenceSet, payload)
    try:
        state = await hub_presence.set_status(user.user_id, user.role.value, Status(wanted.status))
    except (ValueError, InvalidStatus) as exc:
        raise acks.InvalidPayload(str(exc), code="invalid_status") from None
    result: dict[str, Any] = state.to_dict()
    return result


class WorkerNamespace(HubNamespace):
    allowed_roles: ClassVar[frozenset[Role]] = frozenset({Role.WORKER})

    @event("presence:set")
    async def presence_set(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        """``online`` or ``on_leave``; ``busy`` is the system's to set while a job is in service."""
        return await set_presence(self.hub.presence, user, payload)
