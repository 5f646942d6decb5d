"""The soak: people chatting both ways across two nodes, choosing statuses and taking dispatched
jobs, while the run cuts their networks, restarts Redis empty, freezes and kills PostgreSQL and
kills nodes with SIGKILL; then everything acknowledged is reconciled against what each person got."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bookings.orders import BOOKING_CHANGED
from hub.console.items import ITEM_CHANGED
from tests.soak.cluster import Cluster, Fault, running_cluster, seed
from tests.soak.ledger import Report, missing, read_stored, reconcile
from tests.soak.people import Agent, Customer, Person, Worker
from tests.support.bookings import booking_request, tomorrow_at

SETTLE_WITHIN = 60.0
DRAIN_WITHIN = 120.0
CHECKPOINT_WITHIN = 15.0
# Outbox topics whose events become console entries.
CONSOLE_TOPICS = [BOOKING_CHANGED, ITEM_CHANGED]


@dataclass
class Plan:
    customers: int = 8
    agents: int = 2
    workers: int = 3  # take dispatched jobs
    idle_workers: int = 2  # only change their status
    bookings: int = 6
    cycles: int = 1  # how many times the whole list of faults runs
    pause: float = 3.0  # seconds of plain load between faults
    message_every: float = 0.6  # seconds between one person's messages, on average
    minds_every: float = 4.0  # seconds between one person's status changes, on average
    seed: int = 1
    faults: tuple[str, ...] = (
        "cut_client_networks",
        "restart_redis_empty",
        "freeze_postgres",
        "kill_node_a",
        "kill_postgres",
        "kill_node_b",
        "cut_client_networks",
    )


@dataclass
class People:
    customers: list[Customer] = field(default_factory=list)
    agents: list[Agent] = field(default_factory=list)
    workers: list[Worker] = field(default_factory=list)
    idle_workers: list[Worker] = field(default_factory=list)

    def all(self) -> list[Person]:
        return [*self.customers, *self.agents, *self.workers, *self.idle_workers]


async def soak(directory: Path, plan: Plan, env: dict[str, str] | None = None) -> Report:
    random.seed(plan.seed)
    began = time.monotonic()
    async with running_cluster(directory, env) as cluster:
        people = People(
            customers=[Customer(cluster, f"c-{n}", n) for n in range(plan.customers)],
            agents=[Agent(cluster, f"a-{n}", n + 1) for n in range(plan.agents)],
            workers=[Worker(cluster, f"w-{n}", n) for n in range(plan.workers)],
            idle_workers=[
                Worker(cluster, f"idle-{n}", n + 1, takes_offers=False) for n in range(plan.idle_workers)
            ],
        )
        await seed(cluster, [w.sub for w in people.workers])
        try:
            await asyncio.gather(*(person.start() for person in people.all()))
            for agent in people.agents:
                await agent.choose("online")
            await asyncio.gather(*(c.open_support() for c in people.customers))

            talking = asyncio.Event()  # set: stop talking
            talkers = [
                *(asyncio.create_task(c.talk(plan.message_every, talking)) for c in people.customers),
                *(asyncio.create_task(a.talk(plan.message_every, talking)) for a in people.agents),
                *(asyncio.create_task(a.change_minds(plan.minds_every, talking)) for a in people.agents),
                *(asyncio.create_task(a.work_items(talking)) for a in people.agents),
                *(
                    asyncio.create_task(w.change_minds(plan.minds_every, talking))
                    for w in people.idle_workers
                ),
            ]
            for worker in people.workers:
                worker.spawn(worker.work(plan.message_every))
            booked = asyncio.create_task(_book(cluster, people.customers, plan.bookings, plan.pause))

            late_at: dict[str, list[str]] = {}
            for cycle in range(plan.cycles):
                for n, fault in enumerate(plan.faults):
                    await asyncio.sleep(plan.pause)
                    await _inject(cluster, fault)
                    injected = cluster.faults[-1]
                    await _settle(people)
                    injected.reconnected = _since(cluster, injected)
                    if late := await _checkpoint(cluster, people):
                        late_at[f"{fault} ({cycle + 1}.{n + 1})"] = late
                    injected.caught_up = _since(cluster, injected)
            await asyncio.sleep(plan.pause)

            talking.set()  # what is in flight still completes: nobody starts anything new
            await asyncio.wait_for(asyncio.gather(*talkers), DRAIN_WITHIN)
            bookings = await asyncio.wait_for(booked, DRAIN_WITHIN)
            await _drain(people, bookings)
            await _settle(people)
            if late := await _checkpoint(cluster, people):
                late_at["end of the load"] = late
            await _console_announced(cluster)
            # A last sync brings what a client would find on its next start, for the count of lost.
            await asyncio.gather(*(person.final_sync() for person in people.all()))
            return await reconcile(cluster, people.all(), bookings, time.monotonic() - began, late_at)
        finally:
            await asyncio.gather(*(person.stop() for person in people.all()), return_exceptions=True)


async def _inject(cluster: Cluster, fault: str) -> None:
    faults: dict[str, Callable[[], Awaitable[None]]] = {
        "restart_redis_empty": cluster.restart_redis_empty,
        "freeze_postgres": cluster.freeze_postgres,
        "kill_postgres": cluster.kill_postgres,
        "kill_node_a": lambda: cluster.kill_node(0),
        "kill_node_b": lambda: cluster.kill_node(1),
    }
    if fault == "cut_client_networks":
        cluster.cut_client_networks()
    else:
        await faults[fault]()


async def _settle(people: People) -> None:
    """Everyone connected again before the next fault (bounded)."""
    waits = [asyncio.wait_for(p.connected.wait(), SETTLE_WITHIN) for p in people.all()]
    await asyncio.gather(*waits)


async def _book(cluster: Cluster, customers: list[Customer], count: int, pause: float) -> list[str]:
    """Bookings spread over the run, each on its own day so that any worker may take it; each
    created with an Idempotency-Key and paid by reference, so retries never make two."""
    first = date.fromisoformat(tomorrow_at()[0])
    made: list[str] = []
    for n in range(count):
        customer = customers[n % len(customers)]
        day = (first + timedelta(days=n)).isoformat()
        at = (cluster, customer.node)
        request = booking_request(date=day)
        booking = await _until_answered(
            *at, "/api/v1/bookings", ("customer", customer.sub), request, f"soak-booking-{n}", (200, 201)
        )
        paid = {"payment_ref": f"soak-pay-{n}"}
        path = f"/api/v1/admin/bookings/{booking['id']}/mark-paid"
        await _until_answered(*at, path, ("admin", "admin-1"), paid, "", (200,))
        made.append(booking["id"])
        await asyncio.sleep(pause)
    return made


async def _until_answered(
    cluster: Cluster,
    node: int,
    path: str,
    caller: tuple[str, str],
    body: dict[str, Any],
    key: str,
    wanted: tuple[int, ...],
) -> Any:
    """POST until answered with one of ``wanted``; only an outage (5xx, 429, no answer) is retried."""
    deadline = time.monotonic() + DRAIN_WITHIN
    while True:
        with contextlib.suppress(OSError, TimeoutError, aiohttp.ClientError):
            status, answer = await cluster.http(node, "POST", path, *caller, json=body, key=key)
            if status in wanted:
                return answer
            assert status >= 500 or status == 429, (status, answer)  # anything else is a bug
        assert time.monotonic() < deadline, f"POST {path}: no answer in {wanted} within {DRAIN_WITHIN}s"
        await asyncio.sleep(random.uniform(0.2, 0.6))


async def _drain(people: People, bookings: list[str]) -> None:
    """Every job done and every send answered, within a bound."""
    deadline = time.monotonic() + DRAIN_WITHIN

    def finished() -> bool:
        done = {b for w in people.workers for b in w.done}
        return done >= set(bookings) and not any(p.unacked for p in people.all())

    while not finished():
        if time.monotonic() > deadline:
            return  # the reconciliation reports what is missing
        await asyncio.sleep(0.2)


async def _checkpoint(cluster: Cluster, people: People) -> list[str]:
    """Everything stored by now must reach its people, connected as they are, without a reconnect:
    live, or through the syncs that gaps and ``sync:required`` cause. Load goes on meanwhile, so
    only what is stored at the start counts. What is still missing after the bound is returned."""
    conn = await cluster.connect_db()
    try:
        stored = await read_stored(conn)
    finally:
        await conn.close()
    deadline = time.monotonic() + CHECKPOINT_WITHIN
    while lacking := missing(stored, people.all()):
        if time.monotonic() > deadline:
            return lacking
        await asyncio.sleep(0.2)
    return []


async def _console_announced(cluster: Cluster) -> None:
    """Every booking and work-item change on the console stream (its outbox event delivered or
    dead), so that the final sync reaches the end of the stream; what is not by the bound is
    reported by the reconciliation."""
    deadline = time.monotonic() + DRAIN_WITHIN
    while time.monotonic() < deadline:
        conn = await cluster.connect_db()
        try:
            pending = await conn.fetchval(
                """SELECT count(*) FROM events
                    WHERE topic = ANY($1::text[]) AND delivered_at IS NULL AND dead_at IS NULL""",
                CONSOLE_TOPICS,
            )
        finally:
            await conn.close()
        if not pending:
            return
        await asyncio.sleep(0.2)


def _since(cluster: Cluster, fault: Fault) -> float:
    return max(0.0, round(time.monotonic() - cluster.started - fault.started, 1))
