"""End-to-end chat latency of the hub: customers and support agents chatting over real sockets.

    .venv/bin/python bench/chat_latency.py --customers 1000 --agents 20 --rate 200 --duration 30
    .venv/bin/python bench/chat_latency.py --nodes 2 ...        # customers on node A, agents on B
    .venv/bin/python bench/chat_latency.py --saturate ...       # step the rate up until it breaks
    .venv/bin/python bench/chat_latency.py --quick              # 100 customers, 5 agents, 5 s

The script creates a database, starts the hub process(es) (``python -m hub serve``), starts the
load-generator workers (``bench/loadgen.py``), connects every socket, opens one support
conversation per customer, drives chat at a fixed offered rate, prints the results, and then stops
everything it started and drops its database, also on errors and Ctrl-C. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import secrets
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import hubproc
from stats import Summary, mib, summarize

from hub.auth import Role, issue_token
from hub.settings import Settings

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
SATURATION_STEPS = (200, 300, 400, 500, 600, 800, 1000, 1200, 1600, 2000)
STOCK_CHAT_RATE = 5.0  # hub.ratelimit.LIMITS["chat"]: messages/s per socket, burst 20
WORKER_START_TIMEOUT = 30.0
QUIET_PCT = 15.0  # percent of one core that other programs may use when a step starts
QUIET_WINDOW = 2.0
NOISY_PCT = 30.0  # untracked CPU (% of one core) in a measured window that makes a step re-run
LOADGEN = Path(__file__).with_name("loadgen.py")
POSTGRES_SHARED = (": walwriter", ": checkpointer", ": background writer")


# Command line ------------------------------------------------------------------------------------


# --quick: small enough to finish in well under a minute, big enough to exercise every path.
QUICK = {
    "customers": 100,
    "agents": 5,
    "rate": 40.0,  # 4 msg/s per agent, inside the stock chat limit of 5/s
    "duration": 5.0,
    "warmup": 2.0,
    "drain": 5.0,
    "pause": 2.0,
    "quiet_wait": 10.0,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _load_args(parser)
    _hub_args(parser)
    _run_args(parser)
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
    check_args(parser, args)
    return args


def _load_args(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--customers", type=int, default=1000)
    add("--agents", type=int, default=20)
    add("--rate", type=float, default=200.0, help="offered messages/s, both directions together")
    add("--duration", type=float, default=30.0, help="measured seconds per rate step")
    add("--warmup", type=float, default=5.0, help="seconds sent but not measured, before each step")
    add("--saturate", action="store_true", help="step the rate up until a step fails (see --steps)")
    add("--steps", help=f"comma-separated rates (default {','.join(map(str, SATURATION_STEPS))})")
    add("--p99-limit-ms", type=float, default=250.0, help="a step fails when a p99 exceeds this")
    add("--body-chars", type=int, default=64, help="length of each message body")
    add("--workers", type=int, default=2, help="load-generator processes")
    add("--concurrency", type=int, default=25, help="handshakes or support:open in flight per worker")
    add("--quick", action="store_true", help="smoke run: 100 customers, 5 agents, 40 msg/s, 5 s")


def _hub_args(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--nodes", type=int, choices=(1, 2), default=1, help="2: customers on node A, agents on B")
    add("--agent-capacity", type=int, default=60, help="HUB_CHAT_AGENT_CAPACITY")
    add("--pg-admin", default=DEFAULT_PG, help="server where the run's database is created")
    add("--redis-url", default=DEFAULT_REDIS, help="Redis for --nodes 2")
    wrapped = "(starts the hub through bench/hub_wrapped.py)"
    add("--lift-chat-limit", action="store_true", help=f"raise the chat:send rate limit {wrapped}")
    add("--gc-log-ms", type=float, help=f"log hub garbage collections this long or longer {wrapped}")
    add("--gc-off", action="store_true", help=f"diagnostic: hub garbage collector off {wrapped}")


def _run_args(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--drain", type=float, default=10.0, help="seconds to wait for late acks and deliveries")
    add("--pause", type=float, default=5.0, help="seconds between rate steps")
    add("--timeout", type=float, default=20.0, help="limit of each single wait")
    add("--retries", type=int, default=2, help="re-runs of a step disturbed by other programs")
    add("--quiet-wait", type=float, default=60.0, help="longest wait for other programs to go quiet")
    add("--json", type=Path, help="also write the results to this file")
    add("--keep-logs", action="store_true", help="keep the hub and worker logs")


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.customers < 1 or args.agents < 1 or args.workers < 1:
        parser.error("--customers, --agents and --workers must be at least 1")
    if args.workers > args.agents:
        parser.error("each worker needs at least one agent: --workers must not exceed --agents")
    if args.agents * args.agent_capacity < args.customers:
        parser.error("agents x --agent-capacity must cover every customer, or some conversations stay queued")
    if args.duration <= 0 or args.warmup < 0 or args.rate <= 0:
        parser.error("--duration and --rate must be positive, --warmup not negative")


def rates(args: argparse.Namespace) -> list[float]:
    if args.steps:
        return [float(s) for s in args.steps.split(",") if s.strip()]
    return [float(s) for s in SATURATION_STEPS] if args.saturate else [args.rate]


# Results -----------------------------------------------------------------------------------------


@dataclass
class StepResult:
    rate: float
    sent: int
    delivered: int
    delivered_per_s: float
    e2e: Summary
    e2e_to_agent: Summary
    e2e_to_customer: Summary
    ack: Summary
    lag: Summary
    errors: dict[str, int]
    warmup_errors: dict[str, int]
    problems: dict[str, int]  # no_ack, not_delivered, stray, misrouted, duplicates, disconnects
    cpu: dict[str, float]  # percent of one core; "machine" is percent of all cores
    max_e2e_per_s: list[float]  # worst e2e of the messages sent in each measured second
    rss_after_kib: dict[str, int | None]
    gc_pauses: dict[str, dict[str, float]]  # per hub node, with --gc-log-ms
    passed: bool
    verdict: str


def merge(replies: list[dict[str, Any]], rate: float, cpu: dict[str, float], limit_ms: float) -> StepResult:
    def joined(key: str) -> list[float]:
        return [v for r in replies for v in r[key]]

    to_agent, to_customer = joined("e2e_to_agent_ms"), joined("e2e_to_customer_ms")
    e2e, ack = summarize(to_agent + to_customer), summarize(joined("ack_ms"))
    sent = sum(r["sent"] for r in replies)
    delivered = len(to_agent) + len(to_customer)
    # Achieved throughput: what was delivered, over the time from the first measured emit to the
    # last delivery (so a backlog that drains late lowers it instead of hiding).
    first_emit = min((r["first_emit"] for r in replies if r["sent"]), default=0.0)
    span = max(r["last_received"] for r in replies) - first_emit
    errors = _sum_counts(r["errors"] for r in replies)
    warmup_errors = _sum_counts(r["warmup_errors"] for r in replies)
    keys = ("no_ack", "not_delivered", "stray", "misrouted", "duplicates", "disconnects")
    problems = {k: sum(r[k] for r in replies) for k in keys if sum(r[k] for r in replies)}
    passed, verdict = judge(e2e, ack, errors, warmup_errors, problems, limit_ms)
    return StepResult(
        rate=rate,
        sent=sent,
        delivered=delivered,
        delivered_per_s=delivered / span if span > 0 else 0.0,
        e2e=e2e,
        e2e_to_agent=summarize(to_agent),
        e2e_to_customer=summarize(to_customer),
        ack=ack,
        lag=summarize(joined("lag_ms")),
        errors=errors,
        warmup_errors=warmup_errors,
        problems=problems,
        cpu=cpu,
        max_e2e_per_s=[max(column) for column in zip(*(r["max_e2e_per_s"] for r in replies), strict=True)],
        rss_after_kib={},
        gc_pauses={},
        passed=passed,
        verdict=verdict,
    )


def judge(
    e2e: Summary,
    ack: Summary,
    errors: dict[str, int],
    warmup_errors: dict[str, int],
    problems: dict[str, int],
    limit_ms: float,
) -> tuple[bool, str]:
    # Stray deliveries are late ones from the previous step: worth showing, not a failure here.
    failures = {k: v for k, v in problems.items() if k != "stray"}
    if errors or warmup_errors or failures:
        return False, f"errors {errors or warmup_errors or failures}"
    if e2e.count == 0:
        return False, "nothing delivered"
    worst = max(e2e.p99, ack.p99)
    if worst > limit_ms:
        return False, f"p99 {worst:.0f} ms > {limit_ms:.0f} ms"
    return True, "ok"


def gc_summary(collections: list[tuple[int, float]]) -> dict[str, float]:
    pauses = [ms for _, ms in collections]
    return {
        "count": len(pauses),
        "full (gen 2)": sum(1 for generation, _ in collections if generation == 2),
        "max_ms": max(pauses, default=0.0),
        "total_ms": round(sum(pauses), 1),
    }


def _sum_counts(counts: Any) -> dict[str, int]:
    total: dict[str, int] = {}
    for count in counts:
        for key, value in count.items():
            total[key] = total.get(key, 0) + value
    return total


# Load-generator workers --------------------------------------------------------------------------


@dataclass
class WorkerProc:
    index: int
    process: asyncio.subprocess.Process
    log_path: Path
    customers: int
    agents: int
    local: int = 0  # conversations it can measure (customer and agent both here)

    async def request(self, message: dict[str, Any], within: float) -> dict[str, Any]:
        """Send one command and wait at most ``within`` seconds for its reply."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        await asyncio.wait_for(self.process.stdin.drain(), within)
        return await self.reply(within)

    async def reply(self, within: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), within)
        if not line:
            raise RuntimeError(f"worker {self.index} exited:\n{_tail(self.log_path)}")
        reply: dict[str, Any] = json.loads(line)
        if not reply.get("ok"):
            raise RuntimeError(f"worker {self.index}: {reply.get('error')}")
        return reply


def _tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def _subs(prefix: str, first: int, count: int) -> list[str]:
    return [f"{prefix}-{i}" for i in range(first, first + count)]


def split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


# The run -----------------------------------------------------------------------------------------


@dataclass
class Bench:
    args: argparse.Namespace
    log_dir: Path
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))
    dsn: str | None = None
    nodes: list[hubproc.HubNode] = field(default_factory=list)
    workers: list[WorkerProc] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    setup: dict[str, Any] = field(default_factory=dict)
    steps: list[StepResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

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
        self.dsn = await hubproc.create_database(args.pg_admin)
        self.env = self._hub_env()
        say(f"database {self.dsn.rsplit('/', 1)[-1]}; starting {args.nodes} hub node(s)")
        for name in ("A", "B")[: args.nodes]:
            self.nodes.append(await hubproc.start_hub(name, self.env, self.log_dir))
        await asyncio.sleep(1.0)  # let start-up garbage settle before the baseline reading
        self._read_rss("idle")
        await self._start_workers()
        await self._connect_and_open()

    def _hub_env(self) -> dict[str, str]:
        # The caller's own HUB_* (and BENCH_*) settings must not leak into a benchmark that claims
        # fixed settings.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "BENCH_"))}
        assert self.dsn is not None
        env |= {
            "HUB_DATABASE_URL": self.dsn,
            "HUB_JWT_SECRET": secrets.token_hex(32),
            "HUB_LOG_LEVEL": "WARNING",
            "HUB_CHAT_AGENT_CAPACITY": str(self.args.agent_capacity),
            "HUB_DATA_DIR": str(self.log_dir / "var"),
        }
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
        settings = Settings.from_env(self.env)
        ttl = 6 * 3600  # only checked at connect time; generous for long saturation runs
        return [[sub, issue_token(settings, role=role, sub=sub, ttl_seconds=ttl)] for sub in subs]

    async def _start_workers(self) -> None:
        args = self.args
        agents_per = split(args.agents, args.workers)
        # Customers in proportion to agents, so each worker's agents fill up to the same load and
        # the hub's least-loaded assignment keeps every conversation inside one worker.
        customers_per = [round(args.customers * a / args.agents) for a in agents_per]
        customers_per[-1] = args.customers - sum(customers_per[:-1])
        first_customer = first_agent = 0
        for index, (customers, agents) in enumerate(zip(customers_per, agents_per, strict=True)):
            config = self._worker_config(
                index, _subs("bench-c", first_customer, customers), _subs("bench-a", first_agent, agents)
            )
            self.workers.append(await self._spawn_worker(index, config, customers, agents))
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

    async def _spawn_worker(
        self, index: int, config: dict[str, Any], customers: int, agents: int
    ) -> WorkerProc:
        log_path = self.log_dir / f"worker-{index}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "BENCH_"))}
        with log_path.open("wb") as log:
            process = await hubproc.spawn(
                [sys.executable, str(LOADGEN)],
                env,
                log,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
        worker = WorkerProc(index, process, log_path, customers, agents)
        assert process.stdin is not None
        process.stdin.write(json.dumps(config).encode() + b"\n")
        await worker.reply(WORKER_START_TIMEOUT)
        return worker

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
            outcomes = _sum_counts([outcomes, opened["outcome"]])
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
        for index, rate in enumerate(rates(args)):
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
        """The machine is shared (2 cores): another program's burst lands in our tail latencies.
        Wait, within --quiet-wait, until what we do not track uses under QUIET_PCT of a core."""
        deadline = time.monotonic() + self.args.quiet_wait
        pids = [n.pid for n in self.nodes] + [w.process.pid for w in self.workers]
        while True:
            first = hubproc.sample_cpu(pids, self._cpu_groups())
            await asyncio.sleep(QUIET_WINDOW)
            other = hubproc.cpu_between(first, hubproc.sample_cpu(pids, self._cpu_groups())).untracked
            if other < QUIET_PCT:
                return
            if time.monotonic() >= deadline:
                note = f"step {rate:g}: other programs used {other:.0f} % of a core just before it began"
                self.notes.append(note)
                say("note: " + note)
                return
            say(f"waiting for other programs to leave the CPU ({other:.0f} % of a core)")

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
        assert self.dsn is not None
        groups = self._cpu_groups()
        xacts = await hubproc.transactions(self.args.pg_admin, self.dsn)
        first = hubproc.sample_cpu(pids, groups)
        await asyncio.sleep(seconds)
        usage = hubproc.cpu_between(first, hubproc.sample_cpu(pids, groups))
        xacts = await hubproc.transactions(self.args.pg_admin, self.dsn) - xacts
        return usage, xacts / seconds

    def _cpu_groups(self) -> hubproc.Groups:
        assert self.dsn is not None
        # Only this run's database backends: other databases on the server are not our load.
        groups: hubproc.Groups = {
            "postgres": ("postgres", self.dsn.rsplit("/", 1)[-1]),
            # The server's own processes write and flush the WAL our commits produce.
            "postgres (wal, checkpoints)": ("postgres", POSTGRES_SHARED),
        }
        if self.args.nodes == 2:
            groups["redis-server"] = ("redis-server", None)  # the whole server: shared, unavoidably
        # Under load the kernel moves loopback TCP work into these threads: ours, not others'.
        groups["ksoftirqd"] = ("ksoftirqd/", None)
        return groups

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
        assert self.dsn is not None
        self.setup["database"] = await hubproc.database_counts(self.dsn)
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
        for node in self.nodes:
            self.setup[f"hub {node.name} log"] = node.log_problems()[:20]
            with contextlib.suppress(Exception):
                code = await hubproc.terminate(node.process)
                self.setup[f"hub {node.name} exit"] = code
        if self.dsn is not None:
            try:
                await hubproc.drop_database(self.args.pg_admin, self.dsn)
            except Exception as exc:
                say(f"could not drop {self.dsn}: {exc!r}")
        if self.args.nodes == 2:
            with contextlib.suppress(Exception):
                await hubproc.delete_redis_keys(self.args.redis_url, self.presence_prefix)


# Output ------------------------------------------------------------------------------------------

LIBRARIES = ("python-socketio", "python-engineio", "aiohttp", "asyncpg", "redis", "simple-websocket")


def environment() -> dict[str, Any]:
    """What the numbers depend on besides the hub: the machine and the library versions. The hub
    itself is identified by a digest of its sources, since a benchmark outlives many commits."""
    from importlib import metadata

    versions = {}
    for name in LIBRARIES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    digest = hashlib.sha256()
    for path in sorted(p for p in (hubproc.ROOT / "hub").rglob("*") if p.suffix in (".py", ".sql")):
        digest.update(path.relative_to(hubproc.ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return {
        "python": sys.version.split()[0],
        "cores": hubproc.CORES,
        "cpu": _cpu_model(),
        "libraries": versions,
        "hub_source_sha256": digest.hexdigest()[:16],
    }


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def step_line(r: StepResult) -> str:
    return (
        f"  {r.rate:g} msg/s offered, {r.delivered_per_s:.0f}/s delivered; e2e p50/p90/p99/max "
        f"{r.e2e.row()} ms; ack p99 {r.ack.p99:.1f} ms; CPU {r.cpu}; {r.verdict}"
    )


def report(bench: Bench) -> str:
    lines = header_lines(bench) + memory_lines(bench) + [""] + table_lines(bench) + [""]
    lines += detail_lines(bench) + verdict_lines(bench)
    return "\n".join(lines)


def header_lines(bench: Bench) -> list[str]:
    args, setup = bench.args, bench.setup
    topology = "customers on A, agents on B, via Redis" if args.nodes == 2 else "single"
    limit = "lifted (bench/hub_wrapped.py)" if args.lift_chat_limit else "stock (5/s per socket)"
    if args.gc_off:
        limit += "; hub garbage collector OFF (diagnostic)"
    env = setup.get("environment", {})
    return [
        f"# chat latency, {time.strftime('%Y-%m-%d %H:%M %Z')}",
        f"Python {env.get('python')}, {env.get('cores')} cores ({env.get('cpu')}), {env.get('libraries')}, "
        f"servers {env.get('servers')}, hub sources sha256 {env.get('hub_source_sha256')}",
        f"nodes {args.nodes} ({topology}), customers {args.customers}, agents {args.agents}, "
        f"load-generator processes {args.workers}, warm-up {args.warmup:g} s, "
        f"measured {args.duration:g} s per step, chat limit {limit}",
        f"machine busy before start: {setup.get('machine_busy_before_pct')} % of {hubproc.CORES} cores",
        f"idle with all sockets connected (CPU % of one core): {setup.get('idle')}",
        f"set-up: conversations {setup.get('conversations')}, customers connected in "
        f"{setup.get('connect_customers_s')} s, agents in {setup.get('connect_agents_s')} s, "
        f"{args.customers} x support:open in {setup.get('support_open_s')} s",
    ]


def table_lines(bench: Bench) -> list[str]:
    lines = [
        "rate/s  sent  deliv/s |  e2e p50     p90     p99     max |  ack p50     p90     p99     max "
        "| gen-lag p99 | errors | verdict"
    ]
    for r in bench.steps:
        errors = {**r.errors, **{f"warmup {k}": v for k, v in r.warmup_errors.items()}, **r.problems}
        lines.append(
            f"{r.rate:6g} {r.sent:5d} {r.delivered_per_s:8.1f} | {r.e2e.row()} | {r.ack.row()} "
            f"| {r.lag.p99:8.1f} ms | {errors or 0} | {r.verdict}"
        )
    return lines


def detail_lines(bench: Bench) -> list[str]:
    lines = ["CPU over each measured window (% of one core; machine = % of all cores):"]
    lines += [f"  {r.rate:6g}/s: {r.cpu}" for r in bench.steps]
    lines.append("e2e p99 by direction (ms):")
    lines += [
        f"  {r.rate:6g}/s: to agent {r.e2e_to_agent.p99:.1f}, to customer {r.e2e_to_customer.p99:.1f}"
        for r in bench.steps
    ]
    if bench.args.gc_log_ms is not None:
        threshold = bench.args.gc_log_ms
        lines.append(f"hub garbage collections of {threshold:g} ms or more in the measured window:")
        lines += [f"  {r.rate:6g}/s: {r.gc_pauses}" for r in bench.steps]
    lines.append("worst e2e of the messages sent in each measured second (ms), to spot stalls:")
    lines += [f"  {r.rate:6g}/s: {' '.join(f'{v:.0f}' for v in r.max_e2e_per_s)}" for r in bench.steps]
    return lines


def verdict_lines(bench: Bench) -> list[str]:
    lines = []
    if len(bench.steps) > 1:
        passing = [r.rate for r in bench.steps if r.passed]
        limit = bench.args.p99_limit_ms
        best = f"{max(passing):g} msg/s" if passing else "none"
        lines.append(f"highest rate with p99 <= {limit:g} ms and no errors: {best}")
    stored = bench.setup.get("database")
    if stored:
        # Every acked send must be stored exactly once (warm-ups included): a cross-check that the
        # client-side counts and the hub agree.
        lines.append(f"database after the run: {stored}")
    for node in bench.nodes:
        counted = [line.split("{", 1)[1] for line in bench.setup.get(f"metrics {node.name}", [])]
        if counted:
            lines.append(f"hub {node.name} hub_socket_events_total for chat:send: {counted}")
    lines += [f"note: {n}" for n in bench.notes]
    for node in bench.nodes:
        problems = bench.setup.get(f"hub {node.name} log") or []
        lines.append(f"hub {node.name} log (WARNING and above): {len(problems)} line(s)")
        lines += [f"  {p}" for p in problems[:5]]
    return lines


def memory_lines(bench: Bench) -> list[str]:
    lines = []
    for node in bench.nodes:
        idle, customers, connected = (node.rss.get(k) for k in ("idle", "customers", "connected"))
        held = bench.args.customers if node.name == "A" else 0
        held += bench.args.agents if node is bench.nodes[-1] else 0
        line = (
            f"hub {node.name} RSS: idle {mib(idle)}, customers connected {mib(customers)}, "
            f"all sockets + conversations {mib(connected)}"
        )
        if idle and connected and held >= 100:  # fewer sockets drown in allocator noise
            line += f" -> {(connected - idle) / held:.1f} KiB per socket ({held} sockets)"
        if idle and customers and node.name == "A":
            line += f" (customers alone: {(customers - idle) / bench.args.customers:.1f} KiB each)"
        lines.append(line)
    return lines


def to_json(bench: Bench) -> dict[str, Any]:
    return {
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(bench.args).items()},
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "setup": bench.setup,
        "rss_kib": {n.name: n.rss for n in bench.nodes},
        "steps": [asdict(s) for s in bench.steps],
        "notes": bench.notes,
    }


# Entry point -------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> int:
    # SIGTERM (e.g. from a CI timeout) cancels like Ctrl-C does, so the finally block still cleans up.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    log_root = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    bench = Bench(args, log_root)
    bench.setup["environment"] = environment()
    failed = False
    try:
        await bench.start()
        await bench.idle_cpu(min(10.0, args.duration))
        await bench.run_steps()
        await bench.final_readings()
    except Exception as exc:
        failed = True
        say(f"benchmark failed: {exc}")
    finally:
        say("stopping workers and hubs, dropping the database")
        await asyncio.shield(bench.stop())
        if args.keep_logs or (failed and _has_files(log_root)):
            say(f"logs kept in {log_root}")
        else:
            _remove_tree(log_root)
    if bench.steps:
        text = report(bench)
        print(text)
    if args.json:
        args.json.write_text(json.dumps(to_json(bench), indent=1, default=str) + "\n")
    return 1 if failed or not bench.steps else 0


def _has_files(path: Path) -> bool:
    return any(path.iterdir())


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main(parse_args())))
    except (KeyboardInterrupt, asyncio.CancelledError):
        say("interrupted; everything started was stopped")
        sys.exit(130)
