"""The dispatch benchmark's reports: the text each command prints and its ``--json`` document."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from typing import Any

import hubproc
import machine
from dispatch_hub import Hub
from dispatch_latency import LatencyRun
from dispatch_race import RaceRun
from runner import args_json
from stats import SUMMARY_HEADER, Summary, mib, summarize, summary_line

LIBRARIES = ("python-socketio", "python-engineio", "aiohttp", "asyncpg")


def machine_line() -> str:
    versions = ", ".join(f"{name} {version}" for name, version in machine.library_versions(LIBRARIES).items())
    return f"Python {sys.version.split()[0]}, {hubproc.CORES} cores ({machine.cpu_model()}); {versions}"


def log_lines(hub: Hub) -> list[str]:
    """What the hub logged at WARNING and above: each record's first line and, for tracebacks,
    the exception line (indented lines are the stack)."""
    problems = hub.log_problems
    heads = [line for line in problems if not line.startswith((" ", "Traceback", "During handling"))]
    lines = [f"hub log (WARNING and above): {len(problems)} line(s)"]
    lines += [f"  {line}" for line in heads[:20]]
    return lines


def latency_report(run: LatencyRun) -> str:
    args, result, checked, analysed = run.args, run.result, run.checked, run.analysed
    rss = result.get("rss", {})
    paid = [p for p in run.paid.values() if p.status == 200]
    lines = [
        f"# dispatch: time to offer, {time.strftime('%Y-%m-%d %H:%M %Z')}",
        machine_line(),
        f"{args.workers} workers online within {args.city_km:g} km of the centre (service radius 8-15 km), "
        f"{args.rate:g} bookings/s for {args.duration:g} s (created, paid {args.pay_after:g} s later), "
        f"slots over the next {args.days} days, addresses within {args.address_km:g} km; "
        f"wave size {args.wave_size}, offer deadline {args.offer_seconds:g} s, max waves 3; "
        f"workers mark every offer seen, then decline {args.decline:.0%} of offers after "
        f"{args.think_min:g}-{args.think_max:g} s and ignore the rest",
        "",
        f"bookings paid: {len(paid)} of {len(run.paid)} created; bookings offered: "
        f"{analysed['bookings_offered']}; offers received: {len(run.offers)} "
        f"{analysed['offers_per_wave']} (by wave)",
        SUMMARY_HEADER,
    ]
    for label, key in (
        ("wave 1: mark-paid sent -> offer", "first_wave"),
        ("next wave: last decline -> offer", "after_declines"),
        ("next wave: deadline -> offer", "after_deadline"),
    ):
        summary: Summary = analysed[key]
        lines.append(summary_line(label, summary))
    for label, values in (
        ("mark-paid HTTP response", run.paid_ms),
        ("create HTTP response", run.create_ms),
        ("generator lag (mark-paid)", run.lag_ms),
    ):
        lines.append(summary_line(label, summarize(values)))
    lines += [
        "",
        f"machine busy just before (other programs included): {result.get('machine_busy_before_pct')} % "
        f"of {hubproc.CORES} cores",
        f"CPU over the {args.duration:g} s of payments (% of one core): {result.get('cpu')}",
        f"database transactions/s: {result.get('db_transactions_per_s')}",
        f"hub RSS: at rest with the workers connected {mib(rss.get('rest'))}, peak {mib(rss.get('peak'))}, "
        f"after the payments {mib(rss.get('end'))}",
        f"drain after the last payment: {result.get('drain_s')} s; database: {checked}",
        "slowest wave-1 offer of the bookings paid in each second (ms): "
        + " ".join(str(v) for v in analysed["worst_first_wave_per_s"]),
        "outbox backlog every 5 s (seconds since the first payment: undelivered events / oldest age s): "
        + " ".join(f"{at:g}:{n}/{age:g}" for at, n, age in run.outbox[::5]),
        f"errors: http {dict(run.http_errors) or 0}, offer:seen {dict(run.seen_errors) or 0}, "
        f"offer:decline {dict(run.decline_errors) or 0}, duplicate offers {run.duplicates}, "
        f"offers for unknown bookings {run.unknown_offers}, "
        f"disconnects {sum(w.disconnects for w in run.hub.fleet.workers)}",
    ]
    lines += [f"note: {n}" for n in run.notes]
    lines += log_lines(run.hub)
    return "\n".join(lines)


def race_report(run: RaceRun) -> str:
    args = run.args
    by_worker = dict(sorted(run.winners.items(), key=lambda kv: int(kv[0].split("-")[1])))
    lines = [
        f"# dispatch: accept race, {time.strftime('%Y-%m-%d %H:%M %Z')}",
        machine_line(),
        f"{args.trials} trials, one at a time; each booking offered to {args.race_workers} workers at once "
        f"(HUB_DISPATCH_WAVE_SIZE={args.race_workers}), all {args.race_workers} send offer:accept together "
        "(asyncio.gather, emit order shuffled per trial)",
        f"wall time {run.wall:.1f} s; CPU over the trials (% of one core): {run.cpu}",
        f"ok acks: {sum(run.winners.values())}; error acks by code: {dict(run.codes)}",
        f"winners by worker: {by_worker}",
        f"winners by emit position (0 = emitted first): {dict(sorted(run.winner_position.items()))}",
        f"anomalies: {len(run.anomalies)}",
        SUMMARY_HEADER,
    ]
    for label, values in (
        ("whole trial (book .. checks)", run.trial_ms),
        ("mark-paid sent -> last of 10 offers", run.offer_ms),
        ("race: first emit -> last ack", run.race_ms),
        ("winner's ack", run.win_ack_ms),
        ("losers' acks", run.lose_ack_ms),
    ):
        lines.append(summary_line(label, summarize(values)))
    lines += [f"  anomaly: {json.dumps(a)}" for a in run.anomalies[:20]]
    lines += log_lines(run.hub)
    return "\n".join(lines)


def latency_json(run: LatencyRun) -> dict[str, Any]:
    return {
        "args": args_json(run.args),
        "result": run.result,
        "database": run.checked,
        "outbox": run.outbox,
        "analysed": {k: asdict(v) if isinstance(v, Summary) else v for k, v in run.analysed.items()},
    }


def race_json(run: RaceRun) -> dict[str, Any]:
    return {
        "args": args_json(run.args),
        "winners": run.winners,
        "codes": run.codes,
        "anomalies": run.anomalies,
        "trial_ms": asdict(summarize(run.trial_ms)),
    }
