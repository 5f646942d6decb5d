"""Group commit over real sockets: many senders at once are written in few transactions, and each
still gets its own ack, only once its message is committed, with gap-free seqs."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from hub.keys import CONTEXT
from tests.support.clients import Peer
from tests.support.hubs import RunningHub, StartHub
from tests.support.postgres import OwnPostgres, own_postgres
from tests.support.waiting import WAIT, wait_until

CUSTOMERS = 6
EACH = 10  # messages per customer, all in flight at once (under the chat:send burst of 20)


async def metric(hub: RunningHub, name: str) -> float:
    status, text = await hub.http("GET", "/metrics")
    assert status == 200
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found is not None, f"{name} missing from /metrics"
    return float(found.group(1))


async def support_chats(
    hub: RunningHub, peers: list[Peer], customers: int
) -> tuple[Peer, list[Peer], list[str]]:
    """Agent a-1 and ``customers`` customers, each in a support conversation assigned to a-1."""
    agent = await Peer("/support").connect(hub.url, hub.token("support", "a-1"))
    peers.append(agent)
    people, conversations = [], []
    for n in range(customers):
        customer = await Peer("/customer").connect(hub.url, hub.token("customer", f"c-{n}"))
        peers.append(customer)
        opened = await customer.ok("support:open")
        assert opened["conversation"]["status"] == "assigned", opened
        people.append(customer)
        conversations.append(opened["conversation"]["id"])
    return agent, people, conversations


async def lock_waiters(hub: RunningHub) -> int:
    return int(
        await hub.app[CONTEXT].pool.fetchval(
            """SELECT count(*) FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock'"""
        )
    )


@pytest.fixture
async def blocker(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url, timeout=WAIT)
    yield conn
    await conn.close()


async def test_concurrent_senders_are_written_in_one_batch_each_acked_after_commit(
    start_hub: StartHub, peers: list[Peer], blocker: asyncpg.Connection
) -> None:
    hub = await start_hub(HUB_CHAT_AGENT_CAPACITY=str(CUSTOMERS))
    agent, customers, conversations = await support_chats(hub, peers, CUSTOMERS)
    first_seq = {
        c: int(await hub.app[CONTEXT].pool.fetchval("SELECT last_seq FROM conversations WHERE id = $1", c))
        + 1
        for c in conversations
    }

    one_at_a_time = asyncio.Lock()  # the lookups share one connection

    async def committed(peer: Peer, message: dict[str, Any]) -> dict[str, Any]:
        ack = await peer.call("chat:send", message)
        assert ack["ok"] is True, ack
        # Looked up from outside the hub once the ack is in: it was committed before.
        async with one_at_a_time:
            stored = await blocker.fetchval("SELECT count(*) FROM messages WHERE id = $1", ack["data"]["id"])
        assert stored == 1, ack
        return dict(ack["data"])

    # Hold the first conversation so that the first write waits: everything sent meanwhile
    # queues behind it, and goes in the next batch.
    held = blocker.transaction()
    await held.start()
    await blocker.execute("SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE", conversations[0])
    first = asyncio.create_task(
        committed(customers[0], {"conversation_id": conversations[0], "client_id": "held", "body": "first"})
    )
    await wait_until(lambda: lock_waiters(hub))
    sends: list[tuple[int, asyncio.Task[dict[str, Any]]]] = []
    for k in range(EACH):
        for n, customer in enumerate(customers):
            message = {"conversation_id": conversations[n], "client_id": f"m{k}", "body": f"{n}:{k}"}
            sends.append((n, asyncio.create_task(committed(customer, message))))
    replies = [
        asyncio.create_task(committed(agent, {"conversation_id": c, "client_id": f"r-{c}", "body": "on it"}))
        for c in conversations
    ]
    retry = {"conversation_id": conversations[1], "client_id": "dup", "body": "sent thrice at once"}
    dups = [asyncio.create_task(committed(customers[1], retry)) for _ in range(3)]
    total = 1 + len(sends) + len(replies) + len(dups)
    await wait_until(lambda: hub.app[CONTEXT].chat.sends_waiting == total - 1)
    await held.rollback()

    acks = await asyncio.wait_for(asyncio.gather(first, *(t for _, t in sends), *replies, *dups), 2 * WAIT)
    assert await metric(hub, "hub_chat_send_batches_total") == 2  # the held write, then all the rest
    assert await metric(hub, "hub_chat_send_batched_messages_total") == total

    # Per conversation: seqs without gaps, and each customer's messages in the order they were sent.
    by_conversation: dict[str, list[int]] = {c: [] for c in conversations}
    for ack in acks:
        if not ack["duplicate"]:
            by_conversation[ack["conversation_id"]].append(ack["seq"])
    for conv, seqs in by_conversation.items():
        assert sorted(seqs) == list(range(first_seq[conv], first_seq[conv] + len(seqs))), conv
    for n in range(CUSTOMERS):
        mine = [t.result()["seq"] for m, t in sends if m == n]
        assert mine == sorted(mine), n

    # The same client_id three times at once: stored once, the others told it is a duplicate.
    dup_acks = [t.result() for t in dups]
    assert len({a["id"] for a in dup_acks}) == 1
    assert sorted(a["duplicate"] for a in dup_acks) == [False, True, True]
    assert await blocker.fetchval("SELECT count(*) FROM messages WHERE client_id = 'dup'") == 1

    # Each stored message reached the agent once; duplicates were not sent again.
    from_customers = {a["id"] for a in acks if not a["duplicate"] and not a["client_id"].startswith("r-")}
    received = [
        (await agent.next_where("chat:message", lambda m: m["kind"] == "text"))["id"] for _ in from_customers
    ]
    assert sorted(received) == sorted(from_customers)
    assert [m for m in agent.pending("chat:message") if m["kind"] == "text"] == []


# A database that stops answering -------------------------------------------------------------

BOUNDS = {
    "HUB_DB_CONNECT_TIMEOUT_SECONDS": "1",
    "HUB_DB_ACQUIRE_TIMEOUT_SECONDS": "1",
    "HUB_DB_STATEMENT_TIMEOUT_SECONDS": "1",
}
ANSWER_WITHIN = 12.0  # the group's bound: the write in flight and the next, each a wait and two calls


@pytest.fixture
async def postgres() -> AsyncIterator[OwnPostgres]:
    async with own_postgres() as server:
        yield server


async def test_a_batch_on_a_database_that_stops_answering_fails_each_sender_alike(
    postgres: OwnPostgres, start_hub: StartHub, peers: list[Peer]
) -> None:
    hub = await start_hub(HUB_DATABASE_URL=postgres.dsn, **BOUNDS)
    _, customers, conversations = await support_chats(hub, peers, 3)
    messages = [
        (customer, {"conversation_id": conv, "client_id": f"m{k}", "body": f"#{k}"})
        for k in range(2)
        for customer, conv in zip(customers, conversations, strict=True)
    ]

    postgres.freeze()
    loop = asyncio.get_running_loop()
    started = loop.time()
    acks = await asyncio.gather(*(customer.call("chat:send", m) for customer, m in messages))
    took = loop.time() - started
    postgres.thaw()
    assert [a["ok"] for a in acks] == [False] * len(messages), acks
    assert {a["error"]["code"] for a in acks} == {"db_unavailable"}  # never acknowledged as stored
    assert took < ANSWER_WITHIN, f"answered after {took:.2f}s"
    batches = await metric(hub, "hub_chat_send_batches_total")
    assert batches < len(messages)  # the ones behind the first write failed together
    assert await metric(hub, "hub_chat_send_batched_messages_total") == len(messages)

    # The clients retry with the same client_ids: each message is stored once, seqs without gaps
    # (whether or not a stalled statement committed after all).
    again = [await customer.ok("chat:send", m) for customer, m in messages]
    assert len({a["id"] for a in again}) == len(messages)
    conn = await asyncpg.connect(postgres.dsn, timeout=WAIT)
    try:
        for conv in conversations:
            rows = await conn.fetch(
                "SELECT client_id FROM messages WHERE conversation_id = $1 AND kind = 'text'", conv
            )
            assert sorted(r["client_id"] for r in rows) == ["m0", "m1"]
            seqs = await conn.fetch("SELECT seq FROM messages WHERE conversation_id = $1 ORDER BY seq", conv)
            assert [r["seq"] for r in seqs] == list(range(1, len(seqs) + 1))
    finally:
        await conn.close()
