"""Shutdown with many sockets, the room bookkeeping that made it slow, and permessage-deflate.

A node holding 5,000 sockets did not exit on SIGTERM before it was killed: python-socketio looked
through every room of the namespace for each socket that left (hub.rooms), and each socket's
disconnect ran on its own. bench/drain.py measures it at 5,000 sockets; here 1,000 raw websockets
from this process hold a real hub process (``python -m hub serve``).
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio

from hub.rooms import LocalManager
from tests.support.clients import Peer
from tests.support.hubs import RunningHub, StartHub
from tests.support.processes import HubProcess, start_with_many_sockets
from tests.support.waiting import WAIT

SOCKETS = 1000
CONNECTING = 50  # handshakes in flight at once
SIGTERM_DEADLINE = 10.0  # the process's bound with the default settings (docs/protocol.md#shutdown)
GOING_AWAY = 1001


class HeldSocket:
    """One raw Engine.IO websocket on /worker: what the hub said last, and how it closed."""

    def __init__(self, session: aiohttp.ClientSession, url: str, token: str) -> None:
        self.session, self.url, self.token = session, url, token
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.notice: Any = None
        self.close_packet = False
        self.close_code: int | None = None

    async def open(self) -> None:
        self.ws = await self.session.ws_connect(f"{self.url}/socket.io/?EIO=4&transport=websocket")
        assert str((await self.ws.receive(timeout=WAIT)).data).startswith("0{")
        await self.ws.send_str("40/worker," + json.dumps({"token": self.token}))
        joined = str((await self.ws.receive(timeout=WAIT)).data)
        assert joined.startswith("40/worker,{"), joined

    async def read_until_closed(self) -> None:
        assert self.ws is not None
        async for message in self.ws:  # ends at the close frame, or when the connection ends
            data = message.data
            if data == "2":
                await self.ws.send_str("3")
            elif data == "1":
                self.close_packet = True
            elif isinstance(data, str) and data.startswith("42/worker,"):
                name, payload = json.loads(data.removeprefix("42/worker,"))
                if name == "server:shutdown":
                    self.notice = payload
        self.close_code = self.ws.close_code


async def hold(url: str, tokens: list[str], session: aiohttp.ClientSession) -> list[HeldSocket]:
    held = [HeldSocket(session, url, token) for token in tokens]
    gate = asyncio.Semaphore(CONNECTING)

    async def open_one(socket: HeldSocket) -> None:
        async with gate:
            await socket.open()

    async with asyncio.timeout(120):
        await asyncio.gather(*(open_one(socket) for socket in held))
    return held


async def test_sigterm_tells_and_closes_a_thousand_websockets_then_exits(
    processes: list[HubProcess], hub_env: dict[str, str], tmp_path: Path
) -> None:
    hub, tokens = await start_with_many_sockets(
        processes, {**hub_env, "HUB_LOG_LEVEL": "WARNING"}, tmp_path / "hub.log", SOCKETS
    )
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        held = await hold(hub.url, tokens, session)
        readers = [asyncio.create_task(socket.read_until_closed()) for socket in held]
        hub.proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(hub.proc.wait, SIGTERM_DEADLINE)
        # Every connection has ended by the time the process has: the reads end.
        done, _ = await asyncio.wait(readers, timeout=WAIT)
        for reader in readers:
            reader.cancel()
    assert code == 0, hub.output()
    assert len(done) == SOCKETS
    assert [s for s in held if s.notice is None] == [], "sockets the hub did not tell"
    assert {s.notice["reason"] for s in held} == {"shutting_down"}
    assert all(s.close_packet for s in held)
    assert {s.close_code for s in held} == {GOING_AWAY}
    assert "could not be told" not in hub.output()


def assert_same_rooms(indexed: LocalManager, plain: socketio.AsyncManager) -> None:
    """The same members in every room, each socket's own room included: python-socketio keeps
    those as tables of their own, hub.rooms does not."""
    assert set(indexed.rooms) == set(plain.rooms)
    for namespace, rooms in plain.rooms.items():
        own = {room for room in rooms if room is not None and plain.is_sid_room(namespace, room)}
        assert set(indexed.rooms[namespace]) == set(rooms) - own
        for room in rooms:
            members = dict(plain.get_participants(namespace, room))
            assert dict(indexed.get_participants(namespace, room)) == members
        everything = list(rooms)
        assert dict(indexed.get_participants(namespace, everything)) == dict(
            plain.get_participants(namespace, everything)
        )


async def test_a_socket_leaving_leaves_its_rooms_only() -> None:
    """The index of each socket's rooms (hub.rooms) keeps python-socketio's table as python-socketio
    keeps it, through entering, leaving, closing a room and disconnecting."""
    indexed, plain = LocalManager(), socketio.AsyncManager()
    for manager in (indexed, plain):
        server = socketio.AsyncServer(client_manager=manager, async_mode="aiohttp")
        server.eio.generate_id = iter(f"s{i}" for i in range(100)).__next__  # the same sids in both
        sids = [await manager.connect(f"e{i}", "/worker") for i in range(4)]
        for sid in sids:
            await manager.enter_room(sid, "/worker", f"user:{sid}")
            await manager.enter_room(sid, "/worker", "everyone")
        await manager.leave_room(sids[0], "/worker", "everyone")
        await manager.close_room("everyone", "/worker")
        await manager.enter_room(sids[1], "/worker", "late")
        manager.pre_disconnect(sids[1], "/worker")
        assert not manager.is_connected(sids[1], "/worker")
        await manager.disconnect(sids[1], "/worker")
    assert_same_rooms(indexed, plain)
    assert dict(indexed.get_participants("/worker", "s2")) == {"s2": "e2"}  # its own room
    assert indexed.pending_disconnect == plain.pending_disconnect == {}
    for sid in ("s0", "s1", "s2", "s3"):
        assert sorted(indexed.get_rooms(sid, "/worker")) == sorted(plain.get_rooms(sid, "/worker"))
    assert sorted(indexed.get_rooms("s2", "/worker")) == ["s2", "user:s2"]
    assert indexed.get_rooms("s1", "/worker") == []
    # The last socket gone, the namespace goes too, as in python-socketio.
    for manager in (indexed, plain):
        for sid in ("s0", "s2", "s3"):
            await manager.disconnect(sid, "/worker")
    assert indexed.rooms == plain.rooms == {}
    assert not indexed._rooms_of


async def handshake_extensions(url: str) -> str | None:
    """Open a websocket offering permessage-deflate, as browsers and socket.io-client do; the
    ``Sec-WebSocket-Extensions`` of the hub's 101 answer, or None."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), WAIT)
    try:
        writer.write(
            (
                "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                f"Host: {host}:{port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
            ).encode()
        )
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)).decode()
    finally:
        writer.close()
    status, *lines = head.strip().split("\r\n")
    assert status.startswith("HTTP/1.1 101"), head
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return headers.get("sec-websocket-extensions")


@pytest.mark.parametrize(("setting", "accepted"), [(None, False), ("false", False), ("true", True)])
async def test_permessage_deflate_only_when_configured(
    start_hub: StartHub, setting: str | None, accepted: bool
) -> None:
    hub: RunningHub = await start_hub(**({} if setting is None else {"HUB_WS_COMPRESSION": setting}))
    extensions = await handshake_extensions(hub.url)
    if accepted:
        assert extensions is not None
        assert extensions.startswith("permessage-deflate")
    else:
        assert extensions is None
    # Either way sockets connect and work.
    client = await hub.connect("/worker", hub.token("worker", "w-1"))
    assert (await client.call("ping", namespace="/worker", timeout=WAIT))["ok"] is True


@pytest.mark.parametrize("serializer", ["json", "msgpack"])
async def test_shutdown_notice_in_the_hubs_serializer(start_hub: StartHub, serializer: str) -> None:
    """The notice is encoded once per namespace for every socket: in MessagePack it goes out as a
    binary frame, which python-socketio's msgpack client reads like any other event."""
    hub: RunningHub = await start_hub(HUB_SERIALIZER=serializer)
    client_serializer = "msgpack" if serializer == "msgpack" else "default"
    peers = [
        await Peer("/worker", client_serializer).connect(hub.url, hub.token("worker", "w-1")),
        await Peer("/support", client_serializer).connect(hub.url, hub.token("support", "a-1")),
    ]
    gone = [asyncio.Event() for _ in peers]
    for peer, event in zip(peers, gone, strict=True):
        peer.client.on("disconnect", lambda *_, event=event: event.set(), namespace=peer.namespace)
    await hub.server.close()  # the application's shutdown, as on SIGTERM
    for peer, event in zip(peers, gone, strict=True):
        assert (await peer.next("server:shutdown"))["reason"] == "shutting_down"
        await asyncio.wait_for(event.wait(), WAIT)
        await peer.close()
