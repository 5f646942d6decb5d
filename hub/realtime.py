"""Where server→client events leave: to a person (all their devices), to conversation members,
to the support console. With Redis configured each emit also reaches sockets on other nodes.

Events are ``hub.protocol.ServerEvent`` constants, never strings: whatever leaves here is
declared, and so documented in ``/api/v1/asyncapi.json``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # handed a server and members; imports neither
    import socketio

    from hub.chat.models import Member

if TYPE_CHECKING:
    from hub.protocol import ServerEvent

NAMESPACE_FOR_ROLE = {
    "customer": "/customer",
    "worker": "/worker",
    "support": "/support",
    "admin": "/support",
}
AGENTS_ROOM = "agents"  # every /support socket: queue changes, presence board


def user_room(user_id: str, role: str) -> str:
    """The room of one person's sockets. The role is part of it: ids are unique within a role
    only, and support agents and admins share ``/support``."""
    return f"user:{role}:{user_id}"


class Realtime:
    def __init__(self, sio: socketio.AsyncServer) -> None:
        self.sio = sio

    async def to_user(
        self, user_id: str, role: str, event: ServerEvent, data: Any, skip_sid: str | None = None
    ) -> None:
        await self.sio.emit(
            event.name,
            data,
            room=user_room(user_id, role),
            namespace=NAMESPACE_FOR_ROLE[role],
            skip_sid=skip_sid,
        )

    async def to_members(
        self,
        members: Iterable[Member],
        event: ServerEvent,
        data: Any,
        *,
        agents_only: bool = False,
        skip_member: Member | None = None,
        skip_sid: str | None = None,
    ) -> None:
        """One emit per member room: python-socketio encodes each packet once for all its sockets.

        ``skip_member`` is left out altogether (say, the one typing); ``skip_sid`` spares only the
        socket that caused the event (it has the ack), and the sender's other devices still get it."""
        for member in members:
            if member == skip_member or (agents_only and not member.is_agent):
                continue
            await self.to_user(member.user_id, member.role, event, data, skip_sid)

    async def to_agents(self, event: ServerEvent, data: Any) -> None:
        await self.sio.emit(event.name, data, room=AGENTS_ROOM, namespace="/support")
