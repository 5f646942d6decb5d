"""The hub beside a minimal Node.js Socket.IO server doing the same chat work, driven by one load
generator on the official socket.io-client.

    (cd bench/reference && npm ci)                      # once
    .venv/bin/python bench/compare.py                   # 3 runs of both servers, medians
    .venv/bin/python bench/compare.py --quick --runs 1  # smoke run, about 2 minutes
    .venv/bin/python bench/compare.py --hub-workers 2   # the hub as 2 processes (needs Redis)

For each run and each server (their order alternates from run to run): a fresh database, the
server, the generator (bench/reference/loadgen.mjs); idle sockets (memory, connect cost), chat
(support:open, the chat rates, the saturation steps), fan-out; then everything stopped and the
database dropped, also on errors and Ctrl-C. Prints hub | reference | hub/reference. See
bench/README.md, "Against the Node.js reference".
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import compare_options
import compare_results
import hubproc
import machine
import runner
from compare_side import run_side
from runner import say


async def main(args: argparse.Namespace) -> int:
    runner.cancel_on_sigterm()
    runner.raise_file_limit()
    log_root = Path(tempfile.mkdtemp(prefix="hub-compare-"))
    runs: list[dict[str, dict[str, Any]]] = []
    failed = False
    try:
        for index in range(args.runs):
            # Alternate who goes first, so that a machine getting busier does not favour one side.
            order = args.sides if index % 2 == 0 else args.sides[::-1]
            run: dict[str, dict[str, Any]] = {}
            for kind in order:
                run[kind] = await run_side(kind, args, log_root / f"run-{index + 1}" / kind)
            runs.append(run)
    except Exception as exc:
        failed = True
        say(f"benchmark failed: {exc!r}")
    finally:
        runner.keep_or_remove(log_root, args.keep_logs or (failed and runner.has_files(log_root)))
    found = {
        kind: compare_results.medians([compare_results.side_figures(run[kind]) for run in runs])
        for kind in args.sides
    }
    if runs:
        print(report(args, runs, found))
    if args.json:
        blob = {"args": runner.args_json(args), "environment": environment(), "runs": runs, "medians": found}
        runner.write_json(args.json, blob)
    return 1 if failed or not runs else 0


def environment() -> dict[str, Any]:
    return {
        "cores": hubproc.CORES,
        "cpu": machine.cpu_model(),
        "hub_source_sha256": machine.hub_source_digest(),
        "python": sys.version.split()[0],
        "libraries": machine.library_versions(("python-socketio", "python-engineio", "aiohttp", "asyncpg")),
    }


def report(args: argparse.Namespace, runs: list[dict[str, dict[str, Any]]], found: dict[str, Any]) -> str:
    empty: dict[str, float | None] = {}
    lines = [
        f"# hub vs Node.js reference, {time.strftime('%Y-%m-%d %H:%M %Z')}: medians of {len(runs)} run(s)",
        f"hub: {args.hub_workers} worker process(es)"
        + (f" joined through Redis ({args.redis_url})" if args.hub_workers > 1 else "")
        + f"; {args.idle_sockets} idle sockets; {args.customers} customers and {args.agents} agents; "
        f"chat {args.duration:g} s measured per rate; fan-out {args.fanout_broadcasts} broadcasts "
        f"to {args.fanout_room} sockets",
        "",
        *compare_results.table(args.rates, found.get("hub", empty), found.get("reference", empty)),
        "",
        "saturation steps (rate: verdict), per run:",
    ]
    for index, run in enumerate(runs, start=1):
        for kind, result in run.items():
            steps = ", ".join(f"{s['rate']:g}: {s['verdict']}" for s in result.get("saturation", []))
            lines.append(f"  run {index} {kind}: {steps}")
            if result.get("server_log"):
                lines.append(f"  run {index} {kind} logged: {result['server_log'][:3]}")
    return "\n".join(lines)


if __name__ == "__main__":
    options = compare_options.parse_args(__doc__)
    runner.run_script(lambda: main(options))
