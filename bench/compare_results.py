"""``compare.py``'s figures, with no I/O: one chat step from the generator's reply, whether it kept
up, one side's run as named figures, the medians over runs, and the side-by-side table."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stats import summarize

LAG_LIMIT_MS = 100.0  # the generator's own lag p99 above which a step measured the generator


def step_result(
    rate: float, reply: dict[str, Any], cpu: dict[str, float], p99_limit_ms: float
) -> dict[str, Any]:
    """One chat rate: the generator's reply and the CPU seconds of its measured window
    (``server``, ``postgres``, ``generator``, ``wall``) as the figures the report uses."""
    e2e, ack, lag = summarize(reply["e2e_ms"]), summarize(reply["ack_ms"]), summarize(reply["lag_ms"])
    sent = reply["sent"]
    codes = {**reply["errors"], **{f"warm-up {k}": v for k, v in reply["warmup_errors"].items()}}
    # Wrong socket, twice, or a socket dropped: as bad as an error ack.
    codes |= {k: reply[k] for k in ("misrouted", "duplicates", "disconnects") if reply[k]}
    step = {
        "rate": rate,
        "sent": sent,
        "e2e_p50": e2e.p50,
        "e2e_p99": e2e.p99,
        "ack_p99": ack.p99,
        "lag_p99": lag.p99,
        "errors": sum(codes.values()),
        "error_codes": codes,
        "lost": reply["lost"],
        "backlog": reply["backlog"],
        "server_us_per_msg": per_message(cpu["server"], sent),
        "postgres_us_per_msg": per_message(cpu["postgres"], sent),
        # The whole Redis server (shared, unavoidably): only when the hub's workers use it.
        "redis_us_per_msg": per_message(cpu["redis"], sent) if "redis" in cpu else None,
        "generator_pct": 100 * cpu["generator"] / cpu["wall"] if cpu["wall"] > 0 else math.nan,
        "untracked_pct": 100 * cpu.get("untracked", 0.0) / cpu["wall"] if cpu["wall"] > 0 else math.nan,
    }
    step["kept_up"], step["verdict"] = kept_up(step, p99_limit_ms)
    return step


def per_message(cpu_seconds: float, messages: int) -> float:
    return 1e6 * cpu_seconds / messages if messages else math.nan


def kept_up(step: dict[str, Any], p99_limit_ms: float) -> tuple[bool, str]:
    """A rate is kept up when every message was acknowledged and delivered (nothing lost, no error),
    nothing was left over a second after the measured window (no backlog), and the e2e p99 stayed
    within ``p99_limit_ms`` (a standing queue shows there before it spills into a backlog). A
    generator that fell behind its own schedule measured itself, not the server: that fails too,
    and says so."""
    if step["errors"]:
        return False, f"errors {step['error_codes']}"
    if step["lost"]:
        return False, f"{step['lost']} lost"
    if step["backlog"]:
        return False, f"backlog {step['backlog']}"
    if step["sent"] == 0:
        return False, "nothing sent"
    if step["lag_p99"] > LAG_LIMIT_MS:
        return False, f"generator behind (lag p99 {step['lag_p99']:.0f} ms)"
    if step["e2e_p99"] > p99_limit_ms:
        return False, f"e2e p99 {step['e2e_p99']:.0f} ms > {p99_limit_ms:g} ms"
    return True, "kept up"


def highest_kept_up(steps: Sequence[dict[str, Any]]) -> float | None:
    """The highest rate of the saturation steps before the first that did not keep up: 0 when
    not even the first did (so that the median over runs counts that run), None without steps."""
    if not steps:
        return None
    best = 0.0
    for step in steps:
        if not step["kept_up"]:
            break
        best = step["rate"]
    return best


@dataclass(frozen=True, slots=True)
class Figure:
    key: str
    label: str
    higher_is_better: bool = False


def figures(rates: Sequence[float]) -> list[Figure]:
    rows = [
        Figure("idle_kib_per_socket", "idle memory per socket, KiB RSS"),
        Figure("connect_us", "connect: server CPU per connection, µs"),
        Figure("connect_pg_us", "connect: PostgreSQL CPU per connection, µs"),
    ]
    for rate in rates:
        at = f"chat {rate:g}/s:"
        rows += [
            Figure(f"chat{rate:g}_server_us", f"{at} server CPU per message, µs"),
            Figure(f"chat{rate:g}_pg_us", f"{at} PostgreSQL CPU per message, µs"),
            Figure(f"chat{rate:g}_redis_us", f"{at} Redis CPU per message, µs"),
            Figure(f"chat{rate:g}_gen_pct", f"{at} generator CPU, % of a core"),
            Figure(f"chat{rate:g}_e2e_p50", f"{at} e2e p50, ms"),
            Figure(f"chat{rate:g}_e2e_p99", f"{at} e2e p99, ms"),
            Figure(f"chat{rate:g}_lost", f"{at} lost"),
            Figure(f"chat{rate:g}_backlog", f"{at} backlog"),
        ]
    return [
        *rows,
        Figure("saturation", "saturation: highest rate kept up, msg/s", higher_is_better=True),
        Figure("open_s", "support:open for every customer, s"),
        Figure("fanout_per_s", "fan-out: deliveries/s", higher_is_better=True),
        Figure("fanout_p99", "fan-out: delivery p99, ms"),
        Figure("fanout_lost", "fan-out: lost"),
    ]


def side_figures(side: dict[str, Any]) -> dict[str, float | None]:
    """One side's run (compare_side.Side.result) as the figures of the table."""
    idle, fan = side.get("idle", {}), side.get("fanout", {})
    found: dict[str, float | None] = {
        "idle_kib_per_socket": idle.get("kib_per_socket"),
        "connect_us": idle.get("server_us_per_connect"),
        "connect_pg_us": idle.get("postgres_us_per_connect"),
        "open_s": side.get("open", {}).get("seconds"),
        "fanout_per_s": fan.get("deliveries_per_s"),
        "fanout_p99": fan.get("p99_ms"),
        "fanout_lost": fan.get("lost"),
    }
    if "saturation" in side:
        found["saturation"] = highest_kept_up(side["saturation"])
    for step in side.get("steps", []):
        at = f"chat{step['rate']:g}"
        found |= {
            f"{at}_server_us": step["server_us_per_msg"],
            f"{at}_pg_us": step["postgres_us_per_msg"],
            f"{at}_redis_us": step.get("redis_us_per_msg"),
            f"{at}_gen_pct": step["generator_pct"],
            f"{at}_e2e_p50": step["e2e_p50"],
            f"{at}_e2e_p99": step["e2e_p99"],
            f"{at}_lost": step["lost"],
            f"{at}_backlog": step["backlog"],
        }
    return found


def medians(runs: Sequence[dict[str, float | None]]) -> dict[str, float | None]:
    """Per figure, the median of the runs that have it (NaN and None left out)."""
    keys = dict.fromkeys(k for run in runs for k in run)
    found: dict[str, float | None] = {}
    for key in keys:
        values = [v for run in runs if (v := run.get(key)) is not None and not math.isnan(v)]
        found[key] = statistics.median(values) if values else None
    return found


def ratio(hub: float | None, reference: float | None) -> float | None:
    if hub is None or reference is None or reference == 0:
        return None
    return hub / reference


def better(figure: Figure, hub: float | None, reference: float | None) -> str:
    if hub is None or reference is None or hub == reference:
        return ""
    return "hub" if (hub > reference) == figure.higher_is_better else "reference"


def table(
    rates: Sequence[float], hub: dict[str, float | None], reference: dict[str, float | None]
) -> list[str]:
    lines = [f"{'':52s} {'hub':>10s} {'reference':>10s} {'hub/ref':>8s}  better"]
    for figure in figures(rates):
        h, r = hub.get(figure.key), reference.get(figure.key)
        q = ratio(h, r)
        lines.append(
            f"{figure.label:52s} {number(h):>10s} {number(r):>10s} "
            f"{'' if q is None else f'{q:.2f}':>8s}  {better(figure, h, r)}"
        )
    return lines


def number(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    if value == int(value) or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
