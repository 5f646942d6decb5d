"""One run of the chat benchmark, in order: hubs and load generators started, every socket
connected and every conversation opened, the hubs measured at rest, the rate steps, the final
readings, and everything stopped again."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import chat_options
import cpushare
import hubproc
import loadgenproc
from chat_results import StepResult, gc_summary, merge, step_line, sum_counts
from deployment import Deployment
from loadgenproc import WorkerProc
from runner import say

from hub.auth import Role

STOCK_CHAT_RATE = 5.0  # hub.ratelimit.LIMITS["chat"]: messages/s per socket, burst 20
NOISY_PCT = 30.0  # untracked CPU (% of one core) in a measured window that makes a step re-run


@dataclass
class Bench:
    args: argparse.Namespace
    log_dir: Path
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))
    deployment: Deployment = field(init=False)
    workers: list[WorkerProc] = field(default_factory=list)
    setup: dict[str, Any] = field(default_factory=dict)
    steps: list[StepResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.deployment = Deployment(self.args.pg_admin, self.log_dir)

    @property
    def nodes(self) -> list[hubproc.HubNode]:
        return self.deployment.nodes

    @property
    def presence_prefix(self) -> str:
        return f"hub-bench:{self.run_id}:presence:"

    # Set-up --------------------------------------------------------------------------------------

    async def start(self) -> None:
        args = self.args
        if args.nodes == 2 and not await hubproc.redis_reachable(args.redis_url):
            raise RuntimeError(f"--nodes 2 needs Redis, and {args.redis_url} does not answer")
        # Other programs on the machine skew every number; say how busy it was before we began.
        self.setup["machine_busy_before_pct"] = round(await hubproc.machine_busy(2.0), 1)
        redis_url = args.redis_url if args.nodes == 2 else None
        self.setup["environment"]["servers"] = await hubproc.server_versions(args.pg_admin, redis_url)
        await self.deployment.create_database(self._hub_env())
        say(f"database {self.deployment.database_name}; starting {args.nodes} hub node(s)")
        await self.deployment.start_hubs(("A", "B")[: args.nodes])
        await asyncio.sleep(1.0)  # let start-up garbage settle before the baseline reading
        self._read_rss("idle")
        await self._start_workers()
        await self._connect_and_open()

    def _hub_env(self) -> dict[str, str]:
        env = {"HUB_CHAT_AGENT_CAPACITY": str(self.args.agent_capacity)}
        if self.args.lift_chat_limit:
            env["BENCH_LIFT_CHAT_LIMIT"] = "1"  # see bench/hub_wrapped.py
        if self.args.gc_log_ms is not None:
            env["BENCH_GC_LOG_MS"] = str(self.args.gc_log_ms)
        if self.args.gc_off:
            env["BENCH_GC_OFF"] = "1"
        if self.args.nodes == 2:
            env |= {
                "HUB_REDIS_URL": self.args.redis_url,
                "HUB_REDIS_CHANNEL": f"hub-bench-{self.run_id}",
                "HUB_PRESENCE_KEY_PREFIX": self.presence_prefix,
            }
        return env

    def _tokens(self, role: Role, subs: list[str]) -> list[list[str]]:
        return [[sub, self.deployment.token(role, sub)] for sub in subs]

    async def _start_workers(self) -> None:
        args = self.args
        agents_per = loadgenproc.split(args.agents, args.workers)
        # Customers in proportion to agents, so each worker's agents fill up to the same load and
        # the hub's least-loaded assignment keeps every conversation inside one worker.
        customers_per = [round(args.customers * a / args.agents) for a in agents_per]
        customers_per[-1] = args.customers - sum(customers_per[:-1])
        first_customer = first_agent = 0
        for index, (customers, agents) in enumerate(zip(customers_per, agents_per, strict=True)):
            config = self._worker_config(
                index,
                loadgenproc.subs("bench-c", first_customer, customers),
                loadgenproc.subs("bench-a", first_agent, agents),
            )
            worker = await loadgenproc.start_worker(index, config, self.log_dir, customers, agents)
            self.workers.append(worker)
            first_customer, first_agent = first_customer + customers, first_agent + agents

    def _worker_config(self, index: int, customers: list[str], agents: list[str]) -> dict[str, Any]:
        args = self.args
        return {
            "index": index,
            "customer_url": self.nodes[0].url,
            "agent_url": self.nodes[-1].url,  # node B with --nodes 2: every message crosses Redis
            "customers": self._tokens(Role.CUSTOMER, customers),
            "agents": self._tokens(Role.SUPPORT, agents),
            "timeout": args.timeout,
            "concurrency": args.concurrency,
            "body": ("benchmark message " * (1 + args.body_chars // 18))[: args.body_chars],
        }

    async def _connect_and_open(self) -> None:
        """Customers first (all workers at once), then each worker's agents and conversations in
        turn: while one worker's customers open, only its own agents are online, so the hub
        assigns them locally."""
        timeout = self._setup_timeout(max(w.customers for w in self.workers))
        started = time.perf_counter()
        await asyncio.gather(*(w.request({"cmd": "connect_customers"}, timeout) for w in self.workers))
        self.setup["connect_customers_s"] = round(time.perf_counter() - started, 2)
        say(f"{self.args.customers} customers connected in {self.setup['connect_customers_s']} s")
        await asyncio.sleep(1.0)
        self._read_rss("customers")
        started = time.perf_counter()
        outcomes: dict[str, int] = {}
        for worker in self.workers:
            agents = await worker.request({"cmd": "connect_agents"}, self._setup_timeout(worker.agents))
            opened = await worker.request({"cmd": "open"}, self._setup_timeout(worker.customers))
            self._add_time("connect_agents_s", agents["seconds"])
            self._add_time("support_open_s", opened["seconds"])
            worker.local = opened["local"]
            outcomes = sum_counts([outcomes, opened["outcome"]])
            self.setup.setdefault("open_anomalies", []).extend(opened["anomalies"])
        self.setup["open_s"] = round(time.perf_counter() - started, 2)
        self.setup["conversations"] = outcomes
        say(f"agents connected, conversations opened in {self.setup['open_s']} s: {outcomes}")
        if outcomes.get("local", 0) != self.args.customers:
            self.notes.append(f"support:open outcomes: {outcomes}")
            for anomaly in self.setup["open_anomalies"][:3]:
                self.notes.append(f"support:open anomaly: {json.dumps(anomaly)}")
        if not any(w.local for w in self.workers):
            raise RuntimeError(f"no conversation was assigned inside one worker: {outcomes}")
        await asyncio.sleep(1.0)
        self._read_rss("connected")

    def _add_time(self, key: str, seconds: float) -> None:
        self.setup[key] = round(self.setup.get(key, 0.0) + seconds, 2)

    def _setup_timeout(self, sockets: int) -> float:
        """Each handshake or support:open has --timeout; this bounds a whole batch of them."""
        timeout: float = self.args.timeout
        return timeout + sockets * timeout / int(self.args.concurrency)

    def _read_rss(self, moment: str) -> None:
        for node in self.nodes:
            node.rss[moment] = hubproc.rss_kib(node.pid)

    # Steps -------------------------------------------------------------------------------------

    async def run_steps(self) -> None:
        args = self.args
        for index, rate in enumerate(chat_options.rates(args)):
            if index:
                await asyncio.sleep(args.pause)  # rate-limit buckets refill, backlogs clear
            self._warn_rate_limit(rate)
            result = await self.step_with_retries(rate)
            self.steps.append(result)
            if (args.saturate or args.steps) and not result.passed:
                break

    async def step_with_retries(self, rate: float) -> StepResult:
        """Run one step; repeat it (up to --retries) when other programs took a noticeable share
        of the CPU during its measured window, since their load is not the hub's."""
        args = self.args
        for attempt in range(args.retries + 1):
            await self._wait_quiet(rate)
            say(f"step {rate:g} msg/s: {args.warmup:g} s warm-up + {args.duration:g} s measured")
            result = await self.step(rate)
            say(step_line(result))
            noise = result.cpu["untracked"]
            if noise <= NOISY_PCT or attempt == args.retries:
                if noise > NOISY_PCT:
                    self.notes.append(f"step {rate:g}: untracked CPU {noise:.0f} % of a core (kept)")
                return result
            self.notes.append(f"step {rate:g}: repeated, untracked CPU was {noise:.0f} % of a core")
            say(f"repeating: {noise:.0f} % of a core went to programs outside the benchmark")
            await asyncio.sleep(args.pause)
        raise AssertionError("unreachable")

    async def _wait_quiet(self, rate: float) -> None:
        pids = [n.pid for n in self.nodes] + [w.process.pid for w in self.workers]
        other = await cpushare.wait_quiet(pids, self._cpu_groups(), self.args.quiet_wait)
        if other is not None:
            note = f"step {rate:g}: other programs used {other:.0f} % of a core just before it began"
            self.notes.append(note)
            say("note: " + note)

    def _warn_rate_limit(self, rate: float) -> None:
        per_agent = rate / 2 / self.args.agents
        if per_agent > STOCK_CHAT_RATE and not self.args.lift_chat_limit:
            note = (
                f"at {rate:g} msg/s each agent sends {per_agent:.1f} msg/s, above the hub's chat limit of "
                f"{STOCK_CHAT_RATE:g}/s per socket: expect rate_limited errors (see --lift-chat-limit)"
            )
            self.notes.append(note)
            say("note: " + note)

    async def step(self, rate: float) -> StepResult:
        args = self.args
        start_at = time.monotonic() + 1.0  # every worker starts its schedule at the same instant
        measured = (start_at + args.warmup, start_at + args.warmup + args.duration)
        cpu_task = asyncio.create_task(self._cpu_window(measured[0], args.duration))
        replies = await asyncio.gather(*(self._run_on(w, rate, start_at) for w in self.workers))
        result = merge(replies, rate, await cpu_task, args.p99_limit_ms)
        result.rss_after_kib = {n.name: hubproc.rss_kib(n.pid) for n in self.nodes}
        if args.gc_log_ms is not None:
            result.gc_pauses = {n.name: gc_summary(n.collections(*measured)) for n in self.nodes}
        return result

    async def _run_on(self, worker: WorkerProc, rate: float, start_at: float) -> dict[str, Any]:
        """One worker's share of the step: its part of the rate, by the conversations it holds."""
        args = self.args
        command = {
            "cmd": "run",
            "rate": rate * worker.local / sum(w.local for w in self.workers),
            "start_at": start_at,
            "warmup": args.warmup,
            "duration": args.duration,
            "drain": args.drain,
        }
        return await worker.request(command, 1.0 + args.warmup + args.duration + args.drain + args.timeout)

    async def _cpu_window(self, begin_monotonic: float, duration: float) -> dict[str, float]:
        """CPU of each process over the measured part of a step, read from /proc."""
        await asyncio.sleep(max(0.0, begin_monotonic - time.monotonic()))
        pids = [n.pid for n in self.nodes] + [w.process.pid for w in self.workers]
        usage, xacts_per_s = await self._usage_over(pids, duration)
        cpu = {f"hub {n.name}": usage.per_pid[n.pid] for n in self.nodes}
        cpu |= {f"loadgen {w.index}": usage.per_pid[w.process.pid] for w in self.workers}
        cpu |= usage.groups
        cpu["irq+softirq"] = usage.interrupts
        cpu["untracked"] = usage.untracked  # other programs
        cpu["machine"] = usage.machine_busy
        # Not CPU, but read over the same window: how hard the hub works the database.
        cpu["db transactions/s"] = xacts_per_s
        return {k: round(v, 1) for k, v in cpu.items()}

    async def _usage_over(self, pids: list[int], seconds: float) -> tuple[hubproc.CpuUsage, float]:
        """CPU of ``pids`` and of the run's database backends over the next ``seconds``, and the
        database's transactions per second."""
        dsn = self.deployment.dsn
        assert dsn is not None
        groups = self._cpu_groups()
        xacts = await hubproc.transactions(self.args.pg_admin, dsn)
        first = hubproc.sample_cpu(pids, groups)
        await asyncio.sleep(seconds)
        usage = hubproc.cpu_between(first, hubproc.sample_cpu(pids, groups))
        xacts = await hubproc.transactions(self.args.pg_admin, dsn) - xacts
        return usage, xacts / seconds

    def _cpu_groups(self) -> hubproc.Groups:
        assert self.deployment.dsn is not None
        return cpushare.cpu_groups(self.deployment.dsn, redis=self.args.nodes == 2)

    async def idle_cpu(self, seconds: float) -> None:
        """The hubs' CPU and database traffic with every socket connected and no chat: the floor
        under every step."""
        usage, xacts_per_s = await self._usage_over([n.pid for n in self.nodes], seconds)
        idle = {f"hub {n.name}": usage.per_pid[n.pid] for n in self.nodes} | usage.groups
        idle["db transactions/s"] = xacts_per_s
        self.setup["idle"] = {k: round(v, 1) for k, v in idle.items()}
        say(f"no traffic, all sockets connected (CPU % of one core): {self.setup['idle']}")

    # Wrap-up -----------------------------------------------------------------------------------

    async def final_readings(self) -> None:
        assert self.deployment.dsn is not None
        self.setup["database"] = await hubproc.database_counts(self.deployment.dsn)
        for node in self.nodes:
            lines = await hubproc.scrape_metric_lines(node, 'hub_socket_events_total{event="chat:send"')
            self.setup[f"metrics {node.name}"] = lines

    async def stop(self) -> None:
        """Workers, then hubs, then the database and Redis keys; each step is bounded in time and
        runs even when an earlier one failed."""
        for worker in self.workers:
            with contextlib.suppress(Exception):
                await worker.request({"cmd": "stop"}, hubproc.STOP_TIMEOUT + 30)
            with contextlib.suppress(Exception):
                await hubproc.terminate(worker.process)
        await self.deployment.stop()
        for node in self.nodes:
            self.setup[f"hub {node.name} log"] = self.deployment.log_problems[node.name][:20]
            if node.name in self.deployment.exit_codes:
                self.setup[f"hub {node.name} exit"] = self.deployment.exit_codes[node.name]
        if self.args.nodes == 2:
            with contextlib.suppress(Exception):
                await hubproc.delete_redis_keys(self.args.redis_url, self.presence_prefix)
