"""What one chat write costs PostgreSQL: server CPU per message and per statement, by batch size,
with the batched insert planned on every execution (PostgreSQL's own choice) or once.

    .venv/bin/python bench/pg_write_cost.py                         # batches 1, 2, 4, 16, 64
    .venv/bin/python bench/pg_write_cost.py --batches 1,2 --rounds 3

It creates a database, migrates it, opens 400 assigned support conversations, then for each batch
size writes ``--messages`` messages through ``hub.storage.chat`` on one connection, alternating the
customer and the agent, and reads the CPU of that connection's server process from /proc before
and after. Three ways are measured: ``lone`` (the one-statement insert a lone message takes; only
for batch size 1), ``planned each time`` (the batched insert on a plain connection) and
``planned once`` (the same on a connection with ``plan_cache_mode = force_generic_plan``, as the
hub's chat writer). The plan counts PostgreSQL kept for the statement are printed, to show which
happened. The database server must be on this machine (its processes are read from /proc). See
bench/README.md, "Where PostgreSQL's time goes".
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import asyncpg
import hubproc
from deployment import DEFAULT_PG
from runner import say

from hub.storage import chat as store
from hub.storage.db import create_pool
from hub.storage.migrate import directories, migrate

CONVERSATIONS = 400
AGENTS = 20


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", default="1,2,4,16,64", help="batch sizes, comma-separated")
    parser.add_argument("--messages", type=int, default=2400, help="messages written per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="measurements of each way, interleaved")
    parser.add_argument("--pg-admin", default=DEFAULT_PG)
    args = parser.parse_args()
    args.batches = [int(b) for b in args.batches.split(",") if b.strip()]
    if not args.batches or min(args.batches) < 1 or args.messages < 1 or args.rounds < 1:
        parser.error("batch sizes, --messages and --rounds must be at least 1")
    return args


def server_cpu_seconds(pid: int) -> float:
    cpu = hubproc.cpu_seconds(pid)
    if cpu is None:
        raise RuntimeError(f"PostgreSQL's process {pid} is not readable here: run on the database's machine")
    return cpu


async def conversations(pool: asyncpg.Pool) -> list[tuple[uuid.UUID, str, str]]:
    """(conversation, customer, assigned agent) for each conversation opened."""
    opened = []
    async with pool.acquire() as conn:
        for i in range(CONVERSATIONS):
            async with conn.transaction():
                conversation, _ = await store.open_support(conn, f"c-{i}")
                await store.assign(conn, conversation.id, f"a-{i % AGENTS}", "support")
            opened.append((conversation.id, f"c-{i}", f"a-{i % AGENTS}"))
    return opened


async def measure(
    pool: asyncpg.Pool, way: str, size: int, count: int, people: list[tuple[uuid.UUID, str, str]]
) -> tuple[float, float]:
    """(server CPU µs per message, wall µs per message) of writing ``count`` messages."""
    pid = await pool.fetchval("SELECT pg_backend_pid()")  # the pool's one connection
    tag = uuid.uuid4().hex[:8]
    before, started = server_cpu_seconds(pid), time.perf_counter()
    for start in range(0, count, size):
        batch = []
        for k in range(start, min(start + size, count)):
            conversation, customer, agent = people[k % len(people)]
            sender, role = (customer, "customer") if k % 2 == 0 else (agent, "support")
            batch.append(
                store.NewMessage(uuid.uuid4(), conversation, sender, role, f"{tag}-{k}", "x" * 64, [], False)
            )
        if way == "lone":
            for m in batch:
                await store.insert_message(
                    pool,
                    message_id=m.id,
                    conversation_id=m.conversation_id,
                    sender_id=m.sender_id,
                    sender_role=m.sender_role,
                    client_id=m.client_id,
                    kind="text",
                    body=m.body,
                    attachments=[],
                    private=False,
                )
        else:
            await store.insert_messages(pool, batch)
    wall = time.perf_counter() - started
    return (server_cpu_seconds(pid) - before) / count * 1e6, wall / count * 1e6


async def plan_counts(pool: asyncpg.Pool) -> tuple[int, int]:
    row = await pool.fetchrow(
        """SELECT generic_plans, custom_plans FROM pg_prepared_statements
            WHERE statement LIKE '%unnest($1::int[]%' AND statement NOT LIKE '%pg_prepared_statements%'"""
    )
    return (0, 0) if row is None else (row["generic_plans"], row["custom_plans"])


async def main(args: argparse.Namespace) -> int:
    dsn = await hubproc.create_database(args.pg_admin)
    pools: dict[str, asyncpg.Pool] = {}
    try:
        pools["planned each time"] = await create_pool(dsn, 1, 1)
        pools["planned once"] = await create_pool(dsn, 1, 1, generic_plans=True)
        pools["lone"] = pools["planned each time"]
        async with pools["lone"].acquire() as conn:
            await migrate(conn, *directories(()))
        people = await conversations(pools["lone"])
        say(f"{CONVERSATIONS} conversations; {args.messages} messages per measurement, {args.rounds} rounds")
        print("batch  way                  server CPU µs/message  µs/statement  wall µs/message")
        for size in args.batches:
            ways = ["lone", "planned each time", "planned once"] if size == 1 else list(pools)[:2]
            for _ in range(args.rounds):
                for way in ways:
                    cpu, wall = await measure(pools[way], way, size, args.messages, people)
                    print(f"{size:5d}  {way:18s}  {cpu:21.0f}  {cpu * size:12.0f}  {wall:15.0f}")
        for way in ("planned each time", "planned once"):
            generic, custom = await plan_counts(pools[way])
            print(f"batched insert, {way}: {generic} executions with the generic plan, {custom} planned anew")
    finally:
        for pool in set(pools.values()):
            await pool.close()
        await hubproc.drop_database(args.pg_admin, dsn)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
