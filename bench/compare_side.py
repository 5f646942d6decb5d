"""One side of ``compare.py`` (the hub or the Node.js reference) through every phase, on its own
fresh database with its own load generator: idle sockets (memory, connect cost), chat (support:open,
the chat rates, the saturation steps), fan-out; then everything stopped and the database dropped."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cpushare
import hubproc
import refproc
from compare_results import step_result
from deployment import Deployment
from loadgenproc import WorkerProc
from runner import say
from stats import summarize

from hub.auth import Role

QUIET_PCT = 10.0  # server CPU (% of a core) under which a burst of connect broadcasts is over
QUIET_WAIT = 120.0
QUIET_WINDOW = 1.0


@dataclass
class Side:
    kind: str  # "hub" or "reference"
    args: argparse.Namespace
    log_dir: Path
    deployment: Deployment = field(init=False)
    server: hubproc.HubNode | None = None
    generator: WorkerProc | None = None
    # The server's processes: the hub's and, under --hub-workers, its workers; CPU and memory sum them.
    server_pids: list[int] = field(default_factory=list)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def presence_prefix(self) -> str:
        return f"hub-bench:{self.run_id}:presence:"

    @property
    def uses_redis(self) -> bool:
        return self.kind == "hub" and self.args.hub_workers > 1

    def __post_init__(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.deployment = Deployment(self.args.pg_admin, self.log_dir)

    async def start(self) -> None:
        args = self.args
        # The hub's chat:send limit (5/s per socket) would refuse the higher rates whatever the
        # hub can do, and the reference has none: it is lifted (bench/hub_wrapped.py).
        env = {"HUB_CHAT_AGENT_CAPACITY": str(args.agent_capacity), "BENCH_LIFT_CHAT_LIMIT": "1"}
        if self.kind == "hub" and args.hub_workers > 1:
            if not await hubproc.redis_reachable(args.redis_url):
                raise RuntimeError(f"--hub-workers needs Redis, and {args.redis_url} does not answer")
            env |= {
                "HUB_WORKERS": str(args.hub_workers),
                "HUB_REDIS_URL": args.redis_url,
                "HUB_REDIS_CHANNEL": f"hub-bench-{self.run_id}",
                "HUB_PRESENCE_KEY_PREFIX": self.presence_prefix,
            }
        dsn = await self.deployment.create_database(env)
        if self.kind == "hub":
            await self.deployment.start_hubs(["hub"])
            self.server = self.deployment.nodes[0]
            if args.hub_workers > 1:
                await hubproc.wait_workers(self.server, args.hub_workers)
            self.server_pids = self.server.pids()
            if len(self.server_pids) != 1 + (args.hub_workers if args.hub_workers > 1 else 0):
                raise RuntimeError(f"hub: processes {self.server_pids} for {args.hub_workers} workers")
        else:
            secret = self.deployment.env["HUB_JWT_SECRET"]
            self.server = await refproc.start_reference(dsn, secret, args.agent_capacity, self.log_dir)
            self.deployment.nodes.append(self.server)  # stopped, and its log read, as a hub's is
            self.server_pids = [self.server.pid]
        body = ("benchmark message " * (1 + args.body_chars // 18))[: args.body_chars]
        config = {
            "url": self.server.url,
            "timeout": args.timeout,
            "concurrency": args.concurrency,
            "body": body,
        }
        self.generator = await refproc.start_generator(self.kind, config, self.log_dir)

    async def ask(self, command: dict[str, Any], within: float) -> dict[str, Any]:
        assert self.generator is not None
        return await self.generator.request(command, within)

    async def connect(self, group: str, namespace: str, role: Role, count: int) -> dict[str, Any]:
        creds = [[f"{group}-{i}", self.deployment.token(role, f"{group}-{i}")] for i in range(count)]
        command = {"cmd": "connect", "group": group, "namespace": namespace, "creds": creds}
        reply = await self.ask(command, self.args.timeout * (1 + count / self.args.concurrency))
        if reply["errors"]:
            raise RuntimeError(f"{self.kind}: {group} sockets refused: {reply['errors']}")
        return reply

    # Phases ----------------------------------------------------------------------------------------

    async def idle_sockets(self) -> None:
        """RSS growth per idle customer socket, and CPU per connection while they connect."""
        assert self.server is not None
        count = self.args.idle_sockets
        await asyncio.sleep(self.args.settle)
        before = self._rss()
        first = self._sample()
        reply = await self.connect("idle", "/customer", Role.CUSTOMER, count)
        cpu = self._cpu_since(first)
        await asyncio.sleep(self.args.settle)
        after = self._rss()
        self.result["idle"] = {
            "sockets": count,
            "rss_before_kib": before,
            "rss_after_kib": after,
            "kib_per_socket": None if before is None or after is None else (after - before) / count,
            "connect_s": reply["seconds"],
            "server_us_per_connect": 1e6 * cpu["server"] / count,
            "postgres_us_per_connect": 1e6 * cpu["postgres"] / count,
        }
        say(f"{self.kind}: {count} idle sockets: {self.result['idle']}")
        await self.ask({"cmd": "disconnect", "group": "idle"}, self.args.timeout)

    async def chat(self) -> None:
        args = self.args
        await self.connect("agent", "/support", Role.SUPPORT, args.agents)
        await self.connect("customer", "/customer", Role.CUSTOMER, args.customers)
        within = args.timeout * (1 + args.customers / args.concurrency)
        opened = await self.ask({"cmd": "open", "customers": "customer", "agents": "agent"}, within)
        self.result["open"] = {k: opened[k] for k in ("seconds", "outcome", "conversations")}
        say(f"{self.kind}: support:open x {args.customers} in {opened['seconds']:.2f} s: {opened['outcome']}")
        if opened["conversations"] != args.customers:
            raise RuntimeError(f"{self.kind}: support:open outcomes {opened['outcome']}")
        self.result["steps"] = [await self.step(rate, args.warmup, args.duration) for rate in args.rates]
        self.result["saturation"] = []
        for rate in args.steps:
            step = await self.step(rate, args.sat_warmup, args.sat_duration)
            self.result["saturation"].append(step)
            if not step["kept_up"]:
                break

    async def step(self, rate: float, warmup: float, duration: float) -> dict[str, Any]:
        args = self.args
        start_at = time.monotonic() + 0.5  # time for the command to reach the generator
        window = asyncio.create_task(self._cpu_window(start_at + warmup, duration))
        command = {
            "cmd": "run",
            "rate": rate,
            "start_at": start_at,
            "warmup": warmup,
            "duration": duration,
            "drain": args.drain,
        }
        reply = await self.ask(command, 2.0 + warmup + duration + args.drain + args.timeout)
        step = step_result(rate, reply, await window, args.p99_limit_ms)
        say(
            f"{self.kind}: {rate:g} msg/s: e2e p50 {step['e2e_p50']:.1f} p99 {step['e2e_p99']:.1f} ms, "
            f"server {step['server_us_per_msg']:.0f} µs/msg, {step['verdict']}"
        )
        return step

    async def fanout(self) -> None:
        """A worker's presence:set toggles, each reaching every /support socket (admins, so that
        none of them is given conversations) as presence:changed."""
        args = self.args
        await self.connect("trigger", "/worker", Role.WORKER, args.fanout_triggers)
        await self.connect("room", "/support", Role.ADMIN, args.fanout_room)
        # Each admin that connected was announced to those already in the room (as on both
        # servers): wait for that burst to be over before measuring.
        await self._server_quiet()
        first = self._sample()
        command = {
            "cmd": "fanout",
            "triggers": "trigger",
            "room": "room",
            "count": args.fanout_broadcasts,
            "drain": args.drain,
        }
        reply = await self.ask(command, args.timeout * (1 + args.fanout_broadcasts) + args.drain)
        cpu = self._cpu_since(first)
        summary = _summary(reply.pop("latency_ms"))
        reply.pop("ok")
        self.result["fanout"] = (
            reply
            | summary
            | {
                "deliveries_per_s": reply["delivered"] / reply["seconds"] if reply["seconds"] else None,
                "server_cpu_s": cpu["server"],
                "generator_cpu_s": cpu["generator"],
            }
        )
        say(f"{self.kind}: fan-out: {self.result['fanout']}")

    async def stop(self) -> None:
        if self.generator is not None:
            try:
                await self.ask({"cmd": "stop"}, hubproc.STOP_TIMEOUT + 30)
            except Exception as exc:
                say(f"{self.kind}: the generator did not stop cleanly: {exc!r}")
            await hubproc.terminate(self.generator.process)
        await self.deployment.stop()
        self.result["server_log"] = next(iter(self.deployment.log_problems.values()), [])[:20]
        if self.uses_redis:
            with contextlib.suppress(Exception):
                await hubproc.delete_redis_keys(self.args.redis_url, self.presence_prefix)

    # CPU ---------------------------------------------------------------------------------------

    def _pids(self) -> list[int]:
        assert self.generator is not None
        return [*self.server_pids, self.generator.process.pid]

    def _rss(self) -> int | None:
        readings = [hubproc.rss_kib(pid) for pid in self.server_pids]
        return None if None in readings else sum(r for r in readings if r is not None)

    def _sample(self) -> hubproc.CpuSample:
        assert self.deployment.dsn is not None
        groups = cpushare.cpu_groups(self.deployment.dsn, redis=self.uses_redis)
        return hubproc.sample_cpu(self._pids(), groups)

    def _cpu_since(self, first: hubproc.CpuSample) -> dict[str, float]:
        """CPU seconds since ``first``: the server (every process of it), its PostgreSQL (the
        run's backends, the WAL writer and checkpointer), Redis when the hub's workers use it,
        the generator, and the wall time between the two readings."""
        last = self._sample()
        wall = last.at - first.at
        usage = hubproc.cpu_between(first, last)
        assert self.generator is not None
        postgres = sum(v for k, v in usage.groups.items() if k.startswith("postgres"))
        found = {
            "server": sum(usage.per_pid[pid] for pid in self.server_pids) * wall / 100,
            "generator": usage.per_pid[self.generator.process.pid] * wall / 100,
            "postgres": postgres * wall / 100,
            "untracked": usage.untracked * wall / 100,
            "wall": wall,
        }
        if "redis-server" in usage.groups:
            found["redis"] = usage.groups["redis-server"] * wall / 100
        return found

    async def _cpu_window(self, begin_monotonic: float, duration: float) -> dict[str, float]:
        await asyncio.sleep(max(0.0, begin_monotonic - time.monotonic()))
        first = self._sample()
        await asyncio.sleep(duration)
        return self._cpu_since(first)

    async def _server_quiet(self) -> None:
        deadline = time.monotonic() + QUIET_WAIT
        while time.monotonic() < deadline:
            first = self._sample()
            await asyncio.sleep(QUIET_WINDOW)
            cpu = self._cpu_since(first)
            if 100 * cpu["server"] / cpu["wall"] < QUIET_PCT:
                return
        say(f"{self.kind}: the server was still busy after {QUIET_WAIT:.0f} s; measuring anyway")


def _summary(latencies: list[float]) -> dict[str, float | None]:
    found = summarize(latencies)
    return {"p50_ms": found.p50 if found.count else None, "p99_ms": found.p99 if found.count else None}


async def run_side(kind: str, args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    """Every phase on one side; the side is stopped and its database dropped whatever happens."""
    side = Side(kind, args, log_dir)
    try:
        say(f"{kind}: starting")
        await side.start()
        if "idle" in args.phases:
            await side.idle_sockets()
        if "chat" in args.phases:
            await side.chat()
        if "fanout" in args.phases:
            await side.fanout()
    finally:
        await asyncio.shield(side.stop())
    return side.result
