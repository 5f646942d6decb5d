"""Chat over real sockets: support conversations end to end, receipts, history, limits, auth."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from hub.keys import CONTEXT
from tests.support.clients import Peer
from tests.support.hubs import RunningHub, StartHub

Connect = Callable[..., Awaitable[Peer]]


@pytest.fixture
async def connect(hub: RunningHub) -> AsyncIterator[Connect]:
    peers: list[Peer] = []

    async def open_peer(namespace: str, role: str, sub: str, **auth: Any) -> Peer:
        peer = await Peer(namespace).connect(hub.url, hub.token(role, sub), **auth)
        peers.append(peer)
        return peer

    yield open_peer
    for peer in peers:
        await peer.close()


async def message_count(hub: RunningHub) -> int:
    return int(await hub.app[CONTEXT].pool.fetchval("SELECT count(*) FROM messages"))


async def open_assigned(
    connect: Connect, customer_id: str = "c-1", agent_id: str = "a-1"
) -> tuple[Peer, Peer, str]:
    agent = await connect("/support", "support", agent_id)
    customer = await connect("/customer", "customer", customer_id)
    opened = await customer.ok("support:open")
    conversation = opened["conversation"]
    assert conversation["status"] == "assigned", opened
    assert conversation["assigned_agent_id"] == agent_id
    assert opened["position"] is None
    assigned = await agent.next("conversation:assigned")
    assert assigned["id"] == conversation["id"]
    return customer, agent, conversation["id"]


async def test_support_chat_both_ways(connect: Connect) -> None:
    customer, agent, conv = await open_assigned(connect)
    joined = await customer.next("chat:message")  # the system line "agent a-1 assigned"
    assert joined["kind"] == "system"

    ack = await customer.ok(
        "chat:send", {"conversation_id": conv, "client_id": "m1", "body": "My cleaner is late"}
    )
    assert ack["seq"] == joined["seq"] + 1
    assert ack["duplicate"] is False
    got = await agent.next_where("chat:message", lambda m: m["kind"] == "text")
    assert got["id"] == ack["id"]
    assert got["seq"] == ack["seq"]
    assert got["sender"] == {"id": "c-1", "role": "customer"}
    assert got["body"] == "My cleaner is late"
    assert got["client_id"] == "m1"
    assert got["created_at"] == ack["created_at"]

    reply = await agent.ok("chat:send", {"conversation_id": conv, "client_id": "r1", "body": "<b>On it</b>"})
    assert reply["seq"] == ack["seq"] + 1
    answer = await customer.next_where("chat:message", lambda m: m["kind"] == "text")
    assert answer["body"] == "<b>On it</b>"  # stored and sent as written, never interpreted
    assert answer["sender"] == {"id": "a-1", "role": "support"}


async def test_retry_with_same_client_id_returns_the_original(hub: RunningHub, connect: Connect) -> None:
    customer, agent, conv = await open_assigned(connect)
    first = await customer.ok("chat:send", {"conversation_id": conv, "client_id": "same", "body": "hello"})
    before = await message_count(hub)
    again = await customer.ok("chat:send", {"conversation_id": conv, "client_id": "same", "body": "hello"})
    assert again["duplicate"] is True
    assert (again["id"], again["seq"], again["created_at"]) == (
        first["id"],
        first["seq"],
        first["created_at"],
    )
    assert await message_count(hub) == before
    later = await customer.ok("chat:send", {"conversation_id": conv, "client_id": "next", "body": "next"})
    assert later["seq"] == first["seq"] + 1  # no gap left by the retry
    texts = [await agent.next_where("chat:message", lambda m: m["kind"] == "text") for _ in range(2)]
    assert [t["client_id"] for t in texts] == ["same", "next"]  # the retry was not re-broadcast


async def test_private_notes_never_reach_the_customer(connect: Connect) -> None:
    customer, agent, conv = await open_assigned(connect)
    await customer.next("chat:message")
    code = await customer.error(
        "chat:send", {"conversation_id": conv, "client_id": "x", "body": "n", "private": True}
    )
    assert code == "private_not_allowed"
    await agent.ok("chat:send", {"conversation_id": conv, "client_id": "p1", "body": "VIP", "private": True})
    await agent.ok("chat:send", {"conversation_id": conv, "client_id": "p2", "body": "Hello!"})
    public = await customer.next("chat:message")
    assert public["body"] == "Hello!"
    assert customer.pending("chat:message") == []
    seen_by_customer = await customer.ok("chat:history", {"conversation_id": conv})
    assert "VIP" not in [m["body"] for m in seen_by_customer["items"]]
    seen_by_agent = await agent.ok("chat:history", {"conversation_id": conv})
    assert "VIP" in [m["body"] for m in seen_by_agent["items"]]


async def test_typing_read_receipts_and_unread_counts(connect: Connect) -> None:
    customer, agent, conv = await open_assigned(connect)
    await customer.ok("chat:typing", {"conversation_id": conv, "typing": True})
    typing = await agent.next("chat:typing")
    assert typing == {"conversation_id": conv, "user_id": "c-1", "role": "customer", "typing": True}

    sent = [
        await customer.ok("chat:send", {"conversation_id": conv, "client_id": f"m{i}", "body": f"#{i}"})
        for i in range(3)
    ]
    listed = await agent.ok("conversations:list")
    row = next(c for c in listed["items"] if c["id"] == conv)
    assert row["unread"] == 3
    assert listed["unread"] == 3

    await agent.ok("chat:delivered", {"conversation_id": conv, "seq": sent[2]["seq"]})
    delivered = await customer.next("chat:receipt")
    assert (delivered["delivered_seq"], delivered["user_id"]) == (sent[2]["seq"], "a-1")
    receipt = await agent.ok("chat:read", {"conversation_id": conv, "seq": sent[1]["seq"]})
    assert receipt["read_seq"] == sent[1]["seq"]
    read = await customer.next("chat:receipt")
    assert read["read_seq"] == sent[1]["seq"]
    # Marks only move forward and never past the last message.
    stale = await agent.ok("chat:read", {"conversation_id": conv, "seq": 1})
    assert stale["read_seq"] == sent[1]["seq"]
    beyond = await agent.ok("chat:read", {"conversation_id": conv, "seq": 10**9})
    assert beyond["read_seq"] == sent[2]["seq"]
    listed = await agent.ok("conversations:list")
    assert listed["unread"] == 0


async def test_history_pages_backwards(connect: Connect) -> None:
    customer, _agent, conv = await open_assigned(connect)
    for i in range(12):
        await customer.ok("chat:send", {"conversation_id": conv, "client_id": f"h{i}", "body": f"line {i}"})
    newest = await customer.ok("chat:history", {"conversation_id": conv, "limit": 5})
    seqs = [m["seq"] for m in newest["items"]]
    assert seqs == sorted(seqs)
    assert len(seqs) == 5
    assert isinstance(newest["next_cursor"], str)
    older = await customer.ok(
        "chat:history", {"conversation_id": conv, "limit": 5, "cursor": newest["next_cursor"]}
    )
    assert [m["seq"] for m in older["items"]] == list(range(seqs[0] - 5, seqs[0]))
    seen = [m["seq"] for m in older["items"] + newest["items"]]
    cursor = older["next_cursor"]
    while cursor is not None:
        page = await customer.ok("chat:history", {"conversation_id": conv, "limit": 5, "cursor": cursor})
        seen[:0] = [m["seq"] for m in page["items"]]
        cursor = page["next_cursor"]
    assert seen == list(range(1, seqs[-1] + 1))  # every message once, the first page ending it
    # A cursor names its conversation and is taken back only as it was given.
    other = (await open_assigned(connect, "c-2", "a-2"))[2]
    for bad in (newest["next_cursor"], "bm9wZQ", "!!"):
        ack = await customer.call("chat:history", {"conversation_id": other, "cursor": bad})
        assert ack["ok"] is False, ack
        assert ack["error"]["code"] in {"invalid_cursor", "conversation_not_found"}, ack
    ack = await customer.call("chat:history", {"conversation_id": conv, "cursor": "bm9wZQ"})
    assert ack["error"]["code"] == "invalid_cursor", ack


@pytest.mark.parametrize(
    ("event", "payload", "code"),
    [
        ("chat:send", None, "invalid_payload"),
        ("chat:send", "just a string", "invalid_payload"),
        ("chat:send", {"conversation_id": "not-a-uuid", "client_id": "a", "body": "x"}, "invalid_payload"),
        ("chat:send", {"conversation_id": "{conv}", "client_id": "", "body": "x"}, "invalid_payload"),
        ("chat:send", {"conversation_id": "{conv}", "client_id": 5, "body": "x"}, "invalid_payload"),
        (
            "chat:send",
            {"conversation_id": "{conv}", "client_id": "a", "body": "x", "admin": True},
            "invalid_payload",
        ),
        ("chat:send", {"conversation_id": "{conv}", "client_id": "a", "body": "x" * 4001}, "body_too_long"),
        ("chat:send", {"conversation_id": "{conv}", "client_id": "a", "body": "   "}, "empty_message"),
        (
            "chat:send",
            {"conversation_id": "{conv}", "client_id": "a", "body": "x", "private": "yes"},
            "invalid_payload",
        ),
        (
            "chat:send",
            {"conversation_id": str(uuid.uuid4()), "client_id": "a", "body": "x"},
            "conversation_not_found",
        ),
        ("chat:typing", {"conversation_id": "{conv}"}, "invalid_payload"),
        ("chat:read", {"conversation_id": "{conv}", "seq": -1}, "invalid_payload"),
        ("chat:read", {"conversation_id": "{conv}", "seq": "3"}, "invalid_payload"),
        ("chat:history", {"conversation_id": "{conv}", "limit": 1000}, "invalid_payload"),
        ("sync", {"notifications_since": "zero"}, "invalid_payload"),
        ("notifications:read", {}, "invalid_payload"),
        ("notifications:read", {"seq": 1, "all": True}, "invalid_payload"),
    ],
)
async def test_bad_payloads_are_refused_and_change_nothing(
    hub: RunningHub, connect: Connect, event: str, payload: Any, code: str
) -> None:
    customer, _agent, conv = await open_assigned(connect)
    before = await message_count(hub)
    if isinstance(payload, dict):
        payload = {k: (conv if v == "{conv}" else v) for k, v in payload.items()}
    ack = await customer.call(event, payload)
    assert ack["ok"] is False
    assert ack["error"]["code"] == code
    if code == "invalid_payload":
        assert ack["error"]["details"]
    assert await message_count(hub) == before
    assert (await customer.call("ping"))["ok"] is True


async def test_other_people_cannot_touch_a_conversation(hub: RunningHub, connect: Connect) -> None:
    _customer, _agent, conv = await open_assigned(connect)
    stranger = await connect("/customer", "customer", "c-2")
    worker = await connect("/worker", "worker", "w-1")
    before = await message_count(hub)
    for peer in (stranger, worker):
        assert await peer.error("chat:send", {"conversation_id": conv, "client_id": "z", "body": "hi"}) in {
            "conversation_not_found"
        }
        assert await peer.error("chat:history", {"conversation_id": conv}) == "conversation_not_found"
        assert (
            await peer.error("chat:typing", {"conversation_id": conv, "typing": True})
            == "conversation_not_found"
        )
        assert await peer.error("chat:read", {"conversation_id": conv, "seq": 1}) == "conversation_not_found"
    synced = await stranger.ok("sync", {"conversations": {conv: 0}})
    assert synced["conversations"][conv]["error"] == "conversation_not_found"
    assert synced["conversations"][conv]["messages"] == []
    assert await message_count(hub) == before


async def test_a_stranger_leaves_nothing_in_the_members_cache(hub: RunningHub, connect: Connect) -> None:
    # The cache is shared by every socket of the node: only someone who may see a conversation
    # may make the hub load and keep its members.
    _customer, _agent, conv = await open_assigned(connect)
    stranger = await connect("/customer", "customer", "c-2")
    typing = {"conversation_id": conv, "typing": True}
    assert await stranger.error("chat:typing", typing) == "conversation_not_found"
    assert uuid.UUID(conv) not in hub.app[CONTEXT].chat._members


async def test_resolve_then_csat_once(connect: Connect) -> None:
    customer, agent, conv = await open_assigned(connect)
    assert await customer.error("conversation:csat", {"conversation_id": conv, "score": 5}) == "not_resolved"
    resolved = await agent.ok("conversation:resolve", {"conversation_id": conv})
    assert resolved["status"] == "resolved"
    assert (await customer.next("conversation:resolved"))["id"] == conv
    assert await customer.error("chat:send", {"conversation_id": conv, "client_id": "late", "body": "?"}) == (
        "conversation_resolved"
    )
    assert (
        await customer.error("conversation:csat", {"conversation_id": conv, "score": 6}) == "invalid_payload"
    )
    await customer.ok("conversation:csat", {"conversation_id": conv, "score": 4, "comment": "quick"})
    assert (
        await customer.error("conversation:csat", {"conversation_id": conv, "score": 5})
        == "csat_already_given"
    )
    # A new support:open starts a fresh conversation.
    reopened = await customer.ok("support:open")
    assert reopened["conversation"]["id"] != conv
    assert reopened["created"] is True


async def test_agent_reopens_a_resolved_conversation(connect: Connect) -> None:
    customer, agent, conv = await open_assigned(connect)
    await agent.ok("conversation:resolve", {"conversation_id": conv})
    assert await agent.error("conversation:resolve", {"conversation_id": conv}) == "already_resolved"
    again = await agent.ok("conversation:reopen", {"conversation_id": conv})
    assert (again["status"], again["assigned_agent_id"]) == ("assigned", "a-1")
    assert (await customer.next("conversation:reopened"))["id"] == conv
    await customer.ok("chat:send", {"conversation_id": conv, "client_id": "back", "body": "thanks"})


async def test_transfer_between_agents(connect: Connect) -> None:
    customer, first, conv = await open_assigned(connect)
    second = await connect("/support", "support", "a-2")
    assert await first.error("conversation:transfer", {"conversation_id": conv, "agent_id": "nobody"}) == (
        "agent_unavailable"
    )
    assert await second.error("conversation:transfer", {"conversation_id": conv, "agent_id": "a-2"}) == (
        "not_your_conversation"
    )
    moved = await first.ok("conversation:transfer", {"conversation_id": conv, "agent_id": "a-2"})
    assert moved["assigned_agent_id"] == "a-2"
    assert (await second.next_where("conversation:assigned", lambda c: c["id"] == conv))[
        "assigned_agent_id"
    ] == "a-2"
    assert (await first.next("conversation:transferred"))["id"] == conv
    await customer.ok("chat:send", {"conversation_id": conv, "client_id": "t1", "body": "still there?"})
    got = await second.next_where("chat:message", lambda m: m["kind"] == "text")
    assert got["body"] == "still there?"
    code = await first.error("chat:send", {"conversation_id": conv, "client_id": "old", "body": "me too"})
    assert code == "not_a_participant"


async def test_queue_positions_capacity_and_round_robin(start_hub: StartHub) -> None:
    hub = await start_hub(HUB_CHAT_AGENT_CAPACITY="1")
    peers: list[Peer] = []

    async def peer(namespace: str, role: str, sub: str) -> Peer:
        p = await Peer(namespace).connect(hub.url, hub.token(role, sub))
        peers.append(p)
        return p

    try:
        customers = [await peer("/customer", "customer", f"c-{i}") for i in range(3)]
        opened = [await c.ok("support:open") for c in customers]
        assert [o["position"] for o in opened] == [1, 2, 3]  # nobody online yet
        assert (await customers[0].ok("support:availability"))["available"] is False

        agents = [await peer("/support", "support", f"a-{i}") for i in range(2)]
        first = await customers[0].next("conversation:assigned")
        second = await customers[1].next("conversation:assigned")
        # Longest waiting first; one each (capacity 1), so both agents got one.
        assert {first["assigned_agent_id"], second["assigned_agent_id"]} == {"a-0", "a-1"}
        waiting = await customers[2].next_where("support:queue", lambda q: q["position"] == 1)
        assert waiting["conversation_id"] == opened[2]["conversation"]["id"]
        assert (await customers[2].ok("support:availability"))["online_agents"] == 2

        owner = next(a for a in agents if a is agents[int(first["assigned_agent_id"][-1])])
        await owner.ok("conversation:resolve", {"conversation_id": first["id"]})
        third = await customers[2].next("conversation:assigned")
        assert third["assigned_agent_id"] == first["assigned_agent_id"]
    finally:
        for p in peers:
            await p.close()


async def test_a_burst_of_opens_is_assigned_in_shared_passes(start_hub: StartHub) -> None:
    """Opens that arrive while an assignment pass runs share the next pass; every conversation
    is still assigned in its own open's answer, least-loaded first, none over capacity."""
    hub = await start_hub(HUB_CHAT_AGENT_CAPACITY="20", HUB_SOCKET_CONNECTS_PER_ADDRESS="1000")
    agents = [await Peer("/support").connect(hub.url, hub.token("support", f"a-{i}")) for i in range(3)]
    customers = [await Peer("/customer").connect(hub.url, hub.token("customer", f"c-{i}")) for i in range(60)]
    try:
        metrics = hub.app[CONTEXT].metrics
        requests_before = metrics.assignment_requests._value.get()
        passes_before = metrics.assignment_passes._value.get()
        opened = await asyncio.gather(*(c.ok("support:open") for c in customers))
        assert all(o["conversation"]["status"] == "assigned" and o["position"] is None for o in opened)
        loads: dict[str, int] = {}
        for o in opened:
            agent = o["conversation"]["assigned_agent_id"]
            loads[agent] = loads.get(agent, 0) + 1
        assert loads == {"a-0": 20, "a-1": 20, "a-2": 20}
        requests = metrics.assignment_requests._value.get() - requests_before
        passes = metrics.assignment_passes._value.get() - passes_before
        assert requests >= 60
        assert passes < requests  # shared, not one pass per open
        # The 61st finds every agent full and waits first in the queue.
        late = await Peer("/customer").connect(hub.url, hub.token("customer", "c-late"))
        customers.append(late)
        assert (await late.ok("support:open"))["position"] == 1
    finally:
        for peer in customers + agents:
            await peer.close()


async def test_admin_picks_from_the_queue(connect: Connect) -> None:
    customer = await connect("/customer", "customer", "c-9")
    conv = (await customer.ok("support:open"))["conversation"]["id"]
    admin = await connect("/support", "admin", "boss")  # admins are never auto-assigned
    queue = await admin.ok("support:queue")
    assert [(q["id"], q["position"]) for q in queue["items"]] == [(conv, 1)]
    picked = await admin.ok("conversation:pick", {"conversation_id": conv})
    assert (picked["status"], picked["assigned_agent_id"]) == ("assigned", "boss")
    assert (await customer.next("conversation:assigned"))["assigned_agent_id"] == "boss"
    assert await admin.error("conversation:pick", {"conversation_id": conv}) == "not_queued"
    customer_peer = await connect("/customer", "customer", "c-10")
    assert await customer_peer.error("conversation:pick", {"conversation_id": conv}) == "unknown_event"


async def test_rate_limit_then_disconnect_for_abuse(connect: Connect) -> None:
    customer, _agent, conv = await open_assigned(connect)
    acks = [await customer.call("chat:typing", {"conversation_id": conv, "typing": True}) for _ in range(15)]
    limited = [a for a in acks if not a["ok"]]
    assert limited
    assert limited[0]["error"]["code"] == "rate_limited"
    assert limited[0]["error"]["details"]["retry_after_ms"] > 0
    assert customer.client.connected  # over the limit is an error, not a disconnect

    async def hammer() -> None:
        while customer.client.connected:
            await customer.client.emit("nonsense", {}, namespace="/customer")
            await asyncio.sleep(0)

    await asyncio.wait_for(hammer(), 10)
    assert (await customer.next("server:abuse"))["reason"] == "too_many_refused_events"
