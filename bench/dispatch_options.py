"""The dispatch benchmark's command line: the ``latency`` and ``race`` commands and their options,
and the ``latency --quick`` preset."""

from __future__ import annotations

import argparse
from pathlib import Path

from deployment import DEFAULT_PG


def parse_args(description: str | None, argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    common = argparse.ArgumentParser(add_help=False)
    add = common.add_argument
    add("--pg-admin", default=DEFAULT_PG, help="server where the run's database is created")
    add("--timeout", type=float, default=20.0, help="limit of each single wait")
    add("--concurrency", type=int, default=25, help="handshakes in flight at once")
    add("--seed", type=int, default=1)
    add("--json", type=Path, help="also write the results to this file")
    add("--keep-logs", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)

    lat = commands.add_parser("latency", parents=[common], help="time from mark-paid to offer")
    add = lat.add_argument
    add("--workers", type=int, default=200, help="workers online")
    add("--rate", type=float, default=20.0, help="bookings made payable per second")
    add("--duration", type=float, default=45.0, help="seconds of payments (measured)")
    add("--pay-after", type=float, default=1.0, help="seconds between a booking's creation and payment")
    add("--customers", type=int, default=500)
    add("--days", type=int, default=7, help="slots spread over this many days ahead")
    add("--city-km", type=float, default=15.0, help="workers' bases within this distance of the centre")
    add("--address-km", type=float, default=12.0, help="booking addresses within this distance")
    add("--wave-size", type=int, default=3, help="HUB_DISPATCH_WAVE_SIZE")
    add("--offer-seconds", type=float, default=30.0, help="HUB_DISPATCH_OFFER_SECONDS")
    add("--decline", type=float, default=0.5, help="share of offers declined; the rest are ignored")
    add("--think-min", type=float, default=1.0, help="a decline comes this many seconds after the offer…")
    add("--think-max", type=float, default=5.0, help="…up to this many")
    add("--drain", type=float, default=150.0, help="longest wait for the last waves after the payments")
    add("--quiet-wait", type=float, default=120.0, help="longest wait for other programs to go quiet")
    add("--quick", action="store_true", help="smoke run: 40 workers, 5 bookings/s for 10 s, 3 s deadline")

    rc = commands.add_parser("race", parents=[common], help="1,000 accept races of 10 workers")
    rc.add_argument("--trials", type=int, default=1000)
    rc.add_argument("--race-workers", type=int, default=10, help="workers offered each booking at once")
    args = parser.parse_args(argv)
    if args.command == "latency" and args.quick:
        args.workers, args.rate, args.duration, args.offer_seconds, args.drain = 40, 5.0, 10.0, 3.0, 30.0
        args.think_min, args.think_max, args.quiet_wait = 0.2, 1.0, 10.0
    return args
