"""Group commit of chat messages: the collector alone, then the chat service on a real database,
where a batch must give every message the outcome it would have had written on its own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from hub.auth import Principal, Role
from hub.chat.batching import GroupCommit
from hub.chat.service import ChatService, Sent
from hub.errors import ClientError
from hub.storage import chat as store
from hub.storage.db import create_pool
from tests.support.waiting import WAIT, wait_until

# The collector ---------------------------------------------------------------------------------


class Gate:
    """A write that records each batch and waits until the test lets it finish."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.open = asyncio.Event()
        self.fail: Exception | None = None

    async def write(self, batch: list[int]) -> list[int]:
        self.batches.append(batch)
        await asyncio.wait_for(self.open.wait(), WAIT)
        if self.fail is not None:
            raise self.fail
        return [n * 10 for n in batch]


async def test_a_lone_write_goes_at_once_and_the_ones_behind_it_go_together() -> None:
    gate = Gate()
    sizes: list[int] = []
    commit: GroupCommit[int, int] = GroupCommit(
        gate.write, max_size=3, wait_seconds=WAIT, on_batch=sizes.append
    )
    first = asyncio.create_task(commit.submit(0))
    await wait_until(lambda: gate.batches == [[0]])
    rest = [asyncio.create_task(commit.submit(n)) for n in range(1, 6)]
    await wait_until(lambda: commit.waiting == 5)
    gate.open.set()
    assert await asyncio.wait_for(asyncio.gather(first, *rest), WAIT) == [0, 10, 20, 30, 40, 50]
    assert gate.batches == [[0], [1, 2, 3], [4, 5]]  # capped at max_size, in arrival order
    assert sizes == [1, 3, 2]


async def test_a_failed_batch_fails_each_of_its_callers_and_not_the_next_batch() -> None:
    gate = Gate()
    commit: GroupCommit[int, int] = GroupCommit(gate.write, max_size=10, wait_seconds=WAIT)
    gate.fail = ConnectionResetError("database went away")
    failing = [asyncio.create_task(commit.submit(n)) for n in range(3)]
    await wait_until(lambda: len(gate.batches) == 1)
    gate.open.set()
    outcomes = await asyncio.wait_for(asyncio.gather(*failing, return_exceptions=True), WAIT)
    assert [type(o) for o in outcomes] == [ConnectionResetError] * 3
    gate.fail = None
    assert await asyncio.wait_for(commit.submit(7), WAIT) == 70


async def test_a_caller_that_gives_up_loses_only_its_own_result() -> None:
    gate = Gate()
    commit: GroupCommit[int, int] = GroupCommit(gate.write, max_size=10, wait_seconds=WAIT)
    in_flight = [asyncio.create_task(commit.submit(n)) for n in (1, 2)]
    await wait_until(lambda: gate.batches == [[1, 2]])
    queued = [asyncio.create_task(commit.submit(n)) for n in (3, 4, 5)]
    await wait_until(lambda: commit.waiting == 3)
    in_flight[0].cancel()  # its item is being written: written all the same
    queued[1].cancel()  # not taken yet: never written
    gate.open.set()
    assert await asyncio.wait_for(in_flight[1], WAIT) == 20
    assert await asyncio.wait_for(asyncio.gather(queued[0], queued[2]), WAIT) == [30, 50]
    assert gate.batches == [[1, 2], [3, 5]]
    assert in_flight[0].cancelled()
    assert queued[1].cancelled()


async def test_every_wait_is_bounded() -> None:
    gate = Gate()
    commit: GroupCommit[int, int] = GroupCommit(gate.write, max_size=10, wait_seconds=0.2)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(commit.submit(1), WAIT)
    gate.open.set()
    assert await asyncio.wait_for(commit.submit(2), WAIT) == 20  # the collector carries on


# The chat service ------------------------------------------------------------------------------


def person(user_id: str, role: str) -> Principal:
    return Principal(user_id, Role(role), 2**31)


@dataclass
class World:
    """Support conversations of one run: ``open`` with agent a-1 assigned, ``other`` likewise,
    ``resolved`` resolved; the customers' ids start with ``prefix``."""

    prefix: str
    open: uuid.UUID
    other: uuid.UUID
    resolved: uuid.UUID

    def customer(self, n: int) -> Principal:
        return person(f"{self.prefix}{n}", "customer")


async def conversation(pool: asyncpg.Pool, customer_id: str, status: str = "assigned") -> uuid.UUID:
    async with pool.acquire() as conn, conn.transaction():
        conv, _ = await store.open_support(conn, customer_id)
        await store.assign(conn, conv.id, "a-1", "support")
        if status != "assigned":
            await store.set_status(conn, conv.id, status)
        return conv.id


async def world(pool: asyncpg.Pool, prefix: str) -> World:
    return World(
        prefix,
        await conversation(pool, f"{prefix}1"),
        await conversation(pool, f"{prefix}2"),
        await conversation(pool, f"{prefix}3", status="resolved"),
    )


def plan(w: World) -> list[dict[str, Any]]:
    """Sends covering every outcome, in arrival order."""
    agent, stranger_agent, newcomer = (
        person("a-1", "support"),
        person("a-3", "support"),
        person("a-2", "support"),
    )
    return [
        {"user": w.customer(1), "conv": w.open, "client_id": "m1", "body": "one"},
        {"user": w.customer(2), "conv": w.other, "client_id": "n1", "body": "elsewhere"},
        {"user": w.customer(1), "conv": w.open, "client_id": "m1", "body": "one, again"},  # same batch
        {"user": w.customer(1), "conv": w.open, "client_id": "m0", "body": "zero, again"},  # stored before
        {"user": w.customer(9), "conv": w.open, "client_id": "x1", "body": "not mine"},
        {"user": w.customer(3), "conv": w.resolved, "client_id": "r1", "body": "too late"},
        {"user": stranger_agent, "conv": w.open, "client_id": "s1", "body": "not assigned"},
        # A private note makes an agent a member, so their next message may go in too.
        {"user": newcomer, "conv": w.open, "client_id": "p1", "body": "note", "private": True},
        {"user": newcomer, "conv": w.open, "client_id": "p2", "body": "hello from a-2"},
        {"user": agent, "conv": w.open, "client_id": "q1", "body": "reply"},
        {"user": w.customer(2), "conv": w.other, "client_id": "n2", "body": "elsewhere too"},
        {"user": w.customer(1), "conv": w.open, "client_id": "m2", "body": "two"},
    ]


async def send(chat: ChatService, s: dict[str, Any]) -> Sent:
    return await chat.send(s["user"], s["conv"], s["client_id"], s["body"], private=s.get("private", False))


async def last_seqs(pool: asyncpg.Pool, w: World) -> dict[uuid.UUID, int]:
    rows = await pool.fetch(
        "SELECT id, last_seq FROM conversations WHERE id = ANY($1::uuid[])", [w.open, w.other, w.resolved]
    )
    return {r["id"]: r["last_seq"] for r in rows}


def outcome(w: World, base: dict[uuid.UUID, int], result: Sent | BaseException) -> tuple[Any, ...]:
    """What a client learns, with the run's own ids made comparable across runs."""
    if isinstance(result, ClientError):
        return ("error", result.code)
    assert isinstance(result, Sent), result
    m = result.message
    members = sorted((x.user_id.replace(w.prefix, "C"), x.role) for x in result.members)
    return ("ok", m.seq - base[m.conversation_id], result.duplicate, m.body, members)


async def lock_waiters(pool: asyncpg.Pool) -> int:
    return int(
        await pool.fetchval(
            """SELECT count(*) FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock'"""
        )
    )


@pytest.fixture
async def generic_writer(database_url: str, pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Pool]:
    """One connection, as a serving hub's chat writer is made: one generic plan per statement."""
    writer = await create_pool(database_url, 1, 1, generic_plans=True)
    yield writer
    await writer.close()


@pytest.mark.parametrize("writer_kind", ["pool", "generic"])
async def test_a_batch_gives_each_message_the_outcome_it_would_have_had_alone(
    pool: asyncpg.Pool, generic_writer: asyncpg.Pool, writer_kind: str
) -> None:
    writer = generic_writer if writer_kind == "generic" else pool
    # Today's path, one message at a time.
    alone, w1 = ChatService(pool, batch_max=1), await world(pool, "x-")
    await send(alone, {"user": w1.customer(1), "conv": w1.open, "client_id": "m0", "body": "zero"})
    base1 = await last_seqs(pool, w1)
    expected = []
    for s in plan(w1):
        try:
            expected.append(outcome(w1, base1, await send(alone, s)))
        except ClientError as exc:
            expected.append(outcome(w1, base1, exc))

    # The same sends, queued behind a write held on a lock, so that they make one batch.
    sizes: list[int] = []
    batched = ChatService(pool, batch_max=256, on_batch=sizes.append, writer=writer)
    w2 = await world(pool, "y-")
    async with pool.acquire() as blocker, blocker.transaction():
        await blocker.execute("SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE", w2.open)
        first = asyncio.create_task(
            send(batched, {"user": w2.customer(1), "conv": w2.open, "client_id": "m0", "body": "zero"})
        )
        await wait_until(lambda: lock_waiters(pool))
        sends = [asyncio.create_task(send(batched, s)) for s in plan(w2)]
        await wait_until(lambda: batched.sends_waiting == len(sends))
        base2 = await last_seqs(pool, w2)  # plain reads are not held by the lock
    base2[w2.open] = (await asyncio.wait_for(first, WAIT)).message.seq
    results = await asyncio.wait_for(asyncio.gather(*sends, return_exceptions=True), WAIT)
    got = [outcome(w2, base2, r) for r in results]

    assert sizes == [1, len(sends)]  # the held write alone, then everything behind it in one
    assert got == expected
    assert [o[0] for o in got].count("error") == 3
    assert {o[1] for o in got if o[0] == "error"} == {
        "conversation_not_found",
        "conversation_resolved",
        "not_a_participant",
    }
    for w in (w1, w2):  # the same rows, seqs without gaps, members joined
        rows = await pool.fetch(
            "SELECT seq, client_id FROM messages WHERE conversation_id = $1 ORDER BY seq", w.open
        )
        assert [r["client_id"] for r in rows] == ["m0", "m1", "p1", "p2", "q1", "m2"]
        assert [r["seq"] for r in rows] == list(range(rows[0]["seq"], rows[0]["seq"] + 6))
        assert (await last_seqs(pool, w))[w.open] == rows[-1]["seq"]
        joined = await pool.fetchrow(
            """SELECT active, last_read_seq FROM conversation_members
                WHERE conversation_id = $1 AND user_id = 'a-2' AND role = 'support'""",
            w.open,
        )
        assert joined is not None
        assert joined["active"]
        assert joined["last_read_seq"] == rows[3]["seq"]


async def test_the_chat_writer_plans_the_batched_insert_once(generic_writer: asyncpg.Pool) -> None:
    """On the writer's connections every batch reuses one plan: PostgreSQL would otherwise plan
    the insert again for each batch (it never finds the generic plan cheap enough for arrays)."""
    w = await world(generic_writer, "g-")
    for n in range(8):
        batch = [text(w, w.open, 1, f"g{n}a"), text(w, w.other, 2, f"g{n}b")]
        written = await store.insert_messages(generic_writer, batch)
        assert all(o is not None and not o[2] for o in written)
    plans = await generic_writer.fetchrow(
        """SELECT generic_plans, custom_plans FROM pg_prepared_statements
            WHERE statement LIKE '%unnest($1::int[]%' AND statement NOT LIKE '%pg_prepared_statements%'"""
    )
    assert plans is not None
    assert (plans["generic_plans"], plans["custom_plans"]) == (8, 0)


async def test_the_writers_one_plan_probes_by_key_whatever_the_tables_held_when_it_was_made(
    generic_writer: asyncpg.Pool,
) -> None:
    """The writer's plan is made once, at a connection's first batch, often on nearly empty
    tables, and then kept: a scan that was cheapest then would grow with every row, and with every
    update's dead row of ``conversations`` (one per message) until a vacuum. So every table is
    reached by key, one probe per message or conversation, in the plan made on this test's empty
    tables."""
    args = ", ".join(
        [
            "ARRAY[0]",
            f"ARRAY['{uuid.uuid4()}'::uuid]",
            f"ARRAY['{uuid.uuid4()}'::uuid]",
            "ARRAY['c-1']",
            "ARRAY['customer']",
            "ARRAY['m-1']",
            "ARRAY['hi']",
            "ARRAY['[]']",
            "ARRAY[false]",
        ]
    )
    one = f"ARRAY['{uuid.uuid4()}'::uuid]"
    statements = [
        (store._INSERT_MESSAGES, args),
        (store._INSERT_MESSAGES_LOCKED, args),
        (store._LOCK_CONVERSATIONS, one),
    ]
    async with generic_writer.acquire() as conn:
        assert await conn.fetchval("SHOW plan_cache_mode") == "force_generic_plan"
        for statement, arguments in statements:
            await conn.execute(f"PREPARE planned AS {statement}")
            plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN EXECUTE planned({arguments})"))
            await conn.execute("DEALLOCATE planned")
            assert "Seq Scan" not in plan, plan


def text(w: World, conv: uuid.UUID, customer: int, client_id: str) -> store.NewMessage:
    return store.NewMessage(
        uuid.uuid4(), conv, f"{w.prefix}{customer}", "customer", client_id, client_id, [], False
    )


async def test_a_retry_stored_while_the_batch_waited_is_a_duplicate_not_a_gap(pool: asyncpg.Pool) -> None:
    """The batch's statement began before the original was committed, so it could not see it:
    the batch is written again under locks, and the retry comes back as the duplicate it is."""
    w = await world(pool, "r-")
    async with pool.acquire() as blocker, blocker.transaction():
        original = await store.insert_message(
            blocker,
            message_id=uuid.uuid4(),
            conversation_id=w.open,
            sender_id="r-1",
            sender_role="customer",
            client_id="raced",
            kind="text",
            body="original",
            attachments=[],
            private=False,
        )
        assert original is not None
        batch = [text(w, w.open, 1, "raced"), text(w, w.open, 1, "after"), text(w, w.other, 2, "elsewhere")]
        writing = asyncio.create_task(store.insert_messages(pool, batch))
        await wait_until(lambda: lock_waiters(pool))
    written = await asyncio.wait_for(writing, WAIT)

    assert written[0] is not None
    assert (written[0][0].id, written[0][2]) == (original[0].id, True)  # the original, a duplicate
    assert written[1] is not None
    assert (written[1][0].seq, written[1][2]) == (original[0].seq + 1, False)  # no gap
    assert written[2] is not None
    assert written[2][2] is False
    seqs = await pool.fetch("SELECT seq FROM messages WHERE conversation_id = $1 ORDER BY seq", w.open)
    assert [r["seq"] for r in seqs] == list(range(seqs[0]["seq"], seqs[0]["seq"] + len(seqs)))


async def test_a_conversation_resolved_while_the_batch_waited_takes_none_of_it(pool: asyncpg.Pool) -> None:
    w = await world(pool, "s-")
    before = await last_seqs(pool, w)
    async with pool.acquire() as blocker, blocker.transaction():
        await store.set_status(blocker, w.open, "resolved")
        writing = asyncio.create_task(
            store.insert_messages(pool, [text(w, w.open, 1, "late"), text(w, w.other, 2, "fine")])
        )
        await wait_until(lambda: lock_waiters(pool))
    written = await asyncio.wait_for(writing, WAIT)

    assert written[0] is None  # refused, as a single send would have been: conversation_resolved
    assert written[1] is not None
    assert written[1][0].seq == before[w.other] + 1
    after = await last_seqs(pool, w)
    assert after[w.open] == before[w.open]  # no seq used
    assert await pool.fetchval("SELECT count(*) FROM messages WHERE client_id = 'late'") == 0
