"""What abusive clients leave behind is forgotten once they have gone: connections the hub closed
for joining no namespace, packets sent after the hub closed a connection, and the connect rates
of people who connected once. Each test drives the growth over real sockets and then looks at
the in-process hub's own structures. A closed connection's objects are freed as it ends, left in
no reference cycle (websocket, polling, or dropped by the network). And what a burst of
connections leaves is given back: a full garbage collection after many have closed, and glibc's
free heap."""

from __future__ import annotations

import gc
import json
from typing import Any

import aiohttp
import pytest

from hub import memory
from hub.app import MEMORY_JOB
from hub.keys import CONTEXT, SIO
from tests.support.clients import Peer, RawSocket
from tests.support.hubs import RunningHub, StartHub
from tests.support.waiting import wait_until

POLLING = "/socket.io/?EIO=4&transport=polling"


def open_connections(hub: RunningHub) -> int:
    """HTTP and websocket connections the hub's server holds (a websocket's handler runs until
    the socket has closed at both ends)."""
    return len(hub.server.runner.server.connections)


async def test_polling_connections_closed_for_joining_nothing_are_forgotten(start_hub: StartHub) -> None:
    hub = await start_hub(HUB_SOCKET_JOIN_TIMEOUT_SECONDS="0.3")
    sio = hub.app[SIO]
    async with aiohttp.ClientSession() as session:
        sids = []
        for _ in range(5):  # handshakes only: the clients never poll again
            async with session.get(hub.url + POLLING) as response:
                assert response.status == 200
                sids.append(json.loads((await response.text())[1:])["sid"])
        # Closed by the join timeout, and nothing of them is kept: python-engineio's disconnect
        # would wait for each to poll its close packet, holding a task and the socket for good.
        await wait_until(lambda: not sio.eio.sockets and not sio._dropping)
        assert not sio._joining
        assert not sio._joining_per_address
        assert not sio.environ
        async with session.get(f"{hub.url}{POLLING}&sid={sids[0]}") as response:
            assert response.status == 400  # a client that does poll learns the session is over


async def test_packets_after_the_hub_closed_a_connection_are_ignored(start_hub: StartHub) -> None:
    hub = await start_hub(HUB_SOCKET_JOIN_TIMEOUT_SECONDS="0.3")
    sio = hub.app[SIO]
    raw = await RawSocket.open(hub.url)
    try:
        assert await raw.receive() is None  # the hub closed it: it joined no namespace in time
        # A client that keeps its end open and asks to join anyway.
        await raw.send(f"0/customer,{json.dumps({'token': hub.token('customer', 'c-1')})}")
    finally:
        await raw.close()
    await wait_until(lambda: open_connections(hub) == 0)  # the hub has read all it was sent
    # python-socketio would have registered the connection in its rooms for good.
    assert not sio.manager.rooms
    assert not sio.manager.pending_connect
    assert not sio.namespace_handlers["/customer"].sockets
    assert not sio.eio.sockets
    assert not sio.environ


async def test_connect_rates_forget_people_who_have_gone(start_hub: StartHub) -> None:
    # A rate so high that a bucket refills within a microsecond of being used: whatever connected
    # before the last connection is as good as never seen.
    hub = await start_hub(HUB_SOCKET_CONNECTS_PER_USER="1000000")
    rates = hub.app[SIO].namespace_handlers["/customer"]._connects
    for i in range(20):
        peer = await Peer("/customer").connect(hub.url, hub.token("customer", f"c-{i}"))
        await peer.close()
    last = await Peer("/customer").connect(hub.url, hub.token("customer", "c-last"))
    try:
        assert len(rates) == 1  # c-last's: the twenty others' buckets were full again, so dropped
    finally:
        await last.close()


async def test_a_burst_of_closed_connections_is_collected_once_it_is_over(
    start_hub: StartHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = await start_hub()
    assert MEMORY_JOB in hub.app[CONTEXT].timers.pending()  # the job below, once a minute
    sio = hub.app[SIO]
    release = memory.Release(lambda: sio.connections_closed)
    monkeypatch.setattr(memory, "COLLECT_AFTER_CLOSED", 5)
    full: list[dict[str, Any]] = []

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info["generation"] == 2:
            full.append(info)

    gc.callbacks.append(on_gc)
    try:
        for _ in range(5):
            await (await RawSocket.open(hub.url)).close()
        await wait_until(lambda: sio.connections_closed >= 5)
        full.clear()
        await release()
        assert full  # what they may have left in reference cycles, collected at once
        full.clear()
        await release()
        assert not full  # nothing closed since: no pause for a full collection
    finally:
        gc.callbacks.remove(on_gc)


async def test_large_blocks_are_mapped_on_their_own_unless_the_operator_chose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not memory.on_glibc():
        pytest.skip("only glibc's allocator is told what to do")
    assert memory.keep_large_blocks_mapped()
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert not memory.keep_large_blocks_mapped()


# What the hub keeps of one connection; none of it may be left in a reference cycle once closed.
SERVER_SIDE = (
    "hub.namespaces.",
    "hub.web.",
    "engineio.async_socket",
    "aiohttp.web_request",
    "aiohttp.web_ws",
    "aiohttp.web_protocol",
)


async def connect_by_polling(session: aiohttp.ClientSession, hub: RunningHub, user: str) -> str:
    """A Socket.IO connection over long-polling to ``/customer``; its Engine.IO sid."""
    async with session.get(hub.url + POLLING) as response:
        sid = json.loads((await response.text())[1:])["sid"]
    joining = "40/customer," + json.dumps({"token": hub.token("customer", user)})
    async with session.post(f"{hub.url}{POLLING}&sid={sid}", data=joining) as response:
        assert response.status == 200
    async with session.get(f"{hub.url}{POLLING}&sid={sid}") as response:
        assert (await response.text()).startswith("40/customer,")
    return str(sid)


@pytest.mark.parametrize("transport", ["websocket", "polling", "dropped"])
async def test_a_closed_connection_is_freed_without_a_garbage_collection(
    start_hub: StartHub, transport: str
) -> None:
    """Freed as soon as the connection ends, by reference counting: a reference cycle would leave
    its objects to a full collection, which pauses the hub for as long as it walks every live
    object (``hub.memory``)."""
    hub = await start_hub(HUB_SOCKET_CONNECTS_PER_ADDRESS="1000")
    sio = hub.app[SIO]
    clients = []
    raws: list[RawSocket] = []
    async with aiohttp.ClientSession() as session:
        if transport == "websocket":
            clients = [await hub.connect("/customer", hub.token("customer", f"c-{n}")) for n in range(3)]
        elif transport == "dropped":  # the network goes: no close frame, the TCP connection reset
            raws = [await RawSocket.open(hub.url) for _ in range(3)]
            for n, raw in enumerate(raws):
                assert "sid" in await raw.connect("/customer", {"token": hub.token("customer", f"c-{n}")})
        else:
            sids = [await connect_by_polling(session, hub, f"c-{n}") for n in range(3)]
        gc.collect()
        gc.disable()  # nothing is collected behind the test's back from here
        try:
            closed = sio.connections_closed
            for client in clients:
                await client.disconnect()
            for raw in raws:
                transport_of = raw.ws._response.connection.transport  # type: ignore[union-attr]
                transport_of.abort()
                await raw.session.close()
            if transport == "polling":
                for sid in sids:  # the Engine.IO CLOSE packet, then a poll, which learns it is over
                    async with session.post(f"{hub.url}{POLLING}&sid={sid}", data="1") as response:
                        assert response.status == 200
                    async with session.get(f"{hub.url}{POLLING}&sid={sid}") as response:
                        assert response.status == 400
            await wait_until(lambda: sio.connections_closed - closed >= 3)
            await wait_until(lambda: not sio.eio.sockets)
            await session.close()
            await wait_until(lambda: open_connections(hub) == 0)
            gc.set_debug(gc.DEBUG_SAVEALL)
            gc.collect()
            left = {
                f"{type(o).__module__}.{type(o).__qualname__}"
                for o in gc.garbage
                if type(o).__module__.startswith(SERVER_SIDE)
            }
            assert left == set()
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
