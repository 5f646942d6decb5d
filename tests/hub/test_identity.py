"""Identity is (role, id): a token of one role whose ``sub`` is someone else's id in another role
reaches nothing of that person's: not their conversations, inbox, receipts or live events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from hub.chat.bookings import open_booking_conversation
from hub.keys import CONTEXT
from hub.push.inbox import NewNotification, notify
from tests.support.clients import Peer
from tests.support.hubs import RunningHub

Connect = Callable[..., Awaitable[Peer]]


@pytest.fixture
async def connect(hub: RunningHub) -> AsyncIterator[Connect]:
    peers: list[Peer] = []

    async def open_peer(namespace: str, role: str, sub: str) -> Peer:
        peer = await Peer(namespace).connect(hub.url, hub.token(role, sub))
        peers.append(peer)
        return peer

    yield open_peer
    for peer in peers:
        await peer.close()


async def tell(hub: RunningHub, user_id: str, role: str, title: str) -> dict[str, Any]:
    async with hub.app[CONTEXT].pool.acquire() as conn, conn.transaction():
        return await notify(conn, NewNotification(user_id, role, "booking.updated", title, ""))


async def message_count(hub: RunningHub) -> int:
    return int(await hub.app[CONTEXT].pool.fetchval("SELECT count(*) FROM messages"))


async def assert_gets_nothing(hub: RunningHub, impostor: Peer, conv: str) -> None:
    """Everything the impostor may ask about the victim's conversation and inbox comes back empty."""
    before = await message_count(hub)
    send = {"conversation_id": conv, "client_id": "m-1", "body": "posing as them"}
    assert await impostor.error("chat:send", send) == "conversation_not_found"
    assert await message_count(hub) == before
    assert await impostor.error("chat:history", {"conversation_id": conv}) == "conversation_not_found"
    assert await impostor.error("chat:read", {"conversation_id": conv, "seq": 1}) == "conversation_not_found"
    listed = await impostor.ok("conversations:list")
    assert listed == {"items": [], "next_cursor": None, "unread": 0}
    synced = await impostor.ok("sync", {"notifications_since": 0, "conversations": {}})
    assert synced["conversations"] == {}  # not even the ids of the victim's conversations
    assert synced["notifications"]["items"] == []
    assert synced["notifications_unread"] == 0
    assert (await impostor.ok("notifications:list"))["items"] == []
    assert await impostor.error("notifications:read", {"seq": 1}) == "notification_not_found"


async def test_a_worker_with_a_customers_id_gets_nothing_of_theirs(hub: RunningHub, connect: Connect) -> None:
    agent = await connect("/support", "support", "a-1")
    customer = await connect("/customer", "customer", "c-1")
    conv = (await customer.ok("support:open"))["conversation"]["id"]
    await customer.ok("chat:send", {"conversation_id": conv, "client_id": "m-1", "body": "hello"})
    await tell(hub, "c-1", "customer", "for the customer")
    await customer.next("notification")
    impostor = await connect("/worker", "worker", "c-1")

    await assert_gets_nothing(hub, impostor, conv)

    # Live: the customer's next message and notification reach the customer, not the impostor.
    await agent.ok("chat:send", {"conversation_id": conv, "client_id": "r-1", "body": "how can I help?"})
    await tell(hub, "c-1", "customer", "again for the customer")
    assert (await customer.next_where("chat:message", lambda m: m["client_id"] == "r-1"))["body"]
    await customer.next("notification")
    # Sent after those, on the same node: once it arrives, anything sent before would have too.
    await tell(hub, "c-1", "worker", "for the worker")
    assert (await impostor.next("notification"))["title"] == "for the worker"
    assert impostor.pending("chat:message") == []
    assert impostor.pending("notification") == []


async def test_a_customer_with_a_workers_id_gets_nothing_of_theirs(hub: RunningHub, connect: Connect) -> None:
    async with hub.app[CONTEXT].pool.acquire() as conn, conn.transaction():
        conv = str((await open_booking_conversation(conn, "b-1", "c-1", "w-1")).id)
    worker = await connect("/worker", "worker", "w-1")
    customer = await connect("/customer", "customer", "c-1")
    await worker.ok("chat:send", {"conversation_id": conv, "client_id": "m-1", "body": "on my way"})
    await tell(hub, "w-1", "worker", "for the worker")
    await worker.next("notification")
    impostor = await connect("/customer", "customer", "w-1")

    await assert_gets_nothing(hub, impostor, conv)

    await customer.ok("chat:send", {"conversation_id": conv, "client_id": "r-1", "body": "gate code 12"})
    assert (await worker.next_where("chat:message", lambda m: m["client_id"] == "r-1"))["body"]
    await tell(hub, "w-1", "customer", "for the customer")
    assert (await impostor.next("notification"))["title"] == "for the customer"
    assert impostor.pending("chat:message") == []


async def test_an_admin_with_a_support_agents_id_gets_nothing_of_theirs(
    hub: RunningHub, connect: Connect
) -> None:
    agent = await connect("/support", "support", "a-1")
    customer = await connect("/customer", "customer", "c-1")
    conv = (await customer.ok("support:open"))["conversation"]["id"]
    await agent.next("conversation:assigned")
    admin = await connect("/support", "admin", "a-1")

    await customer.ok("chat:send", {"conversation_id": conv, "client_id": "m-1", "body": "hello"})
    await agent.next_where("chat:message", lambda m: m["client_id"] == "m-1")
    # The agent's read mark is the agent's: the admin's read is that of a non-member looking.
    assert await admin.ok("chat:read", {"conversation_id": conv, "seq": 2}) is None
    assert await admin.ok("conversations:list") == {"items": [], "next_cursor": None, "unread": 0}
    # Another customer opens a conversation: the queue change goes to every console.
    other = await connect("/customer", "customer", "c-2")
    await other.ok("support:open")
    await admin.next("support:queue_changed")
    assert admin.pending("chat:message") == []
    assert admin.pending("conversation:assigned") == []
    listed = await agent.ok("conversations:list")
    mine = next(c for c in listed["items"] if c["id"] == conv)
    assert mine["last_read_seq"] == 0  # the admin's read did not move the agent's mark


async def test_an_agent_is_their_role_and_id_in_the_queue(hub: RunningHub, connect: Connect) -> None:
    admin = await connect("/support", "admin", "x-1")
    customer = await connect("/customer", "customer", "c-1")
    conv = (await customer.ok("support:open"))["conversation"]["id"]
    picked = await admin.ok("conversation:pick", {"conversation_id": conv})
    assert (picked["assigned_agent_id"], picked["assigned_agent_role"]) == ("x-1", "admin")
    same_id = await connect("/support", "support", "x-1")
    await same_id.ok("presence:set", {"status": "online"})
    note = {"conversation_id": conv, "client_id": "s-1", "body": "mine now"}
    assert await same_id.error("chat:send", note) == "not_a_participant"
    ref = {"conversation_id": conv}
    assert await same_id.error("conversation:resolve", ref) == "not_your_conversation"
    # The admin hands it over: the one told it went elsewhere is the admin, on their console.
    await admin.ok("conversation:transfer", {"conversation_id": conv, "agent_id": "x-1"})
    moved = await admin.next("conversation:transferred")
    assert moved["assigned_agent_role"] == "support"
    await same_id.ok("chat:send", note)


async def test_presence_is_per_role_and_id(hub: RunningHub, connect: Connect) -> None:
    agent = await connect("/support", "support", "a-1")
    worker = await connect("/worker", "worker", "w-1")
    await worker.ok("presence:set", {"status": "on_leave"})
    # Same ids, other roles: neither takes the agent out of the queue nor puts the worker back.
    await connect("/support", "admin", "a-1")
    await connect("/customer", "customer", "w-1")
    board = await agent.ok("presence:snapshot")
    assert [(s["user_id"], s["role"], s["status"]) for s in board["workers"]] == [
        ("w-1", "worker", "on_leave")
    ]
    agents = {(s["user_id"], s["role"], s["status"]) for s in board["agents"]}
    assert agents == {("a-1", "support", "online"), ("a-1", "admin", "online")}
    customer = await connect("/customer", "customer", "c-1")
    opened = await customer.ok("support:open")
    conversation = opened["conversation"]
    assert (conversation["assigned_agent_id"], conversation["assigned_agent_role"]) == ("a-1", "support")
