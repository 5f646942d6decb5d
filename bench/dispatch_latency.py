"""Time to offer (``dispatch.py latency``): bookings created and paid on a fixed schedule while the
workers see, decline or ignore their offers; when each wave's offers arrive, and what the hub, the
database and the outbox did meanwhile."""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import random
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import cpushare
import hubproc
from clientside import error_code, ms
from dispatch_data import add_service, add_workers, around, booking_request, local_today
from dispatch_fleet import Worker
from dispatch_hub import Hub
from runner import say
from stats import summarize


@dataclass
class Paid:
    booking_id: str
    scheduled: float  # perf_counter the schedule wanted the mark-paid at
    sent: float = 0.0  # perf_counter just before the mark-paid request was sent
    answered: float | None = None
    status: int | None = None


@dataclass
class LatencyRun:
    hub: Hub
    args: argparse.Namespace
    rng: random.Random
    paid: dict[str, Paid] = field(default_factory=dict)
    offers: list[tuple[float, str, Any]] = field(default_factory=list)  # (received, worker, event)
    offer_ids: set[str] = field(default_factory=set)
    duplicates: int = 0
    unknown_offers: int = 0
    declines: dict[str, float] = field(default_factory=dict)  # offer id -> decline emitted
    decline_errors: collections.Counter[str] = field(default_factory=collections.Counter)
    seen_errors: collections.Counter[str] = field(default_factory=collections.Counter)
    http_errors: collections.Counter[str] = field(default_factory=collections.Counter)
    create_ms: list[float] = field(default_factory=list)
    paid_ms: list[float] = field(default_factory=list)
    lag_ms: list[float] = field(default_factory=list)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    window_start: float = 0.0  # perf_counter when the first payment was due
    outbox: list[tuple[float, int, float]] = field(default_factory=list)  # (s into the run, events, age)
    checked: dict[str, Any] = field(default_factory=dict)  # database_check()
    analysed: dict[str, Any] = field(default_factory=dict)  # analyse()

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def prepare(self) -> None:
        hub, args = self.hub, self.args
        assert hub.pool is not None
        await add_service(hub.pool)
        rows = []
        for n in range(args.workers):
            lat, lng = around(self.rng, args.city_km)
            rating_count = self.rng.randint(0, 40)
            rating_sum = round(rating_count * self.rng.uniform(3.5, 5.0))
            rows.append(
                (
                    f"w-{n}",
                    lat,
                    lng,
                    round(self.rng.uniform(8, 15), 1),
                    self.rng.randint(0, 15),
                    rating_sum,
                    rating_count,
                )
            )
        await add_workers(hub.pool, rows)
        await hub.connect_workers([r[0] for r in rows])
        for worker in hub.fleet.workers:
            worker.on_offer = self._on_offer

    def _on_offer(self, worker: Worker, received: float, data: Any) -> None:
        """Record the offer; mark it seen at once (the app shows it); then decline it after a
        moment's thought, or leave it to expire, as --decline says."""
        offer_id = data.get("offer_id") if isinstance(data, dict) else None
        if offer_id in self.offer_ids:
            self.duplicates += 1
            return
        self.offer_ids.add(offer_id)
        self.offers.append((received, worker.sub, data))
        if data.get("booking_id") not in self.paid:
            self.unknown_offers += 1
        self._spawn(self._answer(worker, offer_id))

    async def _answer(self, worker: Worker, offer_id: str) -> None:
        args = self.args
        seen = await worker.call("offer:seen", {"offer_id": offer_id}, args.timeout)
        if not (isinstance(seen, dict) and seen.get("ok")):
            self.seen_errors[error_code(seen)] += 1
        if self.rng.random() >= args.decline:
            return  # ignored: the wave deadline expires it
        await asyncio.sleep(self.rng.uniform(args.think_min, args.think_max))
        sent = time.perf_counter()
        ack = await worker.call("offer:decline", {"offer_id": offer_id, "reason": "busy"}, args.timeout)
        if isinstance(ack, dict) and ack.get("ok"):
            self.declines[offer_id] = sent
        else:
            self.decline_errors[error_code(ack)] += 1

    def _request(self) -> dict[str, Any]:
        """A slot in the next --days days, service hours 08:00-20:00, at an address in the city."""
        minutes = self.rng.choice((120, 150, 180))
        latest = (20 * 60 - minutes) // 30  # last half-hour start that still ends by 20:00
        start = self.rng.randint(16, latest) * 30
        day = local_today() + timedelta(days=self.rng.randint(1, self.args.days))
        lat, lng = around(self.rng, self.args.address_km)
        return booking_request(day, f"{start // 60:02d}:{start % 60:02d}", minutes, lat, lng)

    async def _one(self, k: int, created_at: float, pay_at: float) -> None:
        """Book, then pay --pay-after seconds later (creation and payment both run at the rate)."""
        hub = self.hub
        await asyncio.sleep(max(0.0, created_at - time.perf_counter()))
        began = time.perf_counter()
        try:
            status, body = await hub.book(f"c-{k % self.args.customers}", self._request())
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.http_errors[f"create {type(exc).__name__}"] += 1
            return
        self.create_ms.append(ms(time.perf_counter(), began))
        if status != 201:
            self.http_errors[f"create {status} {error_code(body)}"] += 1
            return
        paid = self.paid[body["id"]] = Paid(body["id"], pay_at)
        await asyncio.sleep(max(0.0, pay_at - time.perf_counter()))
        paid.sent = time.perf_counter()
        self.lag_ms.append(ms(paid.sent, pay_at))
        try:
            paid.status, answer = await hub.mark_paid(paid.booking_id)
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.http_errors[f"mark-paid {type(exc).__name__}"] += 1
            return
        paid.answered = time.perf_counter()
        self.paid_ms.append(ms(paid.answered, paid.sent))
        if paid.status != 200:
            self.http_errors[f"mark-paid {paid.status} {error_code(answer)}"] += 1

    async def run(self) -> None:
        hub, args = self.hub, self.args
        assert hub.node is not None
        assert hub.dsn is not None
        await asyncio.sleep(2.0)
        rss_rest = hubproc.rss_kib(hub.node.pid)
        pids = [hub.node.pid, os.getpid()]
        self.result["machine_busy_before_pct"] = round(await hubproc.machine_busy(2.0), 1)
        await self._wait_quiet(pids)
        count = round(args.rate * args.duration)
        start = time.perf_counter() + 0.5
        window = (start + args.pay_after, start + args.pay_after + args.duration)
        say(f"{count} bookings at {args.rate:g}/s: created, then paid {args.pay_after:g} s later")
        for k in range(count):
            created = start + k / args.rate
            self._spawn(self._one(k, created, created + args.pay_after))
        self.window_start = window[0]
        sampler = asyncio.create_task(self._sample_outbox())
        await asyncio.sleep(max(0.0, window[0] - time.perf_counter()))
        xacts = await hubproc.transactions(args.pg_admin, hub.dsn)
        first = hubproc.sample_cpu(pids, cpushare.cpu_groups(hub.dsn))
        rss_peak = 0
        while time.perf_counter() < window[1]:
            await asyncio.sleep(min(1.0, max(0.0, window[1] - time.perf_counter())))
            rss_peak = max(rss_peak, hubproc.rss_kib(hub.node.pid) or 0)
        usage = hubproc.cpu_between(first, hubproc.sample_cpu(pids, cpushare.cpu_groups(hub.dsn)))
        xacts = (await hubproc.transactions(args.pg_admin, hub.dsn) - xacts) / args.duration
        rss_end = hubproc.rss_kib(hub.node.pid)
        say("payments done; waiting for every booking to be accepted or escalated")
        drained = await self._drain()
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        self.result |= {
            "cpu": {
                "hub": round(usage.per_pid[hub.node.pid], 1),
                "load generator (this process)": round(usage.per_pid[os.getpid()], 1),
                **{k: round(v, 1) for k, v in usage.groups.items()},
                "irq+softirq": round(usage.interrupts, 1),
                "untracked": round(usage.untracked, 1),
                "machine % of all cores": round(usage.machine_busy, 1),
            },
            "db_transactions_per_s": round(xacts, 1),
            "rss": {"rest": rss_rest, "peak": rss_peak, "end": rss_end},
            "drain_s": drained,
        }

    async def _sample_outbox(self) -> None:
        """Every second: undelivered events in the hub's outbox and the age of the oldest. Every
        dispatch request (and every notification and booking change) passes through it."""
        assert self.hub.pool is not None
        while True:
            row = await self.hub.pool.fetchrow(
                """SELECT count(*) AS n,
                          coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest
                     FROM events WHERE delivered_at IS NULL AND dead_at IS NULL"""
            )
            at = time.perf_counter() - self.window_start
            self.outbox.append((round(at, 1), row["n"], round(row["oldest"], 1)))
            await asyncio.sleep(1.0)

    async def _wait_quiet(self, pids: list[int]) -> None:
        """The machine is shared (2 cores): wait, up to --quiet-wait, until programs outside the
        benchmark use under QUIET_PCT of a core, so that their load stays out of the numbers."""
        assert self.hub.dsn is not None
        other = await cpushare.wait_quiet(pids, cpushare.cpu_groups(self.hub.dsn), self.args.quiet_wait)
        if other is not None:
            self.notes.append(f"other programs used {other:.0f} % of a core when the payments began")

    async def _drain(self) -> float:
        """Until no booking is still dispatching (every wave answered, expired or escalated)."""
        assert self.hub.pool is not None
        began = time.perf_counter()
        while time.perf_counter() - began < self.args.drain:
            left = await self.hub.pool.fetchval(
                "SELECT count(*) FROM bookings WHERE status = 'dispatching' AND escalated_at IS NULL"
            )
            if left == 0 and not self.tasks:
                break
            await asyncio.sleep(1.0)
        else:
            self.notes.append(f"still dispatching after --drain {self.args.drain:g} s")
        for task in list(self.tasks):
            task.cancel()
        return round(time.perf_counter() - began, 1)

    def analyse(self) -> dict[str, Any]:
        """Wave 1 from the mark-paid; later waves from what ended the previous one."""
        first_wave: list[float] = []
        after_declines: list[float] = []
        after_deadline: list[float] = []
        worst: dict[int, float] = {}  # second of the payments -> slowest wave-1 offer of its bookings
        waves: dict[tuple[str, int], list[tuple[float, Any]]] = collections.defaultdict(list)
        for received, _, event in self.offers:
            waves[(event["booking_id"], event["wave"])].append((received, event))
        # Wall-clock deadlines (the hub's clock, same machine) onto this process's perf_counter.
        wall_to_perf = time.perf_counter() - time.time()
        for (booking_id, wave), got in waves.items():
            paid = self.paid.get(booking_id)
            if paid is None:
                continue
            if wave == 1:
                first_wave += [ms(received, paid.sent) for received, _ in got]
                second = int(paid.sent - self.window_start)
                worst[second] = max(worst.get(second, 0.0), *(ms(r, paid.sent) for r, _ in got))
                continue
            before = waves.get((booking_id, wave - 1), [])
            declined = [self.declines.get(e["offer_id"]) for _, e in before]
            if before and all(d is not None for d in declined):
                trigger = max(d for d in declined if d is not None)
                after_declines += [ms(received, trigger) for received, _ in got]
            elif before:
                deadline = datetime.fromisoformat(before[0][1]["deadline"]).timestamp() + wall_to_perf
                after_deadline += [ms(received, deadline) for received, _ in got]
        per_wave = collections.Counter(event["wave"] for _, _, event in self.offers)
        return {
            "first_wave": summarize(first_wave),
            "after_declines": summarize(after_declines),
            "after_deadline": summarize(after_deadline),
            "offers_per_wave": dict(sorted(per_wave.items())),
            "bookings_offered": len({b for b, _ in waves}),
            "worst_first_wave_per_s": [round(worst[k]) for k in sorted(worst)],
        }

    async def database_check(self) -> dict[str, Any]:
        assert self.hub.pool is not None
        pool = self.hub.pool
        offers = await pool.fetch("SELECT status, count(*) AS n FROM offers GROUP BY status ORDER BY status")
        bookings = await pool.fetch(
            """SELECT status, escalated_at IS NOT NULL AS escalated, count(*) AS n FROM bookings
                GROUP BY 1, 2 ORDER BY 1, 2"""
        )
        return {
            "offers": {r["status"]: r["n"] for r in offers},
            "bookings": {f"{r['status']}{' escalated' if r['escalated'] else ''}": r["n"] for r in bookings},
        }


async def latency(args: argparse.Namespace, hub: Hub) -> LatencyRun:
    await hub.start(
        {
            "HUB_DISPATCH_WAVE_SIZE": str(args.wave_size),
            "HUB_DISPATCH_OFFER_SECONDS": str(args.offer_seconds),
        }
    )
    run = LatencyRun(hub, args, random.Random(args.seed))
    await run.prepare()
    await run.run()
    run.checked = await run.database_check()
    run.analysed = run.analyse()
    return run
