"""What one idle socket costs the hub: resident memory and what holds it, for N sockets connected
to ``/customer`` as ``compare.py``'s idle phase connects them.

    .venv/bin/python bench/socket_memory.py                    # 5,000 sockets, about a minute
    .venv/bin/python bench/socket_memory.py --tracemalloc      # and which lines allocated it (slower)
    .venv/bin/python bench/socket_memory.py --sockets 1000 --hub-env PYTHONMALLOC=malloc

The script creates a database, starts the hub on it through bench/hub_wrapped.py with
bench/memprobe.py (stock settings otherwise, as in every run: bench/deployment.py), and the
Node.js load generator of ``compare.py`` (bench/reference/loadgen.mjs, the official
socket.io-client, websocket only). It connects ``--warmup`` sockets and lets them go (so that
what the first socket sets up once is not counted), lets the hub settle, probes it, connects
``--sockets`` authenticated customers 25 at a time, lets it settle again and probes it again.
Per socket it prints the growth of: resident memory; CPython's small-object allocator (blocks in
use, and its arenas); glibc's heap in use; live objects by type and the event loop's tasks by
coroutine; with ``--tracemalloc``, the live allocations by file and by traceback (taken after a
full garbage collection). Then what a full collection and ``malloc_trim(0)`` give back with the
sockets still connected. See bench/README.md, "Memory per socket".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import hubproc
import refproc
import runner
from deployment import DEFAULT_PG, Deployment
from loadgenproc import WorkerProc
from runner import say

from hub.auth import Role

SETTLE_TIMEOUT = 60.0
STEADY_KIB = 64  # RSS is steady when three readings half a second apart differ by less than this
PROBE_TIMEOUT = 300.0  # a probe walks every live object; with tracemalloc it is much slower


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--sockets", type=int, default=5000, help="idle customers connected to /customer")
    add("--warmup", type=int, default=50, help="sockets connected and closed before the first probe")
    add("--concurrency", type=int, default=25, help="connects in flight (compare.py's default)")
    add("--tracemalloc", action="store_true", help="trace allocations from start-up (slower)")
    add("--top", type=int, default=25, help="rows per breakdown")
    add("--hub-env", action="append", default=[], metavar="NAME=VALUE", help="extra environment for the hub")
    add("--pg-admin", default=DEFAULT_PG, help="a role that may CREATE DATABASE")
    add("--timeout", type=float, default=20.0)
    add("--keep-logs", action="store_true")
    add("--json", type=Path, help="write both probes and the per-socket figures to this file")
    args = parser.parse_args(argv)
    if args.sockets < 1 or args.warmup < 0 or args.concurrency < 1:
        parser.error("--sockets and --concurrency must be at least 1, --warmup not negative")
    return args


class Probed:
    """The hub process with its probe (bench/memprobe.py): reports are files it writes on a signal."""

    def __init__(self, node: hubproc.HubNode, out: Path) -> None:
        self.node, self.out, self.count = node, out, 0

    async def ask(self, signum: int, prefix: str) -> dict[str, Any]:
        self.count += 1
        path = self.out / f"{prefix}-{self.count}.json"
        self.node.process.send_signal(signum)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PROBE_TIMEOUT
        while not path.exists():
            if loop.time() > deadline:
                raise RuntimeError(f"the hub wrote no {path.name}")
            await asyncio.sleep(0.2)
        report: dict[str, Any] = json.loads(path.read_text())
        report["file"] = path.stem
        return report

    async def settle(self) -> int:
        """Wait until RSS is steady (bounded); return it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_TIMEOUT
        readings = [hubproc.rss_kib(self.node.pid) or 0]
        while loop.time() < deadline:
            await asyncio.sleep(0.5)
            readings.append(hubproc.rss_kib(self.node.pid) or 0)
            last = readings[-3:]
            if len(last) == 3 and max(last) - min(last) < STEADY_KIB:
                break
        return readings[-1]


async def connect(generator: WorkerProc, deployment: Deployment, group: str, count: int, args: Any) -> float:
    creds = [[f"{group}-{i}", deployment.token(Role.CUSTOMER, f"{group}-{i}")] for i in range(count)]
    command = {"cmd": "connect", "group": group, "namespace": "/customer", "creds": creds}
    reply = await generator.request(command, args.timeout * (1 + count / args.concurrency))
    if reply["errors"]:
        raise RuntimeError(f"{group} sockets refused: {reply['errors']}")
    seconds: float = reply["seconds"]
    return seconds


def per_socket(before: dict[str, Any], after: dict[str, Any], sockets: int) -> dict[str, Any]:
    """The growth between two probes, in KiB (or objects, or tasks) per socket."""

    def grown(key: str, field: str) -> float | None:
        # tracemalloc hooks the allocators: pymalloc's statistics are empty while it traces.
        if field not in after[key] or field not in before[key]:
            return None
        return float(after[key][field] - before[key][field]) / sockets

    found: dict[str, Any] = {
        "rss_kib": (after["rss_kib"] - before["rss_kib"]) / sockets,
        "pymalloc_in_use_kib": grown("pymalloc_kib", "in_use"),
        "pymalloc_arenas_kib": grown("pymalloc_kib", "arenas"),
        "glibc_in_use_kib": grown("heap_kib", "in_use"),
        "glibc_free_kib": grown("heap_kib", "free"),
        "objects": _diff(before["objects_all"], after["objects_all"], sockets),
        "tasks": _diff(before["tasks"], after["tasks"], sockets),
    }
    if "tracemalloc_kib" in after:
        found["tracemalloc_kib"] = grown("tracemalloc_kib", "current")
    return found


def _diff(before: dict[str, int], after: dict[str, int], sockets: int) -> dict[str, float]:
    keys = set(before) | set(after)
    grown = {k: (after.get(k, 0) - before.get(k, 0)) / sockets for k in keys}
    return dict(sorted(((k, v) for k, v in grown.items() if v), key=lambda kv: -abs(kv[1])))


def tracemalloc_breakdown(out: Path, before: str, after: str, sockets: int, top: int) -> list[str]:
    """Live allocations that grew between the two snapshots, per socket: by file, then by
    traceback (the allocating line and the frames above it)."""
    first = tracemalloc.Snapshot.load(str(out / f"{before}.tracemalloc"))
    last = tracemalloc.Snapshot.load(str(out / f"{after}.tracemalloc"))
    lines = ["", "tracemalloc, live after a full collection, per socket, by file:"]
    for stat in last.compare_to(first, "filename")[:top]:
        name = _short(stat.traceback[0].filename)
        lines.append(f"  {stat.size_diff / sockets:8.0f} B  {stat.count_diff / sockets:6.2f} blocks  {name}")
    lines += ["", "by traceback (innermost last):"]
    for stat in last.compare_to(first, "traceback")[:top]:
        lines.append(f"  {stat.size_diff / sockets:8.0f} B  {stat.count_diff / sockets:6.2f} blocks")
        for frame in stat.traceback[-4:][::-1]:
            lines.append(f"      {_short(frame.filename)}:{frame.lineno}")
    return lines


def _short(filename: str) -> str:
    for marker, prefix in (("site-packages/", ""), ("/hub/", "hub/"), ("/lib/python3", "python3")):
        if marker in filename:
            return prefix + filename.split(marker, 1)[1]
    return filename


def report(args: argparse.Namespace, rest: int, found: dict[str, Any], release: dict[str, Any]) -> str:
    n = args.sockets
    rows = {
        "resident (RSS)": "rss_kib",
        "pymalloc blocks in use": "pymalloc_in_use_kib",
        "pymalloc arenas": "pymalloc_arenas_kib",
        "glibc heap in use": "glibc_in_use_kib",
        "glibc heap free": "glibc_free_kib",
        "tracemalloc, live": "tracemalloc_kib",
    }
    lines = [f"{n} idle sockets on /customer; hub RSS at rest {rest / 1024:.1f} MiB", "", "per socket, KiB:"]
    for label, key in rows.items():
        if found.get(key) is not None:
            lines.append(f"  {label:<30} {found[key]:7.2f}")
    lines += ["", "objects tracked by the collector, per socket:"]
    lines += [f"  {v:6.2f}  {k}" for k, v in list(found["objects"].items())[: args.top]]
    lines += ["", "event-loop tasks, per socket:"]
    lines += [f"  {v:6.2f}  {k}" for k, v in found["tasks"].items()]
    lines += [
        "",
        f"with the sockets connected: gc.collect() freed {release['gc_collected']} objects "
        f"({(release['rss_kib'] - release['after_gc_kib']) / n:.2f} KiB/socket of RSS), "
        f"malloc_trim(0) {(release['after_gc_kib'] - release['after_trim_kib']) / n:.2f} KiB/socket more",
    ]
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> int:
    runner.cancel_on_sigterm()
    runner.raise_file_limit()
    log_dir = Path(tempfile.mkdtemp(prefix="hub-socket-memory-"))
    out = log_dir / "probe"
    hub_env = {"BENCH_MEMORY_PROBE": str(out)}
    if args.tracemalloc:
        hub_env["BENCH_TRACEMALLOC"] = "1"
    for item in args.hub_env:
        name, _, value = item.partition("=")
        hub_env[name] = value
    deployment = Deployment(args.pg_admin, log_dir)
    generator: WorkerProc | None = None
    failed = False
    try:
        await deployment.create_database(hub_env)
        await deployment.start_hubs(["hub"])
        node = deployment.nodes[0]
        probed = Probed(node, out)
        config = {"url": node.url, "timeout": args.timeout, "concurrency": args.concurrency, "body": "x"}
        generator = await refproc.start_generator("hub", config, log_dir)
        if args.warmup:
            await connect(generator, deployment, "warmup", args.warmup, args)
            await generator.request({"cmd": "disconnect", "group": "warmup"}, args.timeout)
        rest = await probed.settle()
        before = await probed.ask(signal.SIGUSR1, "probe")
        seconds = await connect(generator, deployment, "idle", args.sockets, args)
        say(f"{args.sockets} sockets connected in {seconds:.1f} s")
        await probed.settle()
        after = await probed.ask(signal.SIGUSR1, "probe")
        release = await probed.ask(signal.SIGUSR2, "release")
        found = per_socket(before, after, args.sockets)
        print(report(args, rest, found, release))
        if args.tracemalloc:
            breakdown = tracemalloc_breakdown(out, before["file"], after["file"], args.sockets, args.top)
            print("\n".join(breakdown))
        if args.json:
            blob = {"args": runner.args_json(args), "before": before, "after": after, "release": release}
            runner.write_json(args.json, blob | {"per_socket": found})
    except Exception as exc:
        failed = True
        say(f"benchmark failed: {exc!r}")
    finally:
        if generator is not None:
            await hubproc.terminate(generator.process)
        await asyncio.shield(deployment.stop())
        runner.keep_or_remove(log_dir, args.keep_logs or failed)
    return 1 if failed else 0


if __name__ == "__main__":
    options = parse_args()
    runner.run_script(lambda: main(options))
