"""The chat benchmark's command line: options, the ``--quick`` preset, and the rate steps."""

from __future__ import annotations

import argparse
from pathlib import Path

from deployment import DEFAULT_PG

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
SATURATION_STEPS = (200, 300, 400, 500, 600, 800, 1000, 1200, 1600, 2000)

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


def parse_args(description: str | None, argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
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
