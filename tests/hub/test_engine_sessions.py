"""Engine.IO sessions as the hub serves them (hub.namespaces.session): an idle websocket holds no
task of its own, the heartbeat still ends a client that stopped answering, packets still go out
in order, sessions started on long-polling still upgrade; and the pieces they are made of, the
queue that holds nothing while empty and the deadlines on one timer."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
import socketio

from hub.deadlines import REBUILD_AT, Deadlines
from hub.keys import SIO
from hub.namespaces.session import HubSocket, SessionQueue
from tests.support.hubs import RunningHub, StartHub
from tests.support.waiting import WAIT, wait_until

WEBSOCKET = "/socket.io/?EIO=4&transport=websocket"


def tasks_besides_aiohttps() -> list[str]:
    """The running tasks, but for aiohttp's two of each connection."""
    names = [getattr(task.get_coro(), "__qualname__", "") for task in asyncio.all_tasks()]
    return sorted(name for name in names if not name.startswith("RequestHandler."))


async def joined_websocket(session: aiohttp.ClientSession, hub: RunningHub, sub: str) -> Any:
    """A raw Engine.IO websocket joined to /customer, answering nothing by itself."""
    ws = await session.ws_connect(hub.url + WEBSOCKET)
    opening = await ws.receive(timeout=WAIT)
    assert opening.data.startswith("0{")
    await ws.send_str("40/customer," + json.dumps({"token": hub.token("customer", sub)}))
    joined = await ws.receive(timeout=WAIT)
    assert joined.data.startswith("40/customer,{"), joined
    return ws


async def test_idle_websocket_sessions_hold_no_task(hub: RunningHub) -> None:
    eio = hub.app[SIO].eio
    async with aiohttp.ClientSession() as session:  # raw websockets: no task on the client's side
        sockets = [await joined_websocket(session, hub, "c-0")]
        await wait_until(lambda: not any(s.queue.qsize() for s in eio.sockets.values()))
        with_one = tasks_besides_aiohttps()
        sockets += [await joined_websocket(session, hub, f"c-{i}") for i in range(1, 10)]
        await wait_until(lambda: not any(s.queue.qsize() for s in eio.sockets.values()))
        # python-engineio kept four tasks for each (a writer, its read of the queue, a read, the
        # next ping); what grows with the sockets now is aiohttp's two for each connection.
        with_ten = tasks_besides_aiohttps()
        assert len(with_ten) - len(with_one) < 9  # the hub's own come and go, but not one a socket
        assert not [name for name in with_ten if "Socket" in name or "Queue" in name]
        assert all(isinstance(s, HubSocket) and s.upgraded for s in eio.sockets.values())
        assert len(eio.pings) == 10  # each one's next ping, on one timer
        for ws in sockets:  # and each still answers
            await ws.send_str('42/customer,7["ping"]')
            answer = await ws.receive(timeout=WAIT)
            assert answer.data.startswith("43/customer,7[{"), answer


async def test_a_client_that_stops_answering_pings_is_dropped(start_hub: StartHub) -> None:
    hub = await start_hub()
    eio = hub.app[SIO].eio
    eio.ping_interval, eio.ping_timeout = 0.2, 0.4  # before the first connection starts the sweep
    customers = hub.app[SIO].namespace_handlers["/customer"]
    async with aiohttp.ClientSession() as session:
        silent = await joined_websocket(session, hub, "c-silent")
        answering = await joined_websocket(session, hub, "c-answering")
        pings = 0

        async def answer() -> None:
            nonlocal pings
            async for message in answering:
                if message.data == "2":
                    pings += 1
                    await answering.send_str("3")

        answerer = asyncio.create_task(answer())
        try:
            got = []
            async with asyncio.timeout(WAIT):
                async for message in silent:  # a ping, unanswered, then the websocket closes
                    got.append(message.data)
            assert got == ["2"]
            assert silent.closed
            await wait_until(lambda: [s.user.user_id for s in customers.sockets.values()] == ["c-answering"])
            await wait_until(lambda: pings >= 3)  # still pinged, still there
            assert not answering.closed
        finally:
            answerer.cancel()
            await asyncio.gather(answerer, return_exceptions=True)
            await answering.close()


async def test_a_burst_of_packets_arrives_in_order(hub: RunningHub) -> None:
    client = await hub.connect("/customer", hub.token("customer", "c-1"))
    got: list[int] = []
    client.on("count", got.append, namespace="/customer")
    sio = hub.app[SIO]
    [sid] = list(sio.namespace_handlers["/customer"].sockets)
    for i in range(300):  # queued faster than they can be written
        await sio.emit("count", i, to=sid, namespace="/customer")
    await wait_until(lambda: len(got) == 300)
    assert got == list(range(300))


async def test_sessions_started_on_long_polling_upgrade(hub: RunningHub) -> None:
    client = socketio.AsyncClient(reconnection=False)
    token = hub.token("customer", "c-1")
    await client.connect(
        hub.url, namespaces=["/customer"], auth={"token": token}, transports=["polling", "websocket"]
    )
    try:
        await wait_until(lambda: client.eio.current_transport == "websocket")
        [session] = hub.app[SIO].eio.sockets.values()
        assert isinstance(session, HubSocket)
        await wait_until(lambda: session.upgraded)
        assert (await client.call("ping", namespace="/customer", timeout=WAIT))["ok"] is True
        got: list[Any] = []
        client.on("hello", got.append, namespace="/customer")
        await hub.app[SIO].emit("hello", {"n": 1}, namespace="/customer")
        await wait_until(lambda: got == [{"n": 1}])
    finally:
        await client.disconnect()
    await wait_until(lambda: not hub.app[SIO].eio.sockets)
    await wait_until(lambda: not hub.app[SIO].namespace_handlers["/customer"].sockets)


async def test_a_session_whose_connection_drops_ends(hub: RunningHub) -> None:
    customers = hub.app[SIO].namespace_handlers["/customer"]
    async with aiohttp.ClientSession() as session:
        ws = await joined_websocket(session, hub, "c-1")
        await wait_until(lambda: len(customers.sockets) == 1)
        ws._response.connection.transport.abort()  # no close frame: the connection is just gone
    await wait_until(lambda: not customers.sockets)
    await wait_until(lambda: not hub.app[SIO].eio.sockets and not hub.app[SIO].eio.websockets)


# The queue ------------------------------------------------------------------------------------


async def test_the_queue_is_first_in_first_out_and_holds_nothing_once_empty() -> None:
    queue = SessionQueue()
    assert queue.empty()
    assert queue.qsize() == 0
    for item in ("a", "b", None):
        await queue.put(item)
    assert queue.qsize() == 3
    assert [queue.get_nowait() for _ in range(3)] == ["a", "b", None]
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()
    assert queue._items is None
    assert queue._getters is None
    assert queue._joiners is None


async def test_a_waiting_get_takes_the_next_put() -> None:
    queue = SessionQueue()
    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("x")
    assert await asyncio.wait_for(getter, WAIT) == "x"
    with pytest.raises(TimeoutError):  # as python-engineio's poll waits: a timeout leaves no getter
        await asyncio.wait_for(queue.get(), 0.01)
    assert queue._getters is None
    queue.put_nowait("y")
    assert await queue.get() == "y"


async def test_a_cancelled_getter_passes_its_item_on() -> None:
    queue = SessionQueue()
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("only")  # wakes the first getter...
    first.cancel()  # ...which is cancelled before it runs
    assert await asyncio.wait_for(second, WAIT) == "only"
    assert first.cancelled()


async def test_join_waits_until_every_item_is_done() -> None:
    queue = SessionQueue()
    await queue.join()  # nothing queued: at once
    queue.put_nowait(1)
    queue.put_nowait(2)
    joined = asyncio.create_task(queue.join())
    queue.get_nowait()
    queue.task_done()
    await asyncio.sleep(0)
    assert not joined.done()
    queue.get_nowait()
    queue.task_done()
    await asyncio.wait_for(joined, WAIT)
    with pytest.raises(ValueError, match="too many times"):
        queue.task_done()


# Deadlines ------------------------------------------------------------------------------------


async def test_deadlines_come_due_in_order_on_one_timer() -> None:
    loop = asyncio.get_running_loop()
    fired: list[str] = []
    deadlines = Deadlines(lambda key, when: fired.append(key), lambda key, when: key != "dropped")
    now = loop.time()
    for key, delay in (("c", 0.06), ("a", 0.02), ("dropped", 0.03), ("b", 0.04)):
        deadlines.add(key, now + delay)
    deadlines.dropped()
    await wait_until(lambda: len(fired) == 3)
    assert fired == ["a", "b", "c"]
    assert len(deadlines) == 0
    assert deadlines._timer is None


async def test_deadlines_that_no_longer_matter_do_not_pile_up() -> None:
    wanted = {"kept"}
    deadlines = Deadlines(lambda key, when: None, lambda key, when: key in wanted)
    far = asyncio.get_running_loop().time() + 3600  # a long-lived token's expiry
    deadlines.add("kept", far)
    for i in range(REBUILD_AT * 3):  # sockets that came and went
        deadlines.add(f"gone-{i}", far)
        deadlines.dropped()
    assert len(deadlines) < REBUILD_AT * 2
    assert ("kept" in [key for _, key in deadlines._heap]) is True
    deadlines.close()


def test_deadlines_already_past_on_uvloop() -> None:
    """uvloop's ``call_at`` for a time already past gives a plain ``Handle`` (no ``when()``): a
    deadline added after one that was due at once must still be ordered against it. (Under load a
    session's next ping can be due before its timer is set; this raised on every PONG.)"""
    import uvloop

    async def run() -> list[str]:
        fired: list[str] = []
        deadlines = Deadlines(lambda key, when: fired.append(key), lambda key, when: True)
        now = asyncio.get_running_loop().time()
        deadlines.add("past", now - 1.0)
        deadlines.add("soon", now + 0.01)
        deadlines.add("also past", now - 0.5)
        await wait_until(lambda: len(fired) == 3)
        return fired

    loop = uvloop.new_event_loop()
    try:
        assert loop.run_until_complete(asyncio.wait_for(run(), WAIT)) == ["past", "also past", "soon"]
    finally:
        loop.close()
