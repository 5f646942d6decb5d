"""The chat benchmark's report: the text it prints and the ``--json`` document."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict
from typing import Any

import hubproc
import machine
from chat_bench import Bench
from runner import args_json
from stats import mib

LIBRARIES = ("python-socketio", "python-engineio", "aiohttp", "asyncpg", "redis", "simple-websocket")


def environment() -> dict[str, Any]:
    """What the numbers depend on besides the hub: the machine and the library versions. The hub
    itself is identified by a digest of its sources, since a benchmark outlives many commits."""
    return {
        "python": sys.version.split()[0],
        "cores": hubproc.CORES,
        "cpu": machine.cpu_model(),
        "libraries": machine.library_versions(LIBRARIES),
        "hub_source_sha256": machine.hub_source_digest(),
    }


def report(bench: Bench) -> str:
    lines = header_lines(bench) + memory_lines(bench) + [""] + table_lines(bench) + [""]
    lines += detail_lines(bench) + verdict_lines(bench)
    return "\n".join(lines)


def header_lines(bench: Bench) -> list[str]:
    args, setup = bench.args, bench.setup
    topology = "customers on A, agents on B, via Redis" if args.nodes == 2 else "single"
    limit = "lifted (bench/hub_wrapped.py)" if args.lift_chat_limit else "stock (5/s per socket)"
    if args.gc_off:
        limit += "; hub garbage collector OFF (diagnostic)"
    env = setup.get("environment", {})
    return [
        f"# chat latency, {time.strftime('%Y-%m-%d %H:%M %Z')}",
        f"Python {env.get('python')}, {env.get('cores')} cores ({env.get('cpu')}), {env.get('libraries')}, "
        f"servers {env.get('servers')}, hub sources sha256 {env.get('hub_source_sha256')}",
        f"nodes {args.nodes} ({topology}), customers {args.customers}, agents {args.agents}, "
        f"load-generator processes {args.workers}, warm-up {args.warmup:g} s, "
        f"measured {args.duration:g} s per step, chat limit {limit}",
        f"machine busy before start: {setup.get('machine_busy_before_pct')} % of {hubproc.CORES} cores",
        f"idle with all sockets connected (CPU % of one core): {setup.get('idle')}",
        f"set-up: conversations {setup.get('conversations')}, customers connected in "
        f"{setup.get('connect_customers_s')} s, agents in {setup.get('connect_agents_s')} s, "
        f"{args.customers} x support:open in {setup.get('support_open_s')} s",
    ]


def table_lines(bench: Bench) -> list[str]:
    lines = [
        "rate/s  sent  deliv/s |  e2e p50     p90     p99     max |  ack p50     p90     p99     max "
        "| gen-lag p99 | errors | verdict"
    ]
    for r in bench.steps:
        errors = {**r.errors, **{f"warmup {k}": v for k, v in r.warmup_errors.items()}, **r.problems}
        lines.append(
            f"{r.rate:6g} {r.sent:5d} {r.delivered_per_s:8.1f} | {r.e2e.row()} | {r.ack.row()} "
            f"| {r.lag.p99:8.1f} ms | {errors or 0} | {r.verdict}"
        )
    return lines


def detail_lines(bench: Bench) -> list[str]:
    lines = ["CPU over each measured window (% of one core; machine = % of all cores):"]
    lines += [f"  {r.rate:6g}/s: {r.cpu}" for r in bench.steps]
    lines.append("e2e p99 by direction (ms):")
    lines += [
        f"  {r.rate:6g}/s: to agent {r.e2e_to_agent.p99:.1f}, to customer {r.e2e_to_customer.p99:.1f}"
        for r in bench.steps
    ]
    if bench.args.gc_log_ms is not None:
        threshold = bench.args.gc_log_ms
        lines.append(f"hub garbage collections of {threshold:g} ms or more in the measured window:")
        lines += [f"  {r.rate:6g}/s: {r.gc_pauses}" for r in bench.steps]
    lines.append("worst e2e of the messages sent in each measured second (ms), to spot stalls:")
    lines += [f"  {r.rate:6g}/s: {' '.join(f'{v:.0f}' for v in r.max_e2e_per_s)}" for r in bench.steps]
    return lines


def verdict_lines(bench: Bench) -> list[str]:
    lines = []
    if len(bench.steps) > 1:
        passing = [r.rate for r in bench.steps if r.passed]
        limit = bench.args.p99_limit_ms
        best = f"{max(passing):g} msg/s" if passing else "none"
        lines.append(f"highest rate with p99 <= {limit:g} ms and no errors: {best}")
    stored = bench.setup.get("database")
    if stored:
        # Every acked send must be stored exactly once (warm-ups included): a cross-check that the
        # client-side counts and the hub agree.
        lines.append(f"database after the run: {stored}")
    for node in bench.nodes:
        counted = [line.split("{", 1)[1] for line in bench.setup.get(f"metrics {node.name}", [])]
        if counted:
            lines.append(f"hub {node.name} hub_socket_events_total for chat:send: {counted}")
    lines += [f"note: {n}" for n in bench.notes]
    for node in bench.nodes:
        problems = bench.setup.get(f"hub {node.name} log") or []
        lines.append(f"hub {node.name} log (WARNING and above): {len(problems)} line(s)")
        lines += [f"  {p}" for p in problems[:5]]
    return lines


def memory_lines(bench: Bench) -> list[str]:
    lines = []
    for node in bench.nodes:
        idle, customers, connected = (node.rss.get(k) for k in ("idle", "customers", "connected"))
        held = bench.args.customers if node.name == "A" else 0
        held += bench.args.agents if node is bench.nodes[-1] else 0
        line = (
            f"hub {node.name} RSS: idle {mib(idle)}, customers connected {mib(customers)}, "
            f"all sockets + conversations {mib(connected)}"
        )
        if idle and connected and held >= 100:  # fewer sockets drown in allocator noise
            line += f" -> {(connected - idle) / held:.1f} KiB per socket ({held} sockets)"
        if idle and customers and node.name == "A":
            line += f" (customers alone: {(customers - idle) / bench.args.customers:.1f} KiB each)"
        lines.append(line)
    return lines


def to_json(bench: Bench) -> dict[str, Any]:
    return {
        "args": args_json(bench.args),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "setup": bench.setup,
        "rss_kib": {n.name: n.rss for n in bench.nodes},
        "steps": [asdict(s) for s in bench.steps],
        "notes": bench.notes,
    }
