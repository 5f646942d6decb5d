"""python-socketio's room bookkeeping, with each socket's rooms indexed.

python-socketio finds the rooms of a socket that leaves by testing every room of its namespace,
and every socket has two rooms of its own (its sid's, and the hub's user room): each disconnect
costs time in proportion to the sockets connected, and a node dropping its 5,000 sockets on
SIGTERM spent about 27 s of CPU in that loop (25 million tests), and was killed before it
exited. Here each socket's rooms are kept beside python-socketio's table, so leaving costs the
rooms the socket is in. Its sockets that are being disconnected are a set for the same reason
(python-socketio keeps a list, searched and trimmed once per socket).

Each socket's room of its own (named after its sid, which python-socketio makes for every socket
so that an emit can be addressed to it) is not a table of its own here: its one member is the
socket, known from the namespace's room of every socket. python-socketio keeps it as a two-way
table (``bidict``) of two dicts, about 500 bytes for every connected socket.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet

log = logging.getLogger(__name__)

Room = str | None  # None: the namespace's room of every socket


class IndexedRooms:
    """Mixed into a python-socketio manager (before it): the same rooms, each socket's indexed.

    Every change to membership goes through ``basic_enter_room`` and ``basic_leave_room`` in
    python-socketio (``basic_close_room`` and ``basic_disconnect`` call the latter), so the index
    follows the table.
    """

    rooms: dict[str, dict[Room, Any]]
    callbacks: dict[str, Any]
    pending_connect: dict[str, list[str]]
    pending_disconnect: dict[str, set[str]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # namespace -> sid -> its rooms, in the order it entered them: a tuple, as a socket is in
        # a few rooms that rarely change (a dict of them, and a key pair, cost 300 bytes a socket)
        self._rooms_of: dict[str, dict[str, tuple[Room, ...]]] = {}

    def basic_enter_room(self, sid: str, namespace: str, room: Room, eio_sid: str | None = None) -> None:
        if room != sid:  # a socket's own room is only indexed (python-socketio enters it second)
            super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)  # type: ignore[misc]
        indexed = self._rooms_of.setdefault(namespace, {})
        rooms = indexed.get(sid, ())
        if room not in rooms:
            indexed[sid] = (*rooms, room)

    def basic_leave_room(self, sid: str, namespace: str, room: Room) -> None:
        if room != sid:
            super().basic_leave_room(sid, namespace, room)  # type: ignore[misc]
        indexed = self._rooms_of.get(namespace)
        rooms = () if indexed is None else indexed.get(sid, ())
        if indexed is None or room not in rooms:
            return
        left = tuple(r for r in rooms if r != room)
        if left:
            indexed[sid] = left
            return
        del indexed[sid]
        if not indexed:
            del self._rooms_of[namespace]

    def get_participants(self, namespace: str, room: Room | list[Room]) -> Iterator[tuple[str, str]]:
        """python-socketio's: (sid, Engine.IO sid) of every socket in ``room`` (or in any of a
        list of rooms), a socket's own room included."""
        rooms = self.rooms.get(namespace, {})
        if isinstance(room, list | tuple):
            participants: dict[str, str] = {}
            for each in room:
                participants.update(self._members(namespace, rooms, each))
        else:
            participants = dict(self._members(namespace, rooms, room))
        yield from participants.items()

    def _members(self, namespace: str, rooms: dict[Room, Any], room: Room) -> Mapping[str, str]:
        members = rooms.get(room)
        if members is not None:
            forward: Mapping[str, str] = members._fwdm  # the bidict's own dict, as python-socketio reads it
            return forward
        if room is not None and room in self._rooms_of_sid(namespace, room):
            return {room: rooms[None][room]}  # a socket's own room: the socket
        return {}

    def get_rooms(self, sid: str, namespace: str) -> list[str]:
        return [room for room in self._rooms_of_sid(namespace, sid) if room is not None]

    def _rooms_of_sid(self, namespace: str, sid: str) -> tuple[Room, ...]:
        return self._rooms_of.get(namespace, {}).get(sid, ())

    def pre_disconnect(self, sid: str, namespace: str) -> str | None:
        self.pending_disconnect.setdefault(namespace, set()).add(sid)
        eio_sid: str | None = self.rooms[namespace][None].get(sid)
        return eio_sid

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        """python-socketio's, with the socket's rooms taken from the index."""
        if namespace not in self.rooms:
            return
        for room in self._rooms_of_sid(namespace, sid):
            self.basic_leave_room(sid, namespace, room)
        self.callbacks.pop(sid, None)
        connecting = self.pending_connect.get(namespace)
        if connecting is not None and sid in connecting:
            connecting.remove(sid)
            if not connecting:
                del self.pending_connect[namespace]
        leaving = self.pending_disconnect.get(namespace)
        if leaving is not None and sid in leaving:
            leaving.discard(sid)
            if not leaving:
                del self.pending_disconnect[namespace]


class DirectEmit(socketio.AsyncManager):  # type: ignore[misc]
    """python-socketio's delivery of an emit to this node's sockets, without a task per socket.

    python-socketio encodes the packet once, then starts a task per recipient and waits for
    them all; each task only puts the packet on its socket's Engine.IO queue (unbounded: the
    put never waits), which its writer task sends. The tasks were a fifth of the cost of an emit
    to one socket, and most of the hub's own cost per delivery in a fan-out to 1,000 sockets.
    Here the packets are queued one socket after the other, in the order of the call, so two
    emits to the same socket always leave in the order they were made. What changes: a socket
    whose client stopped answering pings is closed (and its disconnect handled) by python-engineio
    when something is sent to it, which now delays the sockets after it in the same emit, as it
    already delayed the emit's return; and a room with no recipient on this node costs no
    encoding. Emits with a callback (an ack per socket) take python-socketio's path.

    A pub/sub manager delivers through ``super().emit`` from its message handler, which is this
    method when this class comes after the pub/sub manager in the bases (``hub.fanout``).
    """

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        if callback:
            await super().emit(event, data, namespace, room, skip_sid, callback, to, **kwargs)
            return
        room = to or room
        if namespace not in self.rooms:
            return
        skip = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        targets = [eio_sid for sid, eio_sid in self.get_participants(namespace, room) if sid not in skip]
        if not targets:
            return
        # As python-socketio does: a tuple is several arguments, None none, anything else one.
        args = list(data) if isinstance(data, tuple) else [] if data is None else [data]
        encoded = self.server.packet_class(packet.EVENT, namespace=namespace, data=[event, *args]).encode()
        frames = [
            eio_packet.Packet(eio_packet.MESSAGE, part)
            for part in (encoded if isinstance(encoded, list) else [encoded])
        ]
        for eio_sid in targets:
            for frame in frames:
                try:
                    await self.server._send_eio_packet(eio_sid, frame)
                except Exception as exc:  # a socket closing meanwhile; the others still get it
                    log.debug("sending %s to %s failed: %r", event, eio_sid, exc)


class LocalManager(IndexedRooms, DirectEmit):
    """The manager of a hub that runs alone (no ``HUB_REDIS_URL``)."""
