"""End to end: a person without a foreground socket gets a signed push through the hub."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.keys import CONTEXT
from hub.push.inbox import NewNotification, notify
from tests.support.clients import Peer
from tests.support.hubs import RunningHub, StartHub
from tests.support.services import free_port
from tests.support.waiting import WAIT

SECRET = "webhook-secret-for-tests-0123456789"


class Receiver:
    """A webhook endpoint that checks the signature exactly as a real receiver must."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        app = web.Application()
        app.router.add_post("/hook", self.hook)
        self.server = TestServer(app, host="127.0.0.1", port=free_port())

    async def hook(self, request: web.Request) -> web.Response:
        raw = await request.read()
        timestamp = request.headers["X-Hub-Timestamp"]
        expected = (
            "sha256=" + hmac.new(SECRET.encode(), timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
        )
        if not hmac.compare_digest(expected, request.headers["X-Hub-Signature"]):
            return web.Response(status=401)
        assert abs(time.time() - int(timestamp)) < 300
        await self.received.put(json.loads(raw))
        return web.Response(status=204)

    @property
    def url(self) -> str:
        return str(self.server.make_url("/hook"))

    async def next(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.received.get(), WAIT)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.server.start_server()
    yield r
    await r.server.close()


async def register(hub: RunningHub, role: str, user: str, url: str) -> None:
    status, body = await hub.http(
        "POST", "/api/v1/devices", hub.token(role, user), json={"platform": "webhook", "token": url}
    )
    assert status in (200, 201), body


async def test_notification_pushed_only_when_nobody_sees_it(start_hub: StartHub, receiver: Receiver) -> None:
    hub = await start_hub(HUB_WEBHOOK_SECRET=SECRET, HUB_WEBHOOK_ALLOWED_HOSTS="127.0.0.1")
    await register(hub, "worker", "w-1", receiver.url)
    pool = hub.app[CONTEXT].pool

    async def send(title: str, kind: str = "booking.updated") -> None:
        async with pool.acquire() as conn, conn.transaction():
            await notify(conn, NewNotification("w-1", "worker", kind, title, "details"))

    await send("while offline", kind="offer")
    pushed = await receiver.next()
    assert (pushed["title"], pushed["user_id"], pushed["urgent"]) == ("while offline", "w-1", True)

    worker = await Peer("/worker").connect(hub.url, hub.token("worker", "w-1"))
    try:
        await send("while watching")
        assert (await worker.next("notification"))["title"] == "while watching"
        await worker.ok("app:state", {"state": "background"})
        await send("while in the background")
        assert (await worker.next("notification"))["title"] == "while in the background"
        pushed = await receiver.next()
        assert pushed["title"] == "while in the background"  # the foreground one was never pushed
        assert receiver.received.empty()
    finally:
        await worker.close()


async def test_chat_message_pushed_to_an_offline_customer(start_hub: StartHub, receiver: Receiver) -> None:
    hub = await start_hub(HUB_WEBHOOK_SECRET=SECRET, HUB_WEBHOOK_ALLOWED_HOSTS="127.0.0.1")
    await register(hub, "customer", "c-1", receiver.url)
    agent = await Peer("/support").connect(hub.url, hub.token("support", "a-1"))
    customer = await Peer("/customer").connect(hub.url, hub.token("customer", "c-1"))
    try:
        conv = (await customer.ok("support:open"))["conversation"]["id"]
        await customer.close()
        await agent.ok(
            "chat:send", {"conversation_id": conv, "client_id": "n", "body": "internal", "private": True}
        )
        await agent.ok(
            "chat:send", {"conversation_id": conv, "client_id": "1", "body": "Your refund is on its way"}
        )
        pushed = await receiver.next()
        assert pushed["kind"] == "chat.message"
        assert pushed["body"] == "Your refund is on its way"  # the private note was never pushed
        assert pushed["data"]["conversation_id"] == conv
    finally:
        await agent.close()


async def test_offer_to_a_worker_without_a_socket_is_an_urgent_push(
    start_hub: StartHub, receiver: Receiver
) -> None:
    """Quiet hours all day long: only an urgent push may get through, and the offer does."""
    from tests.support.bookings import add_service, add_worker, book_and_pay

    hub = await start_hub(
        HUB_WEBHOOK_SECRET=SECRET, HUB_WEBHOOK_ALLOWED_HOSTS="127.0.0.1", HUB_BOOKING_MIN_LEAD_MINUTES="0"
    )
    pool = hub.app[CONTEXT].pool
    await add_service(pool)
    await add_worker(pool, "w-1")
    await register(hub, "worker", "w-1", receiver.url)
    status, _ = await hub.http(
        "PUT",
        "/api/v1/notification-preferences",
        hub.token("worker", "w-1"),
        json={"quiet_hours": {"start": "00:00", "end": "23:59", "time_zone": "Asia/Shanghai"}},
    )
    assert status == 200
    booking = await book_and_pay(hub)
    pushed = await receiver.next()
    assert (pushed["kind"], pushed["urgent"], pushed["user_id"]) == ("offer", True, "w-1")
    assert pushed["data"]["booking_id"] == booking["id"]
