"""``/worker``: service workers, who choose their status here. Offers and job steps are events an
extension (``bookings``) adds to this namespace."""

from __future__ import annotations

from typing import Any, ClassVar

from hub.auth import Principal, Role
from hub.namespaces import payloads as p
from hub.namespaces.base import event
from hub.namespaces.common import HubNamespace
from hub.protocol import PresenceState


class WorkerNamespace(HubNamespace):
    allowed_roles: ClassVar[frozenset[Role]] = frozenset({Role.WORKER})

    @event("presence:set", payload=p.PresenceSet, ack=PresenceState)
    async def presence_set(self, user: Principal, sid: str, wanted: p.PresenceSet) -> dict[str, Any]:
        """Choose ``online`` or ``on_leave``; ``busy`` is the system's to set while a job is in
        service. While on leave, connected or not, the worker gets no offers.

        Errors: ``invalid_status``."""
        return await self.choose_status(user, wanted)
