"""How long a hub holding thousands of sockets takes to stop on SIGTERM.

    .venv/bin/python bench/drain.py                    # 5,000 sockets, 3 runs
    .venv/bin/python bench/drain.py --sockets 1000 --runs 1

Each run: a fresh database, ``python -m hub serve`` on it, a separate process holding
``--sockets`` raw Engine.IO websockets on ``--namespace`` (bench/drain_sockets.py); then SIGTERM,
and the time until the process exits, when each socket was told ``server:shutdown`` and when its
websocket closed, all measured from the signal. A hub still running ``--kill-after`` seconds after
SIGTERM is killed, and the run says so. See bench/README.md, "Shutdown with many sockets".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import hubproc
import machine
import runner
from deployment import DEFAULT_PG, Deployment
from runner import say
from stats import percentile

from hub.auth import Role

HOLDER = Path(__file__).with_name("drain_sockets.py")
ROLES = {"/worker": Role.WORKER, "/customer": Role.CUSTOMER, "/support": Role.SUPPORT}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sockets", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--namespace", choices=sorted(ROLES), default="/worker")
    parser.add_argument("--concurrency", type=int, default=200, help="handshakes in flight at once")
    parser.add_argument("--kill-after", type=float, default=30.0, help="seconds after SIGTERM")
    parser.add_argument("--pg-admin", default=DEFAULT_PG)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep-logs", action="store_true")
    return parser.parse_args()


async def one_run(args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    deployment = Deployment(args.pg_admin, log_dir)
    holder: asyncio.subprocess.Process | None = None
    try:
        await deployment.create_database({})
        await deployment.start_hubs(["hub"])
        node = deployment.nodes[0]
        role = ROLES[args.namespace]
        tokens = [deployment.token(role, f"{role.value}-{i}") for i in range(args.sockets)]
        config = {
            "url": node.url,
            "namespace": args.namespace,
            "tokens": tokens,
            "concurrency": args.concurrency,
            "wait": args.kill_after + 30.0,
        }
        with (log_dir / "holder.log").open("wb") as log:
            holder = await hubproc.spawn(
                [sys.executable, str(HOLDER)],
                hubproc.clean_environ(),
                log,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
        assert holder.stdin is not None
        assert holder.stdout is not None
        holder.stdin.write(json.dumps(config).encode() + b"\n")
        await holder.stdin.drain()
        connecting = time.monotonic()
        ready = await asyncio.wait_for(holder.stdout.readline(), config["wait"])
        if ready != b"ready\n":
            raise RuntimeError(f"the socket holder failed: {(log_dir / 'holder.log').read_text()[-2000:]}")
        say(f"{args.sockets} sockets connected in {time.monotonic() - connecting:.1f} s")
        await asyncio.sleep(1.0)  # the last connects' presence broadcasts settle
        busy = await hubproc.machine_busy(1.0)
        result = await signal_and_measure(node, holder, args.kill_after, config["wait"])
        result["machine_busy_before_pct"] = round(busy, 1)
        result["hub_log"] = node.log_problems()[:5]
        return result
    finally:
        if holder is not None and holder.returncode is None:
            await hubproc.terminate(holder, 5.0)
        await deployment.stop()


async def signal_and_measure(
    node: hubproc.HubNode, holder: asyncio.subprocess.Process, kill_after: float, wait: float
) -> dict[str, Any]:
    assert holder.stdout is not None
    sent = time.time()
    node.process.terminate()
    killed = False
    try:
        code: int | None = await asyncio.wait_for(node.process.wait(), kill_after)
    except TimeoutError:
        killed = True
        node.process.kill()
        code = await node.process.wait()
    exited = time.time() - sent
    seen: list[list[float | None]] = json.loads(await asyncio.wait_for(holder.stdout.readline(), wait))
    told = [t - sent for t, _ in seen if t is not None]
    closed = [c - sent for _, c in seen if c is not None]
    return {
        "sockets": len(seen),
        "exit_seconds": round(exited, 3),
        "exit_code": code,
        "killed": killed,
        "told": len(told),
        "closed": len(closed),
        "told_seconds": spread(told),
        "closed_seconds": spread(closed),
    }


def spread(seconds: list[float]) -> dict[str, float | None]:
    ordered = sorted(seconds)
    if not ordered:
        return {"p50": None, "max": None}
    return {"p50": round(percentile(ordered, 0.5), 3), "max": round(ordered[-1], 3)}


async def main(args: argparse.Namespace) -> int:
    runner.cancel_on_sigterm()
    runner.raise_file_limit()
    log_root = Path(tempfile.mkdtemp(prefix="hub-drain-"))
    runs: list[dict[str, Any]] = []
    failed = False
    try:
        for index in range(args.runs):
            log_dir = log_root / f"run-{index + 1}"
            log_dir.mkdir(parents=True)
            result = await one_run(args, log_dir)
            say(f"run {index + 1}: {json.dumps(result)}")
            runs.append(result)
    except Exception as exc:
        failed = True
        say(f"benchmark failed: {exc!r}")
    finally:
        runner.keep_or_remove(log_root, args.keep_logs or (failed and runner.has_files(log_root)))
    for index, run in enumerate(runs, start=1):
        print(line(index, run))
    if args.json:
        environment = {
            "cores": hubproc.CORES,
            "cpu": machine.cpu_model(),
            "hub_source_sha256": machine.hub_source_digest(),
            "python": sys.version.split()[0],
            "libraries": machine.library_versions(("python-socketio", "python-engineio", "aiohttp")),
        }
        runner.write_json(
            args.json, {"args": runner.args_json(args), "environment": environment, "runs": runs}
        )
    return 1 if failed or not runs else 0


def line(index: int, run: dict[str, Any]) -> str:
    told, closed = run["told_seconds"], run["closed_seconds"]
    killed = ", killed" if run["killed"] else ""
    return (
        f"run {index}: {run['sockets']} sockets;"
        f" exit {run['exit_seconds']:.2f} s (code {run['exit_code']}{killed});"
        f" told {run['told']} (p50 {told['p50']}, max {told['max']});"
        f" closed {run['closed']} (p50 {closed['p50']}, max {closed['max']});"
        f" machine busy before {run['machine_busy_before_pct']} %"
    )


if __name__ == "__main__":
    options = parse_args()
    runner.run_script(lambda: main(options))
