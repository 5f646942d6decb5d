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
import sys
import tempfile
from pathlib import Path

# The modules next to this file import each other by plain name, as when it is run by path; with
# ``python -m bench.dispatch`` their folder must be put on the path.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import dispatch_options
import dispatch_report
import runner
from dispatch_hub import Hub
from dispatch_latency import latency
from dispatch_race import race
from runner import say


async def main(args: argparse.Namespace) -> int:
    runner.cancel_on_sigterm()
    log_dir = Path(tempfile.mkdtemp(prefix="hub-bench-dispatch-"))
    hub = Hub(args, log_dir)
    failed, text = False, ""
    try:
        if args.command == "latency":
            latency_run = await latency(args, hub)
            await hub.stop()  # the report quotes the hub's log
            text = dispatch_report.latency_report(latency_run)
            if args.json:
                runner.write_json(args.json, dispatch_report.latency_json(latency_run))
        else:
            race_run = await race(args, hub)
            await hub.stop()  # the report quotes the hub's log
            text = dispatch_report.race_report(race_run)
            failed = bool(race_run.anomalies)
            if args.json:
                runner.write_json(args.json, dispatch_report.race_json(race_run))
    except Exception as exc:
        failed = True
        say(f"benchmark failed: {type(exc).__name__}: {exc}")
        if hub.node is not None:
            say(f"hub log tail:\n{hub.node.log_tail()}")
    finally:
        say("stopping the workers and the hub, dropping the database")
        await asyncio.shield(hub.stop())
        runner.keep_or_remove(log_dir, args.keep_logs or failed or bool(hub.log_problems))
    if text:
        print(text)
    return 1 if failed or not text else 0


if __name__ == "__main__":
    options = dispatch_options.parse_args(__doc__)
    runner.run_script(lambda: main(options))
