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
import sys
import tempfile
from pathlib import Path

# The modules next to this file import each other by plain name, as when it is run by path; with
# ``python -m bench.chat_latency`` their folder must be put on the path.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import chat_options
import runner
from chat_bench import Bench
from chat_report import environment, report, to_json
from runner import say


async def main(args: argparse.Namespace) -> int:
    runner.cancel_on_sigterm()
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
        runner.keep_or_remove(log_root, args.keep_logs or (failed and runner.has_files(log_root)))
    if bench.steps:
        print(report(bench))
    if args.json:
        runner.write_json(args.json, to_json(bench))
    return 1 if failed or not bench.steps else 0


if __name__ == "__main__":
    options = chat_options.parse_args(__doc__)
    runner.run_script(lambda: main(options))
