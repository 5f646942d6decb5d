"""Dispatch benchmarks: how fast a paid booking reaches workers' phones, and whether the accept
race always has exactly one winner.

    .venv/bin/python -m bench.dispatch latency                  # 200 workers, 20 bookings/s, 45 s
    .venv/bin/python -m bench.dispatch latency --quick          # smoke run: 40 workers, 5/s, 10 s
    .venv/bin/python -m bench.dispatch race                     # 1,000 trials, 10 workers each
    .venv/bin/python -m bench.dispatch race --trials 50         # smoke run

Each run creates a database, starts ``python -m hub serve`` against it (bench/hubproc.py), writes
a service and vetted workers straight into the database, connects the workers to ``/worker`` over
websockets from this process (the load generator; the hub is another process), drives bookings
over HTTP, prints the report, then stops the hub and drops the database, also on errors, Ctrl-C
and SIGTERM. See bench/README.md, section "Dispatch".
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import math
import os
import random
import secrets
import shutil
import signal
import sys
import tempfile
import time
import uuid
import zoneinfo
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import asyncpg
import socketio

from bench import hubproc
from bench.stats import Summary, mib, summarize
from hub.auth import Role, issue_token
from hub.settings import Settings

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
CENTRE = (31.2304, 121.4737)  # People's Square, Shanghai
KM_PER_DEG_LAT = 111.0
KM_PER_DEG_LNG = 95.0  # at Shanghai's latitude
TIMEZONE = "Asia/Shanghai"
SERVICE = "bench-cleaning"
WORKER_NS = "/worker"
QUIET_PCT = 15.0  # percent of one core other programs may use when the measured load starts
POSTGRES_SHARED = (": walwriter", ": checkpointer", ": background writer")
_T = TypeVar("_T")


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _ms(later: float, earlier: float) -> float:
    return round((later - earlier) * 1000, 3)


def _code(reply: Any) -> str:
    if isinstance(reply, dict) and isinstance(reply.get("error"), dict):
        return str(reply["error"].get("code", "unknown"))
    return "malformed_ack"


async def bounded(coroutines: Iterable[Awaitable[_T]], concurrency: int) -> list[_T]:
    gate = asyncio.Semaphore(concurrency)

    async def one(coroutine: Awaitable[_T]) -> _T:
        async with gate:
            return await coroutine

    return list(await asyncio.gather(*(one(c) for c in coroutines)))


def local_today() -> date:
    return datetime.now(UTC).astimezone(zoneinfo.ZoneInfo(TIMEZONE)).date()


def around(rng: random.Random, km: float) -> tuple[float, float]:
    """A point uniformly spread over a disc of ``km`` around the city centre."""
    r, angle = km * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
    return CENTRE[0] + r * math.sin(angle) / KM_PER_DEG_LAT, CENTRE[1] + r * math.cos(angle) / KM_PER_DEG_LNG


# The hub, its database, and the data a booking needs -----------------------------------------------


@dataclass
class Worker:
    """One worker's socket and what it received."""

    sub: str
    client: socketio.AsyncClient
    events: dict[str, list[tuple[float, Any]]] = field(default_factory=lambda: collections.defaultdict(list))
    disconnects: int = 0
    on_offer: Callable[[Worker, float, Any], None] | None = None

    async def call(self, event: str, data: Any, within: float) -> Any:
        return await self.client.call(event, data, namespace=WORKER_NS, timeout=within)


@dataclass
class Hub:
    """A database, one hub process on it, a direct connection pool for seeding and checking, and
    an HTTP session for the REST calls."""

    args: argparse.Namespace
    log_dir: Path
    dsn: str | None = None
    node: hubproc.HubNode | None = None
    env: dict[str, str] = field(default_factory=dict)
    pool: asyncpg.Pool | None = None
    http: aiohttp.ClientSession | None = None
    workers: list[Worker] = field(default_factory=list)
    closing: bool = False
    log_problems: list[str] = field(default_factory=list)
    news: asyncio.Event = field(default_factory=asyncio.Event)  # set on every event received

    async def until(self, condition: Callable[[], bool], within: float) -> bool:
        """Wait (at most ``within`` seconds) until ``condition()`` holds, re-checking it on each
        event any worker receives."""
        deadline = time.perf_counter() + within
        while not condition():
            self.news.clear()
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.news.wait(), remaining)
        return True

    async def start(self, hub_env: dict[str, str]) -> None:
        self.dsn = await hubproc.create_database(self.args.pg_admin)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "BENCH_"))}
        self.env = env | {
            "HUB_DATABASE_URL": self.dsn,
            "HUB_JWT_SECRET": secrets.token_hex(32),
            "HUB_LOG_LEVEL": "WARNING",
            "HUB_DATA_DIR": str(self.log_dir / "var"),
            "HUB_BOOKING_MIN_LEAD_MINUTES": "0",
            **hub_env,
        }
        say(f"database {self.dsn.rsplit('/', 1)[-1]}; starting the hub with {hub_env}")
        self.node = await hubproc.start_hub("A", self.env, self.log_dir)
        self.pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=4)
        # No cap on connections: every websocket holds one for its whole life.
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=self.args.timeout)
        )

    @property
    def url(self) -> str:
        assert self.node is not None
        return self.node.url

    def token(self, role: Role, sub: str) -> str:
        return issue_token(Settings.from_env(self.env), role=role, sub=sub, ttl_seconds=6 * 3600)

    async def add_service(self) -> None:
        assert self.pool is not None
        await self.pool.execute(
            """INSERT INTO service_categories (id, name_en, name_zh) VALUES ('cleaning', 'Cleaning', '保洁')
               ON CONFLICT DO NOTHING"""
        )
        await self.pool.execute(
            """INSERT INTO services (id, category_id, name_en, name_zh, skill, pricing,
                                     unit_price_cents, min_minutes, default_minutes, max_minutes,
                                     step_minutes, opens_at, closes_at)
               VALUES ($1, 'cleaning', 'Daily cleaning', '日常保洁', 'cleaning', 'hourly', 5000,
                       60, 120, 480, 30, '08:00', '20:00')""",
            SERVICE,
        )

    async def add_workers(self, rows: list[tuple[str, float, float, float, int, int, int]]) -> None:
        """(id, lat, lng, radius km, years, rating sum, rating count): vetted, identity verified,
        health and cleaning certificates valid for two years."""
        assert self.pool is not None
        await self.pool.executemany(
            """INSERT INTO workers (id, name, gender, years_experience, skills, area_lat, area_lng,
                                    area_radius_km, vetting_status, identity_verified, rating_sum,
                                    rating_count)
               VALUES ($1, 'Worker ' || $1, 'female', $5, '{cleaning}', $2, $3, $4, 'vetted', true,
                       $6, $7)""",
            rows,
        )
        expires = date.today() + timedelta(days=730)
        certificates = [(uuid.uuid4(), r[0], "health", None, expires) for r in rows]
        certificates += [(uuid.uuid4(), r[0], "skill", "cleaning", expires) for r in rows]
        await self.pool.executemany(
            """INSERT INTO worker_certificates (id, worker_id, kind, skill, expires_on, verified)
               VALUES ($1, $2, $3, $4, $5, true)""",
            certificates,
        )

    async def connect_workers(self, subs: list[str]) -> None:
        started = time.perf_counter()
        self.workers = await bounded((self._connect(sub) for sub in subs), self.args.concurrency)
        acks = await bounded(
            (w.call("presence:set", {"status": "online"}, self.args.timeout) for w in self.workers),
            self.args.concurrency,
        )
        refused = [a for a in acks if not (isinstance(a, dict) and a.get("ok"))]
        if refused:
            raise RuntimeError(f"presence:set refused: {refused[:3]}")
        say(f"{len(subs)} workers connected and online in {time.perf_counter() - started:.1f} s")

    async def _connect(self, sub: str) -> Worker:
        client = socketio.AsyncClient(
            reconnection=False,
            handle_sigint=False,
            http_session=self.http,
            request_timeout=self.args.timeout,
        )
        worker = Worker(sub, client)

        def recorder(event: str) -> Callable[..., None]:
            def on_event(data: Any = None) -> None:
                now = time.perf_counter()
                worker.events[event].append((now, data))
                self.news.set()
                if event == "offer" and worker.on_offer is not None:
                    worker.on_offer(worker, now, data)

            return on_event

        for event in ("offer", "offer:taken", "offer:expired", "offer:withdrawn"):
            client.on(event, recorder(event), namespace=WORKER_NS)

        def on_disconnect(reason: Any = None) -> None:
            if not self.closing:
                worker.disconnects += 1

        client.on("disconnect", on_disconnect, namespace=WORKER_NS)
        await client.connect(
            self.url,
            namespaces=[WORKER_NS],
            auth={"token": self.token(Role.WORKER, sub)},
            transports=["websocket"],
            wait_timeout=self.args.timeout,
        )
        return worker

    async def post(self, path: str, token: str, body: dict[str, Any]) -> tuple[int, Any]:
        assert self.http is not None
        headers = {"Authorization": f"Bearer {token}"}
        async with self.http.post(self.url + path, json=body, headers=headers) as response:
            return response.status, await response.json(content_type=None)

    async def book(self, customer: str, request: dict[str, Any]) -> tuple[int, Any]:
        return await self.post("/api/v1/bookings", self.token(Role.CUSTOMER, customer), request)

    async def mark_paid(self, booking_id: str) -> tuple[int, Any]:
        return await self.post(
            f"/api/v1/admin/bookings/{booking_id}/mark-paid",
            self.admin_token,
            {"payment_ref": f"bench-{booking_id}"},
        )

    @property
    def admin_token(self) -> str:
        return self.token(Role.ADMIN, "bench-admin")

    async def stop(self) -> None:
        """Sockets, then the hub, then the database; each step bounded and run even if one failed.
        Safe to call twice."""
        if self.closing:
            return
        self.closing = True
        with contextlib.suppress(Exception):
            async with asyncio.timeout(20):
                await bounded((w.client.disconnect() for w in self.workers), 50)
        if self.http is not None:
            with contextlib.suppress(Exception):
                await self.http.close()
        if self.pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.pool.close(), 10)
        if self.node is not None:
            self.log_problems = self.node.log_problems()
            with contextlib.suppress(Exception):
                await hubproc.terminate(self.node.process)
        if self.dsn is not None:
            try:
                await hubproc.drop_database(self.args.pg_admin, self.dsn)
            except Exception as exc:
                say(f"could not drop {self.dsn}: {exc!r}")


def booking_request(day: date, start: str, minutes: int, lat: float, lng: float) -> dict[str, Any]:
    return {
        "service_id": SERVICE,
        "date": day.isoformat(),
        "start_time": start,
        "duration_minutes": minutes,
        "address": {"label": "Home", "line": "1 Bench Rd", "city": "Shanghai", "lat": lat, "lng": lng},
        "special_requests": "",
    }


def cpu_groups(dsn: str) -> hubproc.Groups:
    return {
        "postgres": ("postgres", dsn.rsplit("/", 1)[-1]),  # this run's backends only
        "postgres (wal, checkpoints)": ("postgres", POSTGRES_SHARED),
        "ksoftirqd": ("ksoftirqd/", None),
    }


def machine_line() -> str:
    from importlib import metadata

    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = []
    for name in ("python-socketio", "python-engineio", "aiohttp", "asyncpg"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions.append(f"{name} {metadata.version(name)}")
    return f"Python {sys.version.split()[0]}, {hubproc.CORES} cores ({model}); {', '.join(versions)}"


def log_lines(hub: Hub) -> list[str]:
    """What the hub logged at WARNING and above: each record's first line and, for tracebacks,
    the exception line (indented lines are the stack)."""
    problems = hub.log_problems
    heads = [line for line in problems if not line.startswith((" ", "Traceback", "During handling"))]
    lines = [f"hub log (WARNING and above): {len(problems)} line(s)"]
    lines += [f"  {line}" for line in heads[:20]]
    return lines


# 1. Time to offer --------------------------------------------------------------------------------


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

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def prepare(self) -> None:
        hub, args = self.hub, self.args
        await hub.add_service()
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
        await hub.add_workers(rows)
        await hub.connect_workers([r[0] for r in rows])
        for worker in hub.workers:
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
            self.seen_errors[_code(seen)] += 1
        if self.rng.random() >= args.decline:
            return  # ignored: the wave deadline expires it
        await asyncio.sleep(self.rng.uniform(args.think_min, args.think_max))
        sent = time.perf_counter()
        ack = await worker.call("offer:decline", {"offer_id": offer_id, "reason": "busy"}, args.timeout)
        if isinstance(ack, dict) and ack.get("ok"):
            self.declines[offer_id] = sent
        else:
            self.decline_errors[_code(ack)] += 1

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
        self.create_ms.append(_ms(time.perf_counter(), began))
        if status != 201:
            self.http_errors[f"create {status} {_code(body)}"] += 1
            return
        paid = self.paid[body["id"]] = Paid(body["id"], pay_at)
        await asyncio.sleep(max(0.0, pay_at - time.perf_counter()))
        paid.sent = time.perf_counter()
        self.lag_ms.append(_ms(paid.sent, pay_at))
        try:
            paid.status, answer = await hub.mark_paid(paid.booking_id)
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.http_errors[f"mark-paid {type(exc).__name__}"] += 1
            return
        paid.answered = time.perf_counter()
        self.paid_ms.append(_ms(paid.answered, paid.sent))
        if paid.status != 200:
            self.http_errors[f"mark-paid {paid.status} {_code(answer)}"] += 1

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
        first = hubproc.sample_cpu(pids, cpu_groups(hub.dsn))
        rss_peak = 0
        while time.perf_counter() < window[1]:
            await asyncio.sleep(min(1.0, max(0.0, window[1] - time.perf_counter())))
            rss_peak = max(rss_peak, hubproc.rss_kib(hub.node.pid) or 0)
        usage = hubproc.cpu_between(first, hubproc.sample_cpu(pids, cpu_groups(hub.dsn)))
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
        deadline = time.monotonic() + self.args.quiet_wait
        while True:
            first = hubproc.sample_cpu(pids, cpu_groups(self.hub.dsn))
            await asyncio.sleep(2.0)
            other = hubproc.cpu_between(first, hubproc.sample_cpu(pids, cpu_groups(self.hub.dsn))).untracked
            if other < QUIET_PCT:
                return
            if time.monotonic() >= deadline:
                self.notes.append(f"other programs used {other:.0f} % of a core when the payments began")
                return
            say(f"waiting for other programs to leave the CPU ({other:.0f} % of a core)")

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
                first_wave += [_ms(received, paid.sent) for received, _ in got]
                second = int(paid.sent - self.window_start)
                worst[second] = max(worst.get(second, 0.0), *(_ms(r, paid.sent) for r, _ in got))
                continue
            before = waves.get((booking_id, wave - 1), [])
            declined = [self.declines.get(e["offer_id"]) for _, e in before]
            if before and all(d is not None for d in declined):
                trigger = max(d for d in declined if d is not None)
                after_declines += [_ms(received, trigger) for received, _ in got]
            elif before:
                deadline = datetime.fromisoformat(before[0][1]["deadline"]).timestamp() + wall_to_perf
                after_deadline += [_ms(received, deadline) for received, _ in got]
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


def latency_report(run: LatencyRun, checked: dict[str, Any], analysed: dict[str, Any]) -> str:
    args, result = run.args, run.result
    rss = result.get("rss", {})
    paid = [p for p in run.paid.values() if p.status == 200]
    lines = [
        f"# dispatch: time to offer, {time.strftime('%Y-%m-%d %H:%M %Z')}",
        machine_line(),
        f"{args.workers} workers online within {args.city_km:g} km of the centre (service radius 8-15 km), "
        f"{args.rate:g} bookings/s for {args.duration:g} s (created, paid {args.pay_after:g} s later), "
        f"slots over the next {args.days} days, addresses within {args.address_km:g} km; "
        f"wave size {args.wave_size}, offer deadline {args.offer_seconds:g} s, max waves 3; "
        f"workers mark every offer seen, then decline {args.decline:.0%} of offers after "
        f"{args.think_min:g}-{args.think_max:g} s and ignore the rest",
        "",
        f"bookings paid: {len(paid)} of {len(run.paid)} created; bookings offered: "
        f"{analysed['bookings_offered']}; offers received: {len(run.offers)} "
        f"{analysed['offers_per_wave']} (by wave)",
        "                                     count     p50     p90     p99     max  (ms)",
    ]
    for label, key in (
        ("wave 1: mark-paid sent -> offer", "first_wave"),
        ("next wave: last decline -> offer", "after_declines"),
        ("next wave: deadline -> offer", "after_deadline"),
    ):
        summary: Summary = analysed[key]
        lines.append(f"  {label:34s} {summary.count:5d} {summary.row()}")
    for label, values in (
        ("mark-paid HTTP response", run.paid_ms),
        ("create HTTP response", run.create_ms),
        ("generator lag (mark-paid)", run.lag_ms),
    ):
        summary = summarize(values)
        lines.append(f"  {label:34s} {summary.count:5d} {summary.row()}")
    lines += [
        "",
        f"machine busy just before (other programs included): {result.get('machine_busy_before_pct')} % "
        f"of {hubproc.CORES} cores",
        f"CPU over the {args.duration:g} s of payments (% of one core): {result.get('cpu')}",
        f"database transactions/s: {result.get('db_transactions_per_s')}",
        f"hub RSS: at rest with the workers connected {mib(rss.get('rest'))}, peak {mib(rss.get('peak'))}, "
        f"after the payments {mib(rss.get('end'))}",
        f"drain after the last payment: {result.get('drain_s')} s; database: {checked}",
        "slowest wave-1 offer of the bookings paid in each second (ms): "
        + " ".join(str(v) for v in analysed["worst_first_wave_per_s"]),
        "outbox backlog every 5 s (seconds since the first payment: undelivered events / oldest age s): "
        + " ".join(f"{at:g}:{n}/{age:g}" for at, n, age in run.outbox[::5]),
        f"errors: http {dict(run.http_errors) or 0}, offer:seen {dict(run.seen_errors) or 0}, "
        f"offer:decline {dict(run.decline_errors) or 0}, duplicate offers {run.duplicates}, "
        f"offers for unknown bookings {run.unknown_offers}, "
        f"disconnects {sum(w.disconnects for w in run.hub.workers)}",
    ]
    lines += [f"note: {n}" for n in run.notes]
    lines += log_lines(run.hub)
    return "\n".join(lines)


async def latency(args: argparse.Namespace, hub: Hub) -> str:
    await hub.start(
        {
            "HUB_DISPATCH_WAVE_SIZE": str(args.wave_size),
            "HUB_DISPATCH_OFFER_SECONDS": str(args.offer_seconds),
        }
    )
    run = LatencyRun(hub, args, random.Random(args.seed))
    await run.prepare()
    await run.run()
    checked = await run.database_check()
    analysed = run.analyse()
    await hub.stop()  # the report quotes the hub's log
    text = latency_report(run, checked, analysed)
    if args.json:
        blob = {
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "result": run.result,
            "database": checked,
            "outbox": run.outbox,
            "analysed": {k: asdict(v) if isinstance(v, Summary) else v for k, v in analysed.items()},
        }
        args.json.write_text(json.dumps(blob, indent=1, default=str) + "\n")
    return text


# 2. The accept race -------------------------------------------------------------------------------

RACE_STARTS = ("08:00", "09:30", "11:00", "12:30", "14:00", "15:30", "17:00", "18:30")
RACE_MINUTES = 60  # with the 30 min travel buffer on each side, these starts never overlap


@dataclass
class RaceRun:
    hub: Hub
    args: argparse.Namespace
    rng: random.Random
    winners: collections.Counter[str] = field(default_factory=collections.Counter)
    winner_position: collections.Counter[int] = field(default_factory=collections.Counter)
    codes: collections.Counter[str] = field(default_factory=collections.Counter)
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    trial_ms: list[float] = field(default_factory=list)
    offer_ms: list[float] = field(default_factory=list)
    race_ms: list[float] = field(default_factory=list)
    win_ack_ms: list[float] = field(default_factory=list)
    lose_ack_ms: list[float] = field(default_factory=list)
    wall: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)

    async def prepare(self) -> None:
        await self.hub.add_service()
        rows = []
        for n in range(self.args.race_workers):
            lat, lng = around(self.rng, 3.0)
            rows.append((f"w-{n}", lat, lng, 15.0, self.rng.randint(0, 15), 0, 0))
        await self.hub.add_workers(rows)
        await self.hub.connect_workers([r[0] for r in rows])

    async def trial(self, t: int) -> None:
        hub, args = self.hub, self.args
        began = time.perf_counter()
        day = local_today() + timedelta(days=1 + t // len(RACE_STARTS))
        request = booking_request(day, RACE_STARTS[t % len(RACE_STARTS)], RACE_MINUTES, *CENTRE)
        status, booking = await hub.book(f"c-{t % 50}", request)
        if status != 201:
            raise RuntimeError(f"trial {t}: booking refused {status} {booking}")
        booking_id = booking["id"]
        paid_at = time.perf_counter()
        status, paid = await hub.mark_paid(booking_id)
        if status != 200:
            raise RuntimeError(f"trial {t}: mark-paid refused {status} {paid}")
        offers = await self._offers(booking_id)
        problems: list[str] = []
        if len(offers) != args.race_workers:
            problems.append(f"{len(offers)} offers received, expected {args.race_workers}")
        self.offer_ms.append(_ms(max(received for _, received, _ in offers), paid_at) if offers else 0.0)
        order = list(offers)
        self.rng.shuffle(order)  # who emits first changes every trial

        async def accept(worker: Worker, offer_id: str) -> tuple[Any, float]:
            try:
                ack = await worker.call("offer:accept", {"offer_id": offer_id}, args.timeout)
            except socketio.exceptions.SocketIOError as exc:
                ack = {"ok": False, "error": {"code": f"no_ack ({type(exc).__name__})"}}
            if not isinstance(ack, dict):
                ack = {"ok": False, "error": {"code": "malformed_ack"}}
            return ack, time.perf_counter()

        raced = time.perf_counter()
        replies = await asyncio.gather(*(accept(w, event["offer_id"]) for w, _, event in order))
        self.race_ms.append(_ms(max(at for _, at in replies), raced))
        won = [
            (pos, w)
            for pos, ((w, _, _), (ack, _)) in enumerate(zip(order, replies, strict=True))
            if ack.get("ok")
        ]
        for (_, _, event), (ack, at) in zip(order, replies, strict=True):
            if ack.get("ok"):
                self.win_ack_ms.append(_ms(at, raced))
            else:
                self.codes[_code(ack)] += 1
                self.lose_ack_ms.append(_ms(at, raced))
                if _code(ack) != "offer_taken":
                    problems.append(f"error ack {_code(ack)} for {event['offer_id']}")
        if len(won) != 1:
            problems.append(f"{len(won)} ok acks")
        winner = won[0][1].sub if len(won) == 1 else None
        if winner is not None:
            self.winners[winner] += 1
            self.winner_position[won[0][0]] += 1
            ack_worker = next(a for a, _ in replies if a.get("ok"))["data"]["booking"]["worker_id"]
            if ack_worker != winner:
                problems.append(f"the ok ack names {ack_worker}, sent by {winner}")
        problems += await self._check_rows(booking_id, winner, [w.sub for w, _, _ in offers])
        problems += await self._check_taken(booking_id, winner, offers)
        self.trial_ms.append(_ms(time.perf_counter(), began))
        if problems:
            self.anomalies.append({"trial": t, "booking": booking_id, "problems": problems})
            say(f"trial {t}: {problems}")

    async def _offers(self, booking_id: str) -> list[tuple[Worker, float, Any]]:
        """Wait until every worker has the booking's offer (or --timeout)."""

        def found() -> list[tuple[Worker, float, Any]]:
            return [
                (w, at, event)
                for w in self.hub.workers
                for at, event in w.events["offer"]
                if event.get("booking_id") == booking_id
            ]

        await self.hub.until(lambda: len(found()) >= self.args.race_workers, self.args.timeout)
        return found()

    async def _check_rows(self, booking_id: str, winner: str | None, offered: list[str]) -> list[str]:
        assert self.hub.pool is not None
        problems = []
        row = await self.hub.pool.fetchrow(
            "SELECT status, worker_id FROM bookings WHERE id = $1", uuid.UUID(booking_id)
        )
        if row is None or row["status"] != "accepted" or row["worker_id"] != winner:
            problems.append(f"booking row {dict(row) if row else None}, winner {winner}")
        rows = await self.hub.pool.fetch(
            "SELECT worker_id, status FROM offers WHERE booking_id = $1", uuid.UUID(booking_id)
        )
        statuses = collections.Counter(r["status"] for r in rows)
        accepted = [r["worker_id"] for r in rows if r["status"] == "accepted"]
        expected = {"accepted": 1, "taken": self.args.race_workers - 1}
        if dict(statuses) != expected or accepted != [winner]:
            problems.append(f"offer rows {dict(statuses)}, accepted by {accepted}, winner {winner}")
        if sorted(r["worker_id"] for r in rows) != sorted(offered):
            problems.append("offer rows and received offers name different workers")
        return problems

    async def _check_taken(
        self, booking_id: str, winner: str | None, offers: list[tuple[Worker, float, Any]]
    ) -> list[str]:
        """Every loser is also told offer:taken (sent before the winner's ack, so soon here)."""
        losers = [w for w, _, _ in offers if w.sub != winner]

        def told(worker: Worker) -> bool:
            return any(e.get("booking_id") == booking_id for _, e in worker.events["offer:taken"])

        await self.hub.until(lambda: all(told(w) for w in losers), 2.0)
        missing = [w.sub for w in losers if not told(w)]
        return [f"no offer:taken for {missing}"] if missing else []

    async def run(self) -> None:
        hub = self.hub
        assert hub.node is not None
        assert hub.dsn is not None
        pids = [hub.node.pid, os.getpid()]
        first = hubproc.sample_cpu(pids, cpu_groups(hub.dsn))
        started = time.perf_counter()
        for t in range(self.args.trials):
            await self.trial(t)
            if (t + 1) % 100 == 0:
                say(f"{t + 1} trials, {len(self.anomalies)} anomalies, {time.perf_counter() - started:.0f} s")
        self.wall = time.perf_counter() - started
        usage = hubproc.cpu_between(first, hubproc.sample_cpu(pids, cpu_groups(hub.dsn)))
        self.cpu = {
            "hub": round(usage.per_pid[hub.node.pid], 1),
            "load generator (this process)": round(usage.per_pid[os.getpid()], 1),
            "postgres": round(usage.groups["postgres"], 1),
            "untracked (other programs)": round(usage.untracked, 1),
        }


def race_report(run: RaceRun) -> str:
    args = run.args
    by_worker = dict(sorted(run.winners.items(), key=lambda kv: int(kv[0].split("-")[1])))
    lines = [
        f"# dispatch: accept race, {time.strftime('%Y-%m-%d %H:%M %Z')}",
        machine_line(),
        f"{args.trials} trials, one at a time; each booking offered to {args.race_workers} workers at once "
        f"(HUB_DISPATCH_WAVE_SIZE={args.race_workers}), all {args.race_workers} send offer:accept together "
        "(asyncio.gather, emit order shuffled per trial)",
        f"wall time {run.wall:.1f} s; CPU over the trials (% of one core): {run.cpu}",
        f"ok acks: {sum(run.winners.values())}; error acks by code: {dict(run.codes)}",
        f"winners by worker: {by_worker}",
        f"winners by emit position (0 = emitted first): {dict(sorted(run.winner_position.items()))}",
        f"anomalies: {len(run.anomalies)}",
        "                                     count     p50     p90     p99     max  (ms)",
    ]
    for label, values in (
        ("whole trial (book .. checks)", run.trial_ms),
        ("mark-paid sent -> last of 10 offers", run.offer_ms),
        ("race: first emit -> last ack", run.race_ms),
        ("winner's ack", run.win_ack_ms),
        ("losers' acks", run.lose_ack_ms),
    ):
        summary = summarize(values)
        lines.append(f"  {label:34s} {summary.count:5d} {summary.row()}")
    lines += [f"  anomaly: {json.dumps(a)}" for a in run.anomalies[:20]]
    lines += log_lines(run.hub)
    return "\n".join(lines)


async def race(args: argparse.Namespace, hub: Hub) -> RaceRun:
    await hub.start(
        {
            "HUB_DISPATCH_WAVE_SIZE": str(args.race_workers),
            "HUB_DISPATCH_OFFER_SECONDS": "120",
            "HUB_BOOKING_MAX_DAYS_AHEAD": "366",  # 8 slots a day: 1,000 trials need 125 days
        }
    )
    run = RaceRun(hub, args, random.Random(args.seed))
    await run.prepare()
    await run.run()
    return run


# Command line -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    common = argparse.ArgumentParser(add_help=False)
    add = common.add_argument
    add("--pg-admin", default=DEFAULT_PG, help="server where the run's database is created")
    add("--timeout", type=float, default=20.0, help="limit of each single wait")
    add("--concurrency", type=int, default=25, help="handshakes in flight at once")
    add("--seed", type=int, default=1)
    add("--json", type=Path, help="also write the results to this file")
    add("--keep-logs", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)

    lat = commands.add_parser("latency", parents=[common], help="time from mark-paid to offer")
    add = lat.add_argument
    add("--workers", type=int, default=200, help="workers online")
    add("--rate", type=float, default=20.0, help="bookings made payable per second")
    add("--duration", type=float, default=45.0, help="seconds of payments (measured)")
    add("--pay-after", type=float, default=1.0, help="seconds between a booking's creation and payment")
    add("--customers", type=int, default=500)
    add("--days", type=int, default=7, help="slots spread over this many days ahead")
    add("--city-km", type=float, default=15.0, help="workers' bases within this distance of the centre")
    add("--address-km", type=float, default=12.0, help="booking addresses within this distance")
    add("--wave-size", type=int, default=3, help="HUB_DISPATCH_WAVE_SIZE")
    add("--offer-seconds", type=float, default=30.0, help="HUB_DISPATCH_OFFER_SECONDS")
    add("--decline", type=float, default=0.5, help="share of offers declined; the rest are ignored")
    add("--think-min", type=float, default=1.0, help="a decline comes this many seconds after the offer…")
    add("--think-max", type=float, default=5.0, help="…up to this many")
    add("--drain", type=float, default=150.0, help="longest wait for the last waves after the payments")
    add("--quiet-wait", type=float, default=120.0, help="longest wait for other programs to go quiet")
    add("--quick", action="store_true", help="smoke run: 40 workers, 5 bookings/s for 10 s, 3 s deadline")

    rc = commands.add_parser("race", parents=[common], help="1,000 accept races of 10 workers")
    rc.add_argument("--trials", type=int, default=1000)
    rc.add_argument("--race-workers", type=int, default=10, help="workers offered each booking at once")
    args = parser.parse_args(argv)
    if args.command == "latency" and args.quick:
        args.workers, args.rate, args.duration, args.offer_seconds, args.drain = 40, 5.0, 10.0, 3.0, 30.0
        args.think_min, args.think_max, args.quiet_wait = 0.2, 1.0, 10.0
    return args


async def main(args: argparse.Namespace) -> int:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    log_dir = Path(tempfile.mkdtemp(prefix="hub-bench-dispatch-"))
    hub = Hub(args, log_dir)
    failed, text = False, ""
    try:
        if args.command == "latency":
            text = await latency(args, hub)
        else:
            run = await race(args, hub)
            await hub.stop()  # the report quotes the hub's log
            text = race_report(run)
            failed = bool(run.anomalies)
            if args.json:
                blob = {
                    "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                    "winners": run.winners,
                    "codes": run.codes,
                    "anomalies": run.anomalies,
                    "trial_ms": asdict(summarize(run.trial_ms)),
                }
                args.json.write_text(json.dumps(blob, indent=1, default=str) + "\n")
    except Exception as exc:
        failed = True
        say(f"benchmark failed: {type(exc).__name__}: {exc}")
        if hub.node is not None:
            say(f"hub log tail:\n{hub.node.log_tail()}")
    finally:
        say("stopping the workers and the hub, dropping the database")
        await asyncio.shield(hub.stop())
        if args.keep_logs or failed or hub.log_problems:
            say(f"logs kept in {log_dir}")
        else:
            shutil.rmtree(log_dir, ignore_errors=True)
    if text:
        print(text)
    return 1 if failed or not text else 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main(parse_args())))
    except (KeyboardInterrupt, asyncio.CancelledError):
        say("interrupted; everything started was stopped")
        sys.exit(130)
