"""``/worker``: service workers, who choose their status here. Offers and job steps are events an
extension (``bookings``) adds to this namespace."""

from __future__ import annotations

from typing import Any, ClassVar

from hub.auth import Principal, Role
from hub.namespaces.base import event
from hub.namespaces.common import HubNamespace


class WorkerNamespace(HubNamespace):
    allowed_roles: ClassVar[frozenset[Role]] = frozenset({Role.WORKER})

    @event("presence:set")
    async def presence_set(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        """``online`` or ``on_leave``; ``busy`` is the system's to set while a job is in service."""
        return await self.choose_status(user, payload)
