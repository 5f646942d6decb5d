"""``compare.py``'s command line: the sizes of each phase, ``--quick``, ``--runs``."""

from __future__ import annotations

import argparse
from pathlib import Path

from deployment import DEFAULT_PG

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"

SIDES = ("hub", "reference")
PHASES = ("idle", "chat", "fanout")

# --quick: a smoke run of every phase, on both servers, in about 2 minutes per run.
QUICK = {
    "idle_sockets": 100,
    "customers": 100,
    "agents": 5,
    "rates": "50,100",
    "duration": 5.0,
    "warmup": 1.0,
    "drain": 3.0,
    "steps": "100,200,400,800",
    "sat_duration": 3.0,
    "sat_warmup": 1.0,
    "fanout_room": 100,
    "fanout_broadcasts": 20,
    "fanout_triggers": 2,
}


def parse_args(description: str | None, argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--runs", type=int, default=3, help="runs of both servers; the report shows the medians")
    add("--quick", action="store_true", help="smoke run: 100 sockets, 50 and 100 msg/s for 5 s")
    add("--sides", default=",".join(SIDES), help="which servers to run (hub,reference)")
    add("--phases", default=",".join(PHASES), help="which phases to run, in their order (idle,chat,fanout)")
    add("--idle-sockets", type=int, default=5000, help="idle sockets for memory and connect cost")
    add("--customers", type=int, default=1000)
    add("--agents", type=int, default=20)
    add("--agent-capacity", type=int, default=60, help="conversations per agent, on both servers")
    add("--concurrency", type=int, default=25, help="connects or support:open in flight")
    add("--rates", default="200,600", help="chat rates to report, messages/s in both directions")
    add("--duration", type=float, default=20.0, help="measured seconds per chat rate")
    add("--warmup", type=float, default=5.0, help="seconds sent but not measured before each rate")
    add("--drain", type=float, default=10.0, help="longest wait for late acks and deliveries")
    add("--steps", default="200,400,600,800,1000,1200,1600,2000,2500,3000,4000", help="saturation rates")
    add("--sat-duration", type=float, default=10.0, help="measured seconds per saturation step")
    add("--sat-warmup", type=float, default=2.0)
    add("--p99-limit-ms", type=float, default=250.0, help="a rate is not kept up above this e2e p99")
    add("--fanout-room", type=int, default=1000, help="sockets in the room that receives the fan-out")
    add("--fanout-broadcasts", type=int, default=60, help="broadcasts to the room")
    add("--fanout-triggers", type=int, default=4, help="worker sockets that trigger them, one at a time each")
    add("--body-chars", type=int, default=64, help="length of each message body")
    add("--settle", type=float, default=2.0, help="seconds before each RSS reading")
    add("--timeout", type=float, default=20.0, help="limit of each single wait")
    add(
        "--hub-workers",
        type=int,
        default=1,
        help="hub processes on the hub's port (python -m hub serve --workers N); more than 1 "
        "joins them through Redis (--redis-url)",
    )
    add("--redis-url", default=DEFAULT_REDIS, help="Redis for --hub-workers above 1")
    add("--pg-admin", default=DEFAULT_PG, help="server where each run's databases are created")
    add("--json", type=Path, help="also write every run's results and the medians to this file")
    add("--keep-logs", action="store_true", help="keep the servers' and generators' logs")
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
    check_args(parser, args)
    return args


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    if not sides or any(s not in SIDES for s in sides):
        parser.error(f"--sides takes {', '.join(SIDES)}")
    args.sides = tuple(sides)
    phases = [s.strip() for s in args.phases.split(",") if s.strip()]
    if not phases or any(s not in PHASES for s in phases):
        parser.error(f"--phases takes {', '.join(PHASES)}")
    args.phases = tuple(phases)
    args.rates, args.steps = rate_list(parser, args.rates), rate_list(parser, args.steps)
    if min(args.runs, args.idle_sockets, args.customers, args.agents, args.concurrency) < 1:
        parser.error("--runs, --idle-sockets, --customers, --agents and --concurrency must be at least 1")
    if args.agents * args.agent_capacity < args.customers:
        parser.error("agents x --agent-capacity must cover every customer")
    if args.hub_workers < 1:
        parser.error("--hub-workers must be at least 1")
    if min(args.fanout_room, args.fanout_broadcasts, args.fanout_triggers) < 1:
        parser.error("the --fanout-* sizes must be at least 1")
    if min(args.duration, args.sat_duration) <= 0 or min(args.warmup, args.sat_warmup, args.drain) < 0:
        parser.error("durations must be positive, warm-ups and --drain not negative")


def rate_list(parser: argparse.ArgumentParser, text: str) -> list[float]:
    try:
        rates = [float(s) for s in text.split(",") if s.strip()]
    except ValueError:
        parser.error(f"not a list of rates: {text!r}")
    if not rates or min(rates) <= 0:
        parser.error(f"rates must be positive: {text!r}")
    return rates
