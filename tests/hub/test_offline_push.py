"""End to end: a person without a foreground socket gets a signed push through the hub."""

from __future__ import annotations

import uuid

from hub.keys import CONTEXT
from hub.push.inbox import NewNotification, notify
from tests.support.clients import Peer
from tests.support.hubs import StartHub
from tests.support.webhooks import SECRET, Receiver, register


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


async def test_devices_and_preferences_are_per_role_and_id(start_hub: StartHub, receiver: Receiver) -> None:
    hub = await start_hub(HUB_WEBHOOK_SECRET=SECRET, HUB_WEBHOOK_ALLOWED_HOSTS="127.0.0.1")
    # A worker and a customer who share an id: two people, each with a phone.
    worker_phone, customer_phone = f"{receiver.url}?worker", f"{receiver.url}?customer"
    await register(hub, "worker", "x-1", worker_phone)
    await register(hub, "customer", "x-1", customer_phone)
    worker, customer = hub.token("worker", "x-1"), hub.token("customer", "x-1")
    _, theirs = await hub.http("GET", "/api/v1/devices", worker)
    _, mine = await hub.http("GET", "/api/v1/devices", customer)
    assert [d["token"] for d in theirs["items"]] == [worker_phone]
    assert [d["token"] for d in mine["items"]] == [customer_phone]
    status, _ = await hub.http("DELETE", f"/api/v1/devices/{theirs['items'][0]['id']}", customer)
    assert status == 404
    # The customer's preferences are the customer's: the worker's offers still reach the worker.
    off = {"kinds": {"offer": {"in_app": False, "push": False}}}
    assert (await hub.http("PUT", "/api/v1/notification-preferences", customer, json=off))[0] == 200
    _, unchanged = await hub.http("GET", "/api/v1/notification-preferences", worker)
    assert unchanged["kinds"] == {}
    pool = hub.app[CONTEXT].pool
    async with pool.acquire() as conn, conn.transaction():
        offer = await notify(conn, NewNotification("x-1", "worker", "offer", "a job nearby", ""))
    pushed = await receiver.next()
    assert (pushed["title"], pushed["user_id"], pushed["role"]) == ("a job nearby", "x-1", "worker")
    # Queued for each device at once: one delivery means the customer's phone was never among them.
    deliveries = await pool.fetch(
        "SELECT d.token FROM push_deliveries p JOIN push_devices d ON d.id = p.device_id"
        " WHERE p.notification_id = $1",
        uuid.UUID(offer["id"]),
    )
    assert [r["token"] for r in deliveries] == [worker_phone]
