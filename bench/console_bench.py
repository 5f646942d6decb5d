"""The console stream's own cost: appending an entry (the gap-free seq takes a row lock until the
append commits), replaying it, opening work items, and reading the snapshot.

    .venv/bin/python -m bench.console_bench                  # 2,000 appends at each concurrency
    .venv/bin/python -m bench.console_bench --appends 500    # smoke run

It creates a database, applies the core's migrations, and calls the storage functions the hub
uses (``hub.storage.console``, ``hub.console.items``) on an asyncpg pool of 20 from this process:
no hub process and no sockets, so the figures are the database's part of every console event.
Payloads are booking updates of about 1.5 KB, like the bookings extension's. Results go in
bench/README.md, section "Console stream".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import asyncpg
from hubproc import create_database, drop_database
from runner import say
from stats import percentile

from hub.console import items
from hub.console.models import NewItem, Priority
from hub.storage import console as store
from hub.storage.migrate import migrate

PAYLOAD = {
    "booking": {"id": str(uuid.uuid4()), "status": "on_the_way", "notes": "x" * 1200},
    "entry": {"id": 1, "kind": "departed", "data": {"eta_minutes": 12}},
}


async def _codec(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def appends(pool: asyncpg.Pool, total: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue = iter(range(total))

    async def one_at_a_time() -> None:
        for n in queue:
            began = time.perf_counter()
            async with pool.acquire() as conn:
                await store.append(conn, "booking:updated", PAYLOAD, f"{concurrency}:{n}")
            latencies.append((time.perf_counter() - began) * 1000)

    began = time.perf_counter()
    await asyncio.gather(*(one_at_a_time() for _ in range(concurrency)))
    return total / (time.perf_counter() - began), latencies


async def run(args: argparse.Namespace) -> int:
    dsn = await create_database(args.pg_admin)
    try:
        async with asyncpg.create_pool(dsn, min_size=20, max_size=20, init=_codec) as pool:
            async with pool.acquire() as conn:
                await migrate(conn)
            print("# console stream (database side)")
            print(f"{args.appends} appends of a {len(json.dumps(PAYLOAD))}-byte payload at each concurrency")
            print("concurrency   appends/s   p50 ms   p99 ms")
            for concurrency in (1, 8, 32):
                rate, lat = await appends(pool, args.appends, concurrency)
                p50, p99 = percentile(sorted(lat), 0.50), percentile(sorted(lat), 0.99)
                print(f"{concurrency:>11} {rate:>11.0f} {p50:>8.2f} {p99:>8.2f}")
            # A redelivery (same source) appends nothing and answers the first seq.
            async with pool.acquire() as conn:
                again = [await store.append(conn, "booking:updated", PAYLOAD, "1:0") for _ in range(200)]
            assert all(not new for _, new in again)
            _, last = await store.bounds(pool)
            began, seen, since = time.perf_counter(), 0, 0
            while True:
                rows = await store.after(pool, since, 200)
                if not rows:
                    break
                seen, since = seen + len(rows), rows[-1]["seq"]
            replay = time.perf_counter() - began
            rate = seen / replay
            print(f"replay of {seen} entries (pages of 200): {replay * 1000:.0f} ms, {rate:.0f} entries/s")
            assert seen == last
            lat = []
            for n in range(args.items):
                began = time.perf_counter()
                async with pool.acquire() as conn, conn.transaction():
                    await items.open_item(
                        conn,
                        NewItem(
                            kind="job_stalled", subject=f"b-{n}", cause="c", title="t", priority=Priority.HIGH
                        ),
                    )
                lat.append((time.perf_counter() - began) * 1000)
            p50, p99 = percentile(sorted(lat), 0.50), percentile(sorted(lat), 0.99)
            print(
                f"open a work item (insert, history, outbox event; one transaction): "
                f"p50 {p50:.2f} ms, p99 {p99:.2f} ms over {args.items}"
            )
            began = time.perf_counter()
            for _ in range(20):
                await store.unresolved(pool, 1001)
                await store.unresolved_counts(pool)
            per_snapshot = (time.perf_counter() - began) * 50  # ms: 20 rounds
            print(f"snapshot's item queries with {args.items} open items: {per_snapshot:.1f} ms")
    finally:
        await drop_database(args.pg_admin, dsn)
    say("done")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--pg-admin", default="postgresql://postgres@127.0.0.1:5432/test")
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
