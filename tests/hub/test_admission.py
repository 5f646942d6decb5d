"""Connections are cheap to refuse before any token is read, and one person cannot multiply their
budget: Engine.IO connections that never join a namespace are closed, few may be joining at once
from one address, one person has a bounded number of sockets, and their sockets share one rate
budget besides each socket's own."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from hub.ratelimit import LIMITS, USER_LIMITS
from tests.support.clients import Peer, RawSocket
from tests.support.hubs import RunningHub, StartHub
from tests.support.waiting import WAIT, wait_until


async def test_a_connection_that_joins_no_namespace_is_closed(start_hub: StartHub) -> None:
    hub = await start_hub(HUB_SOCKET_JOIN_TIMEOUT_SECONDS="0.3")
    idle = await RawSocket.open(hub.url)
    joined = await RawSocket.open(hub.url)
    try:
        assert "sid" in await joined.connect("/customer", {"token": hub.token("customer", "c-1")})
        assert await idle.receive() is None  # closed by the hub, within the wait
        await joined.send('2/customer,7["ping"]')  # the one that joined is still served
        assert (await joined.ack("/customer", 7))["ok"] is True
    finally:
        await idle.close()
        await joined.close()


async def test_few_connections_may_be_joining_at_once_from_one_address(start_hub: StartHub) -> None:
    hub = await start_hub(HUB_SOCKET_MAX_PENDING_PER_ADDRESS="3")
    waiting = [await RawSocket.open(hub.url) for _ in range(3)]
    try:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await RawSocket.open(hub.url)
        assert refused.value.status == 401
        # One joins: the address may open another.
        await waiting[0].connect("/customer", {"token": hub.token("customer", "c-1")})
        waiting.append(await RawSocket.open(hub.url))
    finally:
        for raw in waiting:
            await raw.close()


async def test_one_person_has_a_bounded_number_of_sockets(start_hub: StartHub, peers: list[Peer]) -> None:
    hub = await start_hub(HUB_SOCKET_MAX_PER_USER="2")
    token = hub.token("customer", "c-1")
    first = await Peer("/customer").connect(hub.url, token)
    second = await Peer("/customer").connect(hub.url, token)
    peers += [first, second]
    refusal = await hub.refusal("/customer", {"token": token})
    assert refusal["code"] == "too_many_connections"
    # Someone else, and the same id in another role, are other people.
    peers.append(await Peer("/customer").connect(hub.url, hub.token("customer", "c-2")))
    peers.append(await Peer("/worker").connect(hub.url, hub.token("worker", "c-1")))
    await second.close()
    # The slot is free again once the hub has seen the disconnect.
    deadline = asyncio.get_running_loop().time() + WAIT
    while True:
        try:
            peers.append(await Peer("/customer").connect(hub.url, token))
            break
        except Exception:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.05)


async def test_many_sockets_of_one_person_share_one_budget(hub: RunningHub, peers: list[Peer]) -> None:
    token = hub.token("customer", "c-1")
    sockets = [await Peer("/customer").connect(hub.url, token) for _ in range(4)]
    peers += sockets
    per_socket = int(LIMITS["default"].burst)
    # Each socket stays within its own burst; together they exceed the person's.
    loop = asyncio.get_running_loop()
    started = loop.time()
    answers = await asyncio.gather(*(s.call("ping") for s in sockets for _ in range(per_socket - 5)))
    elapsed = loop.time() - started
    limited = [a for a in answers if not a["ok"]]
    allowed = len(answers) - len(limited)
    assert {a["error"]["code"] for a in limited} == {"rate_limited"}
    # The person's bucket refills while the calls are in flight (longer on a busy machine).
    person = USER_LIMITS["default"]
    assert allowed <= person.burst + person.rate * elapsed + 1
    # Another person is not affected.
    other = await Peer("/customer").connect(hub.url, hub.token("customer", "c-2"))
    peers.append(other)
    assert (await other.call("ping"))["ok"] is True


async def test_one_person_cannot_connect_in_a_loop(start_hub: StartHub, peers: list[Peer]) -> None:
    hub = await start_hub(HUB_SOCKET_CONNECTS_PER_USER="0.1")  # a burst of one
    token = hub.token("customer", "c-1")
    first = await Peer("/customer").connect(hub.url, token)
    peers.append(first)
    refusal = await hub.refusal("/customer", {"token": token})
    assert refusal["code"] == "connecting_too_often"
    peers.append(await Peer("/customer").connect(hub.url, hub.token("customer", "c-2")))


async def test_one_address_cannot_connect_in_a_loop(start_hub: StartHub) -> None:
    hub = await start_hub(HUB_SOCKET_CONNECTS_PER_ADDRESS="1")  # bursts of 3
    opened = [await RawSocket.open(hub.url) for _ in range(3)]
    try:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await RawSocket.open(hub.url)
        assert refused.value.status == 401
    finally:
        for raw in opened:
            await raw.close()


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 1492  # 1,500 bytes


async def upload(hub: RunningHub, user: str, body: Any = PNG) -> tuple[int, Any]:
    return await hub.http(
        "POST",
        "/api/v1/uploads",
        hub.token("customer", user),
        data=body,
        headers={"Content-Type": "image/png"},
    )


async def test_uploads_have_a_daily_quota_per_person(start_hub: StartHub) -> None:
    hub = await start_hub(HUB_UPLOAD_QUOTA_BYTES="2048")
    status, first = await upload(hub, "c-1")
    assert status == 201, first
    status, refused = await upload(hub, "c-1")
    assert status == 429, refused
    assert refused["error"]["code"] == "upload_quota_exceeded"
    assert refused["error"]["details"] == {"quota_bytes": 2048, "used_bytes": 1500}
    status, other = await upload(hub, "c-2")
    assert status == 201, other


async def test_one_person_has_few_uploads_in_flight(start_hub: StartHub) -> None:
    hub = await start_hub(HUB_UPLOAD_CONCURRENCY="1")
    # The first upload, by hand: its headers and the start of its body, the rest held back.
    host, port = hub.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (
        f"POST /api/v1/uploads HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {hub.token('customer', 'c-1')}\r\n"
        f"Content-Type: image/png\r\nContent-Length: {len(PNG)}\r\n\r\n"
    )
    writer.write(head.encode() + PNG[:100])
    await writer.drain()
    try:

        async def second_refused() -> bool:
            status, body = await upload(hub, "c-1")
            return status == 429 and body["error"]["code"] == "uploads_in_flight"

        await wait_until(second_refused)  # once the first is in flight
        assert (await upload(hub, "c-2"))[0] == 201  # someone else is not held up
        writer.write(PNG[100:])
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), WAIT)
        assert status_line.startswith(b"HTTP/1.1 201"), status_line
    finally:
        writer.close()
    assert (await upload(hub, "c-1"))[0] == 201  # the slot is free again
