"""``python -m tests.soak``: the fault-injection soak on demand, longer and larger than in CI.

    python -m tests.soak --cycles 10 --customers 40 --agents 4 --workers 6 --bookings 30

Prints the reconciliation and exits 1 unless nothing was lost or duplicated."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import tempfile
from pathlib import Path

from tests.soak.run import Plan, soak


def main() -> int:
    defaults = Plan()
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__.split("\n")[0])
    for name in ("customers", "agents", "workers", "idle_workers", "bookings", "cycles", "seed"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    for name in ("pause", "message_every", "minds_every"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(defaults, name))
    parser.add_argument(
        "--faults", default=",".join(defaults.faults), help="comma-separated, in order (default: all)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the nodes' logs (the directory is printed)")
    args = parser.parse_args()
    chosen = {k: v for k, v in vars(args).items() if k not in ("keep", "faults")}
    plan = dataclasses.replace(defaults, faults=tuple(args.faults.split(",")), **chosen)
    directory = Path(tempfile.mkdtemp(prefix="hub-soak-"))
    report = asyncio.run(soak(directory, plan))
    print(report.text())
    if args.keep:
        print(f"logs: {directory}")
    return 0 if report.clean else 1


if __name__ == "__main__":
    sys.exit(main())
