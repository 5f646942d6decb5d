"""What the benchmark starts and must clean up: hub processes, a database, Redis keys; plus the
/proc readings (RSS, CPU time) taken from the outside so that measuring costs the hub nothing."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1
GC_LINE = "bench-gc"  # what hub_wrapped.py prints for each slow garbage collection
READY_TIMEOUT = 60.0  # migrations on an empty database take well under a second; this is slack
STOP_TIMEOUT = 10.0
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def clean_environ() -> dict[str, str]:
    """The caller's environment without its own HUB_* (and BENCH_*) settings, which must not leak
    into a benchmark that claims fixed settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "BENCH_"))}


def _die_with_parent() -> None:
    """preexec_fn: if the benchmark itself is SIGKILLed, its children get SIGTERM instead of
    lingering (a finally block cannot run after SIGKILL)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


async def spawn(
    args: list[str],
    env: dict[str, str],
    stderr: IO[bytes],
    *,
    stdin: int | None = None,
    stdout: IO[bytes] | int | None = None,
) -> asyncio.subprocess.Process:
    """A child in its own session, so the terminal's Ctrl-C reaches only the benchmark, which
    then stops its children in order (workers first, hubs last) instead of all dying at once."""
    return await asyncio.create_subprocess_exec(
        *args,
        cwd=ROOT,
        env=env,
        stdin=stdin if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=stdout if stdout is not None else stderr,
        stderr=stderr,
        start_new_session=True,
        preexec_fn=_die_with_parent,
        limit=256 * 1024 * 1024,  # a worker's reply line carries every latency sample of a step
    )


async def terminate(process: asyncio.subprocess.Process, within: float = STOP_TIMEOUT) -> int | None:
    """SIGTERM, then SIGKILL if it does not exit ``within`` seconds. Returns the exit code."""
    if process.returncode is not None:
        return process.returncode
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        return await asyncio.wait_for(process.wait(), within)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        return await asyncio.wait_for(process.wait(), within)


# /proc readings ------------------------------------------------------------------------------


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of one process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may contain spaces
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def pids_of(comm: str, needle: str | tuple[str, ...] | None = None) -> list[int]:
    """Processes named ``comm`` (or starting with it, when it ends with "/", as in "ksoftirqd/")
    whose command line contains ``needle`` (or one of them). For PostgreSQL, a backend's title
    holds its database name, so other databases' load is not counted as ours."""
    needles = [n.encode() for n in ((needle,) if isinstance(needle, str) else needle or ())]
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            name = (entry / "comm").read_text().strip()
            if name != comm and not (comm.endswith("/") and name.startswith(comm)):
                continue
            title = (entry / "cmdline").read_bytes() if needles else b""
            if not needles or any(n in title for n in needles):
                pids.append(int(entry.name))
    return pids


def machine_jiffies() -> tuple[int, int, int]:
    """(busy, total, interrupts) jiffies over all cores since boot, from /proc/stat. Interrupt
    and softirq time (loopback TCP is mostly that) is charged to no process, so it is kept apart
    from "other programs"."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values), values[5] + values[6]


@dataclass
class CpuSample:
    """CPU counters of the processes that matter, taken at one instant."""

    at: float
    per_pid: dict[int, float]
    groups: dict[str, dict[int, float]]  # label -> CPU seconds of each process of the group
    machine: tuple[int, int, int]


Groups = dict[str, tuple[str, str | tuple[str, ...] | None]]  # label -> (comm, needle), see pids_of


def sample_cpu(pids: list[int], groups: Groups) -> CpuSample:
    loop_time = asyncio.get_running_loop().time()
    per_pid = {pid: cpu_seconds(pid) or 0.0 for pid in pids}
    members = {
        label: {pid: cpu_seconds(pid) or 0.0 for pid in pids_of(comm, needle)}
        for label, (comm, needle) in groups.items()
    }
    return CpuSample(loop_time, per_pid, members, machine_jiffies())


@dataclass
class CpuUsage:
    """Percent of one core, per process and per group; machine busy as percent of all cores."""

    per_pid: dict[int, float]
    groups: dict[str, float]
    machine_busy: float
    interrupts: float  # percent of one core spent in irq and softirq context

    @property
    def untracked(self) -> float:
        """Percent of one core used by nothing measured here: other programs on the machine."""
        tracked = sum(self.per_pid.values()) + sum(self.groups.values()) + self.interrupts
        return max(0.0, self.machine_busy * CORES - tracked)


def cpu_between(first: CpuSample, last: CpuSample) -> CpuUsage:
    wall = max(last.at - first.at, 1e-9)
    per_pid = {pid: 100 * (last.per_pid[pid] - first.per_pid[pid]) / wall for pid in first.per_pid}
    groups = {name: 100 * _group_seconds(first.groups[name], now) / wall for name, now in last.groups.items()}
    busy = last.machine[0] - first.machine[0]
    total = max(last.machine[1] - first.machine[1], 1)
    interrupts = 100 * CORES * (last.machine[2] - first.machine[2]) / total
    return CpuUsage(per_pid, groups, 100 * busy / total, interrupts)


def _group_seconds(first: dict[int, float], last: dict[int, float]) -> float:
    """CPU seconds a group of processes used between two samples. The asyncpg pool replaces
    PostgreSQL backends now and then (idle lifetime): a backend that started in between counts
    whole; one that exited in between took its time with it (a small undercount)."""
    return sum(seconds - first.get(pid, 0.0) for pid, seconds in last.items())


async def machine_busy(seconds: float) -> float:
    """Percent of all cores busy over the next ``seconds``."""
    first = machine_jiffies()
    await asyncio.sleep(seconds)
    last = machine_jiffies()
    return 100 * (last[0] - first[0]) / max(last[1] - first[1], 1)


# Hub processes ---------------------------------------------------------------------------------


@dataclass
class HubNode:
    name: str
    port: int
    process: asyncio.subprocess.Process
    log_path: Path
    rss: dict[str, int | None] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def pids(self) -> list[int]:
        """The hub's process and, under ``serve --workers N``, its workers (its children): all of
        them count in its CPU time and memory."""
        return [self.pid, *children(self.pid)]

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def log_lines(self) -> list[str]:
        try:
            return self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []

    def log_problems(self) -> list[str]:
        """What the hub logged (at HUB_LOG_LEVEL=WARNING: warnings and errors), GC lines aside."""
        return [line for line in self.log_lines() if line.strip() and not line.startswith(GC_LINE)]

    def collections(self, begin: float, end: float) -> list[tuple[int, float]]:
        """(generation, ms) of the logged garbage collections between two time.monotonic()s."""
        found = []
        for line in self.log_lines():
            parts = line.split()
            if len(parts) == 5 and parts[0] == GC_LINE and begin <= float(parts[1]) <= end:
                found.append((int(parts[2]), float(parts[3])))
        return found


async def start_hub(name: str, env: dict[str, str], log_dir: Path) -> HubNode:
    """``python -m hub serve``, or bench/hub_wrapped.py when the environment asks for one of its
    benchmark-only changes (BENCH_*)."""
    port = free_port()
    log_path = log_dir / f"hub-{name}.log"
    if any(key.startswith("BENCH_") for key in env):
        command = [sys.executable, str(Path(__file__).with_name("hub_wrapped.py"))]
    else:
        command = [sys.executable, "-m", "hub"]
    command += ["serve", "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("wb") as log:
        process = await spawn(command, env, log)
    node = HubNode(name, port, process, log_path)
    await wait_ready(node)
    return node


async def wait_ready(node: HubNode) -> None:
    """Poll /readyz (database reachable, migrations applied) until 200, the process dies, or time
    runs out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT
    timeout = aiohttp.ClientTimeout(total=2.0)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while loop.time() < deadline:
            if node.process.returncode is not None:
                raise RuntimeError(
                    f"hub {node.name} exited with {node.process.returncode}:\n{node.log_tail()}"
                )
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(node.url + "/readyz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"hub {node.name} not ready within {READY_TIMEOUT:.0f}s:\n{node.log_tail()}")


async def wait_workers(node: HubNode, workers: int) -> None:
    """Under ``serve --workers N``, /readyz answers as soon as one worker does: ask /metrics, each
    time over a new connection (the kernel picks the worker), until ``workers`` distinct workers
    (``hub_worker``) have answered, so that no connection of the run lands on one alone."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT
    seen: set[str] = set()
    while loop.time() < deadline:
        if node.process.returncode is not None:
            raise RuntimeError(f"hub {node.name} exited with {node.process.returncode}:\n{node.log_tail()}")
        seen.update(line.split(" ")[0] for line in await scrape_metric_lines(node, "hub_worker{"))
        if len(seen) >= workers:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"hub {node.name}: {len(seen)} of {workers} workers answered:\n{node.log_tail()}")


async def scrape_metric_lines(node: HubNode, prefix: str) -> list[str]:
    """Lines of /metrics starting with ``prefix`` (cross-checks the client-side counts)."""
    timeout = aiohttp.ClientTimeout(total=5.0)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(node.url + "/metrics") as response,
        ):
            text = await response.text()
    except (aiohttp.ClientError, TimeoutError):
        return []
    return [line for line in text.splitlines() if line.startswith(prefix)]


# Database and Redis ----------------------------------------------------------------------------


def with_database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


async def create_database(admin_dsn: str) -> str:
    name = f"hub_bench_{uuid.uuid4().hex[:12]}"
    conn = await asyncio.wait_for(asyncpg.connect(admin_dsn), 10)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(admin_dsn, name)


async def drop_database(admin_dsn: str, dsn: str) -> None:
    name = urlsplit(dsn).path.lstrip("/")
    conn = await asyncio.wait_for(asyncpg.connect(admin_dsn), 10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', timeout=30)
    finally:
        await conn.close()


async def database_counts(dsn: str) -> dict[str, int]:
    """Rows the run left behind: confirms every acked message was stored exactly once."""
    conn = await asyncio.wait_for(asyncpg.connect(dsn), 10)
    try:
        texts = await conn.fetchval("SELECT count(*) FROM messages WHERE kind = 'text'")
        conversations = await conn.fetchval("SELECT count(*) FROM conversations WHERE status = 'assigned'")
    finally:
        await conn.close()
    return {"text_messages": int(texts), "assigned_conversations": int(conversations)}


async def transactions(admin_dsn: str, dsn: str) -> int:
    """Committed + rolled-back transactions of the run's database so far (pg_stat_database; the
    server flushes these counters about once a second, so use it over long windows only)."""
    conn = await asyncio.wait_for(asyncpg.connect(admin_dsn), 10)
    try:
        value = await conn.fetchval(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1",
            urlsplit(dsn).path.lstrip("/"),
        )
    finally:
        await conn.close()
    return int(value or 0)


async def delete_redis_keys(url: str, prefix: str) -> int:
    client = aioredis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    deleted = 0
    try:
        async for key in client.scan_iter(match=prefix + "*", count=500):
            deleted += int(await client.delete(key))
    finally:
        await client.aclose()
    return deleted


async def server_versions(admin_dsn: str, redis_url: str | None) -> dict[str, str]:
    conn = await asyncio.wait_for(asyncpg.connect(admin_dsn), 10)
    try:
        versions = {"postgresql": str(await conn.fetchval("SHOW server_version"))}
    finally:
        await conn.close()
    if redis_url is not None:
        client = aioredis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
        try:
            versions["redis"] = str((await client.info("server"))["redis_version"])
        finally:
            await client.aclose()
    return versions


async def redis_reachable(url: str) -> bool:
    client = aioredis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        return bool(await client.ping())
    except (aioredis.RedisError, OSError):
        return False
    finally:
        await client.aclose()
