"""Hub memory under abuse: resident memory at rest, after each kind of abuse of the attack report,
and once every abusive client has gone.

    .venv/bin/python bench/abuse_memory.py                   # every phase at full size, about 4 min
    .venv/bin/python bench/abuse_memory.py --scale 0.2       # smoke run, about 3 min
    .venv/bin/python bench/abuse_memory.py --repeat 5        # the phases five times over
    .venv/bin/python bench/abuse_memory.py --probe           # and what holds the memory (see below)
    .venv/bin/python bench/abuse_memory.py --probe --tracemalloc   # and which lines allocated it
    .venv/bin/python bench/abuse_memory.py --hub-env MALLOC_ARENA_MAX=2 --phases uploads,churn

The script creates a database, starts ``python -m hub serve`` on it (bench/deployment.py: random
JWT secret, the per-address connection limits raised so that traffic from 127.0.0.1 reaches the
paths it abuses, every other limit stock), and runs the phases in order, from this process:

- ``pending``: 2,000 Engine.IO websockets and 500 polling sessions that never join a namespace;
- ``one_token``: 2,000 sockets asking to join ``/customer`` with one person's token;
- ``events``: 100 people's sockets sending 18 events/s each;
- ``malformed``: 2,000 malformed Socket.IO packets in 5 s, over 40 sockets, plus a binary event
  whose attachment never comes on each;
- ``uploads``: 20 concurrent 10 MB uploads (raw bodies), then 20 more (multipart);
- ``churn``: sockets connecting to ``/customer`` and leaving at 557/s, each a new person;
- ``fuzz``: 7,500 random inputs, half socket events on the three namespaces, half HTTP requests
  on the routes of the OpenAPI document.

After each phase every client closes, the hub is left to settle (its sockets gone, un-joined
connections past the join timeout, RSS steady; each wait bounded) and its RSS is read from
``/proc``; after the last, once more after a minute at rest (``--final-wait``). ``--probe``
starts the hub through bench/hub_wrapped.py with bench/memprobe.py, which reports after each phase
the size of every per-connection, per-address and per-person structure, live objects by type and
the allocators' heaps, and at the end what a full garbage collection and ``malloc_trim(0)`` give
back. See bench/README.md, "Memory under abuse".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The modules next to this file import each other by plain name (see chat_latency.py).
sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiohttp
import hubproc
import runner
from deployment import DEFAULT_PG, Deployment
from runner import say

from hub.app import NAMESPACES
from hub.auth import Role

PHASES = ("pending", "one_token", "events", "malformed", "uploads", "churn", "fuzz")
JOIN_TIMEOUT = 5.0  # HUB_SOCKET_JOIN_TIMEOUT_SECONDS for the run, so un-joined sockets go in time
SETTLE_TIMEOUT = 60.0  # the longest wait for the hub to settle after a phase
STEADY_KIB = 256  # RSS is steady when three readings a second apart differ by less than this
OPEN_TIMEOUT = 20.0
CONCURRENCY = 100  # handshakes in flight at once
PNG = b"\x89PNG\r\n\x1a\n"
DEEP = "[" * 1200 + "]" * 1200
HUGE = "9" * 5000
MALFORMED = [
    '2/customer,5[1,"x"]',
    "2/customer,5[]",
    '2/customer,5{"event":"ping"}',
    '2/customer,5["ping",',
    "2/customer,5" + DEEP,
    '2/customer,5["chat:history",{"limit":' + HUGE + "}]",
    "2/customer,[]",
    "x",
    "9",
    "4/customer,{}",
    '2/nowhere,5["ping"]',
    "3/customer,7" + DEEP,
]
ROLES_OF = {"/customer": (Role.CUSTOMER,), "/worker": (Role.WORKER,), "/support": (Role.SUPPORT, Role.ADMIN)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--phases", default=",".join(PHASES), help=f"comma-separated, in this order: {','.join(PHASES)}")
    add("--scale", type=float, default=1.0, help="multiplies every count and duration (0.2: smoke run)")
    add(
        "--repeat",
        type=int,
        default=1,
        help="run the phases this many times over (does memory keep growing?)",
    )
    add(
        "--final-wait",
        type=float,
        default=65.0,
        help="seconds at rest after the last phase before the last reading (the hub trims glibc's "
        "free heap once a minute)",
    )
    add("--probe", action="store_true", help="report what holds the hub's memory (bench/memprobe.py)")
    add("--tracemalloc", action="store_true", help="with --probe: trace allocations from start-up (slow)")
    add(
        "--collect-after-phase",
        action="store_true",
        help="with --probe: the hub runs a full garbage collection and malloc_trim(0) after each "
        "phase (what collecting garbage promptly would save)",
    )
    add("--hub-env", action="append", default=[], metavar="NAME=VALUE", help="extra environment for the hub")
    add("--pg-admin", default=DEFAULT_PG, help="a role that may CREATE DATABASE")
    add("--seed", type=int, default=1)
    add("--keep-logs", action="store_true")
    add("--json", type=Path, help="write the readings as JSON to this file")
    args = parser.parse_args(argv)
    unknown = set(args.phases.split(",")) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    if (args.tracemalloc or args.collect_after_phase) and not args.probe:
        parser.error("--tracemalloc and --collect-after-phase need --probe")
    return args


# A raw Engine.IO websocket --------------------------------------------------------------------


class Raw:
    """One Engine.IO websocket spoken packet by packet: pings are answered, every Socket.IO packet
    the hub sends is kept (``packets``) and counted by its type (``kinds``)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.packets: asyncio.Queue[str] = asyncio.Queue()
        self.kinds: Counter[str] = Counter()
        self.closed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, session: aiohttp.ClientSession, url: str) -> Raw | None:
        """None when the hub refuses the handshake."""
        try:
            ws = await session.ws_connect(f"{url}/socket.io/?EIO=4&transport=websocket", autoping=True)
        except aiohttp.WSServerHandshakeError:
            return None
        opening = await ws.receive(timeout=OPEN_TIMEOUT)
        if not (isinstance(opening.data, str) and opening.data.startswith("0{")):
            await ws.close()
            return None
        return cls(ws)

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                if message.data == "2":
                    await self.ws.send_str("3")
                elif message.data.startswith("4"):
                    packet = message.data[1:]
                    self.kinds[packet[:1]] += 1
                    self.packets.put_nowait(packet)
        except (aiohttp.ClientError, ConnectionError):
            pass
        finally:
            self.closed.set()

    async def send(self, packet: str) -> bool:
        if self.ws.closed:
            return False
        try:
            await self.ws.send_str("4" + packet)
        except (aiohttp.ClientError, ConnectionError):
            return False
        return True

    async def join(self, namespace: str, token: str) -> str:
        """Connect to ``namespace``: "ok", the refusal's code, or "closed"."""
        await self.send(f"0{namespace},{json.dumps({'token': token})}")
        try:
            while True:
                packet = await asyncio.wait_for(self.packets.get(), OPEN_TIMEOUT)
                if packet.startswith(f"0{namespace},"):
                    return "ok"
                if packet.startswith(f"4{namespace},"):
                    return str(json.loads(packet.partition(",")[2]).get("code"))
        except TimeoutError:
            return "closed" if self.ws.closed else "no_answer"

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)


async def bounded(count: int, limit: int, make: Callable[[int], Awaitable[Any]]) -> list[Any]:
    """``make(i)`` for i in range(count), at most ``limit`` in flight; exceptions are returned."""
    gate = asyncio.Semaphore(limit)

    async def one(i: int) -> Any:
        async with gate:
            return await make(i)

    return await asyncio.gather(*(one(i) for i in range(count)), return_exceptions=True)


async def close_all(raws: list[Raw | None]) -> None:
    await asyncio.gather(*(raw.close() for raw in raws if raw is not None), return_exceptions=True)


def outcomes(results: list[Any]) -> dict[str, int]:
    return dict(Counter(r if isinstance(r, str) else type(r).__name__ for r in results))


# The run ----------------------------------------------------------------------------------------


@dataclass
class Reading:
    phase: str
    before_kib: int
    peak_kib: int
    after_kib: int
    seconds: float
    traffic: dict[str, Any]
    probe: dict[str, Any] | None = None


@dataclass
class Run:
    args: argparse.Namespace
    deployment: Deployment
    rng: random.Random
    probe_dir: Path | None
    readings: list[Reading] = field(default_factory=list)
    idle_kib: int = 0
    release: dict[str, Any] | None = None
    session: aiohttp.ClientSession | None = None
    _probes: int = 0

    @contextlib.asynccontextmanager
    async def client(self) -> AsyncIterator[None]:
        """A client session for one phase, closed with every connection it opened when it ends."""
        connector = aiohttp.TCPConnector(limit=0)
        self.session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120.0))
        try:
            yield
        finally:
            await self.session.close()
            self.session = None

    @property
    def http(self) -> aiohttp.ClientSession:
        assert self.session is not None, "inside Run.client() only"
        return self.session

    @property
    def node(self) -> hubproc.HubNode:
        return self.deployment.nodes[0]

    @property
    def url(self) -> str:
        return self.node.url

    def n(self, full: float) -> int:
        return max(1, round(full * self.args.scale))

    def seconds(self, full: float) -> float:
        return max(1.0, full * self.args.scale)

    def token(self, role: Role, sub: str) -> str:
        return self.deployment.token(role, sub)

    def rss(self) -> int:
        return hubproc.rss_kib(self.node.pid) or 0

    async def sockets_connected(self) -> float:
        lines = await hubproc.scrape_metric_lines(self.node, "hub_sockets{")
        return sum(float(line.rsplit(" ", 1)[1]) for line in lines)

    async def settle(self) -> int:
        """Wait until no socket is left, un-joined connections are past the join timeout and RSS
        is steady (each bounded); return the RSS."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_TIMEOUT
        while loop.time() < deadline:
            if await self.sockets_connected() == 0:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(JOIN_TIMEOUT + 1.0)
        readings = [self.rss()]
        while loop.time() < deadline:
            await asyncio.sleep(1.0)
            readings.append(self.rss())
            last = readings[-3:]
            if len(last) == 3 and max(last) - min(last) < STEADY_KIB:
                break
        return readings[-1]

    async def signal_hub(self, signum: int, prefix: str) -> dict[str, Any] | None:
        """Ask the hub's probe for a report and wait (bounded) for its file."""
        if self.probe_dir is None:
            return None
        self._probes += 1
        path = self.probe_dir / f"{prefix}-{self._probes}.json"
        self.node.process.send_signal(signum)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120.0  # a probe walks every live object; tracemalloc is slower
        while not path.exists():
            if loop.time() > deadline:
                say(f"the hub wrote no {path.name}")
                return None
            await asyncio.sleep(0.2)
        report: dict[str, Any] = json.loads(path.read_text())
        return report

    async def measure(self, name: str, phase: Callable[[Run], Awaitable[dict[str, Any]]]) -> None:
        before = self.rss()
        peak = before
        stop = asyncio.Event()

        async def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, self.rss())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.25)

        sampler = asyncio.create_task(sample())
        started = time.monotonic()
        say(f"phase {name}")
        try:
            async with self.client():
                traffic = await phase(self)
        finally:
            stop.set()
            await sampler
        seconds = time.monotonic() - started
        if self.args.collect_after_phase:
            await self.settle()
            await self.signal_hub(signal.SIGUSR2, "release")
        after = await self.settle()
        probe = await self.signal_hub(signal.SIGUSR1, "probe")
        self.readings.append(Reading(name, before, peak, after, seconds, traffic, probe))
        say(
            f"  {name}: {before / 1024:.1f} -> peak {peak / 1024:.1f} -> settled {after / 1024:.1f} MiB "
            f"({seconds:.0f} s) {traffic}"
        )


# The phases -------------------------------------------------------------------------------------


async def pending(run: Run) -> dict[str, Any]:
    """Engine.IO connections that never join a namespace, held open, then dropped."""
    raws = await bounded(run.n(2000), CONCURRENCY, lambda _: Raw.open(run.http, run.url))
    polls = await bounded(run.n(500), CONCURRENCY, lambda _: _poll_handshake(run))
    await asyncio.sleep(2.0)
    opened = [r for r in raws if isinstance(r, Raw)]
    await close_all(opened)
    return {"websockets": len(opened), "polling": sum(1 for p in polls if p is True)}


async def _poll_handshake(run: Run) -> bool:
    async with run.http.get(f"{run.url}/socket.io/?EIO=4&transport=polling") as response:
        return response.status == 200 and (await response.text()).startswith("0{")


async def one_token(run: Run) -> dict[str, Any]:
    """Thousands of sockets on one person's token: all kept open until the end of the phase."""
    token = run.token(Role.CUSTOMER, "abuser-one-token")
    raws: list[Raw | None] = []

    async def one(_: int) -> str:
        raw = await Raw.open(run.http, run.url)
        raws.append(raw)
        return "refused_handshake" if raw is None else await raw.join("/customer", token)

    results = await bounded(run.n(2000), CONCURRENCY, one)
    await close_all(raws)
    return outcomes(results)


async def events(run: Run) -> dict[str, Any]:
    """100 people's sockets, 18 events/s each: pings, inbox pages and app states."""
    people, rate, duration = run.n(100), 18.0, run.seconds(10.0)
    raws = await _joined(run, "/customer", [f"abuser-events-{i}" for i in range(people)])
    choices = (
        ['["ping"]'] * 7
        + ['["notifications:list",{"limit":50}]'] * 2
        + ['["app:state",{"state":"foreground"}]']
    )
    sent = 0

    async def drive(raw: Raw) -> None:
        nonlocal sent
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in range(int(rate * duration)):
            await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
            if await raw.send(f"2/customer,{i}{run.rng.choice(choices)}"):
                sent += 1

    await asyncio.gather(*(drive(raw) for raw in raws))
    await asyncio.sleep(1.0)  # the last acks
    acks = sum(raw.kinds["3"] for raw in raws)
    await close_all(list(raws))
    return {"sockets": len(raws), "sent": sent, "acked": acks}


async def _joined(run: Run, namespace: str, subs: list[str], role: Role = Role.CUSTOMER) -> list[Raw]:
    async def one(i: int) -> Raw | None:
        raw = await Raw.open(run.http, run.url)
        if raw is not None and await raw.join(namespace, run.token(role, subs[i])) == "ok":
            return raw
        if raw is not None:
            await raw.close()
        return None

    results = await bounded(len(subs), CONCURRENCY, one)
    return [r for r in results if isinstance(r, Raw)]


async def malformed(run: Run) -> dict[str, Any]:
    """2,000 malformed packets in 5 s over 40 sockets; then each sends the first half of a binary
    event and leaves without its attachment."""
    sockets, duration = run.n(40), 5.0
    per_socket = max(1, run.n(2000) // sockets)
    raws = await _joined(run, "/customer", [f"abuser-malformed-{i}" for i in range(sockets)])
    sent = 0

    async def drive(raw: Raw, offset: int) -> None:
        nonlocal sent
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in range(per_socket):
            await asyncio.sleep(max(0.0, start + i * duration / per_socket - loop.time()))
            if await raw.send(MALFORMED[(offset + i) % len(MALFORMED)]):
                sent += 1
        await raw.send('51-/customer,9["ping",{"_placeholder":true,"num":0}]')

    await asyncio.gather(*(drive(raw, i) for i, raw in enumerate(raws)))
    await asyncio.sleep(1.0)
    # A socket disconnected for sustained abuse got server:abuse, then its namespace's DISCONNECT.
    abused = sum(1 for raw in raws if raw.kinds["1"])
    await close_all(list(raws))
    return {"sockets": len(raws), "sent": sent, "disconnected_for_abuse": abused}


async def uploads(run: Run) -> dict[str, Any]:
    """20 concurrent 10 MB uploads from 20 people, raw bodies; then 20 more as multipart forms."""
    size, count = 10_000_000, run.n(20)
    body = PNG + bytes(size - len(PNG))
    statuses: Counter[str] = Counter()

    async def raw_body(i: int) -> None:
        headers = {
            "Authorization": f"Bearer {run.token(Role.CUSTOMER, f'abuser-upload-{i}')}",
            "Content-Type": "image/png",
        }
        async with run.http.post(f"{run.url}/api/v1/uploads", data=body, headers=headers) as response:
            statuses[f"raw {response.status}"] += 1
            await response.read()

    async def multipart(i: int) -> None:
        form = aiohttp.FormData()
        form.add_field("file", body, filename="big.png", content_type="image/png")
        headers = {"Authorization": f"Bearer {run.token(Role.CUSTOMER, f'abuser-form-{i}')}"}
        async with run.http.post(f"{run.url}/api/v1/uploads", data=form, headers=headers) as response:
            statuses[f"multipart {response.status}"] += 1
            await response.read()

    await asyncio.gather(*(raw_body(i) for i in range(count)), return_exceptions=True)
    await asyncio.gather(*(multipart(i) for i in range(count)), return_exceptions=True)
    return dict(statuses)


async def churn(run: Run) -> dict[str, Any]:
    """New people connecting and leaving at a fixed rate (open loop, bounded in flight)."""
    rate, duration = 557.0, run.seconds(10.0)
    total = int(rate * duration)
    results: Counter[str] = Counter()
    gate = asyncio.Semaphore(2 * CONCURRENCY)
    started = time.monotonic()

    async def one(i: int) -> None:
        try:
            raw = await Raw.open(run.http, run.url)
            if raw is None:
                results["refused_handshake"] += 1
                return
            results[await raw.join("/customer", run.token(Role.CUSTOMER, f"churn-{i}"))] += 1
            await raw.close()
        except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
            results[type(exc).__name__] += 1
        finally:
            gate.release()

    tasks = []
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(total):
        await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
        await gate.acquire()  # behind schedule when the hub cannot keep up: the rate is reported
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    return {**results, "per_second": round(total / (time.monotonic() - started))}


async def fuzz(run: Run) -> dict[str, Any]:
    """Random socket events on every namespace, then random requests on every documented route."""
    total = run.n(7500)
    socket_results = await _fuzz_sockets(run, total // 2)
    http_results = await _fuzz_http(run, total - total // 2)
    return {"socket": socket_results, "http": http_results}


def random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 2**63, 10**30, rng.randrange(-(10**9), 10**9)])
    if kind == 3:
        return rng.choice([0.5, -1e308, 1e-9])
    if kind == 4:
        return "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.choice([0, 1, 8, 64, 600])))
    if kind == 5:
        return rng.choice([str(uuid.uuid4()), "2026-01-01T00:00:00Z", "", "\x00", "online", "background"])
    if kind == 6:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["conversation_id", "body", "client_id", "limit", "cursor", "status", "state", "seq", "token"]
    return {
        rng.choice([*keys, "x" * rng.randrange(1, 40)]): random_json(rng, depth + 1)
        for _ in range(rng.randrange(5))
    }


async def _fuzz_sockets(run: Run, total: int) -> dict[str, int]:
    per_socket = 40
    names = {path: [*kind._events] for path, kind in NAMESPACES.items()}
    results: Counter[str] = Counter()

    async def one(i: int) -> None:
        namespace = list(NAMESPACES)[i % len(NAMESPACES)]
        role = run.rng.choice(ROLES_OF[namespace])
        raws = await _joined(run, namespace, [f"fuzz-{i}"], role)
        if not raws:
            results["not_joined"] += 1
            return
        raw = raws[0]
        for ack_id in range(min(per_socket, total - i * per_socket)):
            name = run.rng.choice(names[namespace]) if run.rng.random() < 0.9 else f"junk:{ack_id}"
            payload = json.dumps([name, random_json(run.rng)])
            await raw.send(f"2{namespace},{ack_id}{payload}")
        try:
            async with asyncio.timeout(OPEN_TIMEOUT):
                while not raw.closed.is_set():
                    if raw.kinds["3"] + raw.kinds["1"] >= per_socket:
                        break
                    await asyncio.sleep(0.05)
        except TimeoutError:
            results["unanswered"] += 1
        results["acked"] += raw.kinds["3"]
        await raw.close()

    await bounded((total + per_socket - 1) // per_socket, 20, one)
    return dict(results)


async def _fuzz_http(run: Run, total: int) -> dict[str, int]:
    async with run.http.get(f"{run.url}/api/v1/openapi.json") as response:
        document = await response.json()
    routes = [(method.upper(), path) for path, ops in document["paths"].items() for method in ops]
    statuses: Counter[str] = Counter()

    async def one(_: int) -> None:
        method, path = run.rng.choice(routes)
        filled = "/".join(_fill(run.rng, part) if part.startswith("{") else part for part in path.split("/"))
        headers = {}
        if run.rng.random() < 0.9:
            role = run.rng.choice(list(Role))
            headers["Authorization"] = f"Bearer {run.token(role, f'fuzz-http-{run.rng.randrange(500)}')}"
        params = {f"p{k}": str(random_json(run.rng))[:200] for k in range(run.rng.randrange(3))}
        if run.rng.random() < 0.3:
            params["limit"] = str(run.rng.choice([-1, 0, 1, 100, 10**20]))
        body = json.dumps(random_json(run.rng)).encode() if method in ("POST", "PUT", "PATCH") else None
        if body is not None:
            headers["Content-Type"] = run.rng.choice(["application/json", "image/png", "text/plain"])
        try:
            async with run.http.request(
                method, run.url + filled, params=params, data=body, headers=headers
            ) as response:
                await response.read()
                statuses[str(response.status)] += 1
        except (aiohttp.ClientError, TimeoutError) as exc:
            statuses[type(exc).__name__] += 1

    await bounded(total, 20, one)
    return dict(sorted(statuses.items()))


def _fill(rng: random.Random, _: str) -> str:
    return rng.choice([str(uuid.uuid4()), "x" * rng.randrange(1, 300), "%00", "123", "-1", "%F0%9F%98%80"])


PHASE_FUNCTIONS: dict[str, Callable[[Run], Awaitable[dict[str, Any]]]] = {
    "pending": pending,
    "one_token": one_token,
    "events": events,
    "malformed": malformed,
    "uploads": uploads,
    "churn": churn,
    "fuzz": fuzz,
}


# Report -----------------------------------------------------------------------------------------


def report(run: Run) -> str:
    mib = 1024.0
    lines = [
        "",
        f"hub RSS at rest: {run.idle_kib / mib:.1f} MiB",
        "",
        "| phase | before | peak | settled | settled - at rest | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for r in run.readings:
        lines.append(
            f"| {r.phase} | {r.before_kib / mib:.1f} | {r.peak_kib / mib:.1f} | {r.after_kib / mib:.1f} "
            f"| {(r.after_kib - run.idle_kib) / mib:+.1f} | {r.seconds:.0f} |"
        )
    lines.append("")
    for r in run.readings:
        lines.append(f"{r.phase}: {json.dumps(r.traffic)}")
    probes = [r for r in run.readings if r.probe]
    if probes:
        lines += ["", "What the hub holds after each phase (bench/memprobe.py):"]
        for r in probes:
            assert r.probe is not None
            grown = {k: v for k, v in r.probe["structures"].items() if v not in (0, None, {})}
            lines.append(f"  {r.phase}: structures {grown}")
            lines.append(f"    glibc heap {r.probe['heap_kib']}, pymalloc {r.probe['pymalloc_kib']} (KiB)")
            if "tracemalloc_kib" in r.probe:
                lines.append(f"    tracemalloc {r.probe['tracemalloc_kib']}")
        lines.append(f"  objects at the end: {probes[-1].probe['objects'] if probes[-1].probe else {}}")
    if run.release is not None:
        release = run.release
        lines += [
            "",
            f"at the end: {release['rss_kib'] / mib:.1f} MiB; after gc.collect() "
            f"({release['gc_collected']} objects) {release['after_gc_kib'] / mib:.1f} MiB; "
            f"after malloc_trim(0) {release['after_trim_kib'] / mib:.1f} MiB",
            f"  pymalloc after gc {release['pymalloc_after_gc_kib']}",
            f"  glibc heap after gc {release['heap_after_gc_kib']}",
            f"  glibc heap after trim {release['heap_after_trim_kib']} ({release['malloc_trim_ms']} ms)",
        ]
    return "\n".join(lines)


def tracemalloc_growth(probe_dir: Path, top: int = 25) -> str:
    """The lines whose allocations grew most between the first and the last snapshot."""
    snapshots = sorted(probe_dir.glob("probe-*.tracemalloc"), key=lambda p: int(p.stem.split("-")[1]))
    if len(snapshots) < 2:
        return ""
    first = tracemalloc.Snapshot.load(str(snapshots[0]))
    last = tracemalloc.Snapshot.load(str(snapshots[-1]))
    lines = ["", f"tracemalloc: growth from {snapshots[0].name} to {snapshots[-1].name}, by line:"]
    for stat in last.compare_to(first, "lineno")[:top]:
        lines.append(f"  {stat}")
    lines += ["", "by traceback (the largest three):"]
    for stat in last.compare_to(first, "traceback")[:3]:
        lines.append(f"  {stat.size_diff / 1024:+.1f} KiB, {stat.count_diff:+d} blocks")
        lines += [f"    {line}" for line in stat.traceback.format()[-16:]]
    return "\n".join(lines)


# Main -------------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> int:
    runner.cancel_on_sigterm()
    runner.raise_file_limit()
    log_dir = Path(tempfile.mkdtemp(prefix="hub-bench-memory-"))
    deployment = Deployment(args.pg_admin, log_dir)
    probe_dir = log_dir / "probe" if args.probe else None
    hub_env = {"HUB_LOG_LEVEL": "INFO", "HUB_SOCKET_JOIN_TIMEOUT_SECONDS": str(JOIN_TIMEOUT)}
    if probe_dir is not None:
        hub_env["BENCH_MEMORY_PROBE"] = str(probe_dir)
        if args.tracemalloc:
            hub_env["BENCH_TRACEMALLOC"] = "1"
    for item in args.hub_env:
        name, _, value = item.partition("=")
        hub_env[name] = value
    failed, text = False, ""
    run = Run(args, deployment, random.Random(args.seed), probe_dir)
    try:
        await deployment.create_database(hub_env)
        await deployment.start_hubs(["A"])
        say(f"hub pid {run.node.pid} on {run.url}; log {run.node.log_path}")
        async with run.client():  # every code path of a socket, once
            await close_all(list(await _joined(run, "/customer", ["warm-up"])))
        run.idle_kib = await run.settle()
        first = await run.signal_hub(signal.SIGUSR1, "probe")
        run.readings.append(Reading("at rest", run.idle_kib, run.idle_kib, run.idle_kib, 0.0, {}, first))
        for round_ in range(args.repeat):
            for name in args.phases.split(","):
                await run.measure(
                    name if args.repeat == 1 else f"{name} #{round_ + 1}", PHASE_FUNCTIONS[name]
                )
        if args.final_wait > 0:
            say(f"at rest for {args.final_wait:g} s")
            before = run.rss()
            await asyncio.sleep(args.final_wait)
            last = run.rss()
            probe = await run.signal_hub(signal.SIGUSR1, "probe")
            run.readings.append(
                Reading("a while at rest", before, max(before, last), last, args.final_wait, {}, probe)
            )
        run.release = await run.signal_hub(signal.SIGUSR2, "release")
        text = report(run)
        if probe_dir is not None and args.tracemalloc:
            text += "\n" + tracemalloc_growth(probe_dir)
    except Exception as exc:
        failed = True
        say(f"benchmark failed: {type(exc).__name__}: {exc}")
        if deployment.nodes:
            say(f"hub log tail:\n{run.node.log_tail()}")
    finally:
        say("stopping the hub, dropping the database")
        await asyncio.shield(deployment.stop())
        runner.keep_or_remove(log_dir, args.keep_logs or failed)
    if text:
        print(text)
    if args.json:
        runner.write_json(
            args.json,
            {
                "args": runner.args_json(args),
                "idle_kib": run.idle_kib,
                "readings": [vars(r) for r in run.readings],
                "release": run.release,
            },
        )
    return 1 if failed or not text else 0


if __name__ == "__main__":
    options = parse_args()
    runner.run_script(lambda: main(options))
