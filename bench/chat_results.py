"""One rate step of the chat benchmark: the load generators' replies merged into one result, and
whether it passed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stats import Summary, summarize


@dataclass
class StepResult:
    rate: float
    sent: int
    delivered: int
    delivered_per_s: float
    e2e: Summary
    e2e_to_agent: Summary
    e2e_to_customer: Summary
    ack: Summary
    lag: Summary
    errors: dict[str, int]
    warmup_errors: dict[str, int]
    problems: dict[str, int]  # no_ack, not_delivered, stray, misrouted, duplicates, disconnects
    cpu: dict[str, float]  # percent of one core; "machine" is percent of all cores
    max_e2e_per_s: list[float]  # worst e2e of the messages sent in each measured second
    rss_after_kib: dict[str, int | None]
    gc_pauses: dict[str, dict[str, float]]  # per hub node, with --gc-log-ms
    passed: bool
    verdict: str


def merge(replies: list[dict[str, Any]], rate: float, cpu: dict[str, float], limit_ms: float) -> StepResult:
    def joined(key: str) -> list[float]:
        return [v for r in replies for v in r[key]]

    to_agent, to_customer = joined("e2e_to_agent_ms"), joined("e2e_to_customer_ms")
    e2e, ack = summarize(to_agent + to_customer), summarize(joined("ack_ms"))
    sent = sum(r["sent"] for r in replies)
    delivered = len(to_agent) + len(to_customer)
    # Achieved throughput: what was delivered, over the time from the first measured emit to the
    # last delivery (so a backlog that drains late lowers it instead of hiding).
    first_emit = min((r["first_emit"] for r in replies if r["sent"]), default=0.0)
    span = max(r["last_received"] for r in replies) - first_emit
    errors = sum_counts(r["errors"] for r in replies)
    warmup_errors = sum_counts(r["warmup_errors"] for r in replies)
    keys = ("no_ack", "not_delivered", "stray", "misrouted", "duplicates", "disconnects")
    problems = {k: sum(r[k] for r in replies) for k in keys if sum(r[k] for r in replies)}
    passed, verdict = judge(e2e, ack, errors, warmup_errors, problems, limit_ms)
    return StepResult(
        rate=rate,
        sent=sent,
        delivered=delivered,
        delivered_per_s=delivered / span if span > 0 else 0.0,
        e2e=e2e,
        e2e_to_agent=summarize(to_agent),
        e2e_to_customer=summarize(to_customer),
        ack=ack,
        lag=summarize(joined("lag_ms")),
        errors=errors,
        warmup_errors=warmup_errors,
        problems=problems,
        cpu=cpu,
        max_e2e_per_s=[max(column) for column in zip(*(r["max_e2e_per_s"] for r in replies), strict=True)],
        rss_after_kib={},
        gc_pauses={},
        passed=passed,
        verdict=verdict,
    )


def judge(
    e2e: Summary,
    ack: Summary,
    errors: dict[str, int],
    warmup_errors: dict[str, int],
    problems: dict[str, int],
    limit_ms: float,
) -> tuple[bool, str]:
    # Stray deliveries are late ones from the previous step: worth showing, not a failure here.
    failures = {k: v for k, v in problems.items() if k != "stray"}
    if errors or warmup_errors or failures:
        return False, f"errors {errors or warmup_errors or failures}"
    if e2e.count == 0:
        return False, "nothing delivered"
    worst = max(e2e.p99, ack.p99)
    if worst > limit_ms:
        return False, f"p99 {worst:.0f} ms > {limit_ms:.0f} ms"
    return True, "ok"


def gc_summary(collections: list[tuple[int, float]]) -> dict[str, float]:
    pauses = [ms for _, ms in collections]
    return {
        "count": len(pauses),
        "full (gen 2)": sum(1 for generation, _ in collections if generation == 2),
        "max_ms": max(pauses, default=0.0),
        "total_ms": round(sum(pauses), 1),
    }


def sum_counts(counts: Any) -> dict[str, int]:
    total: dict[str, int] = {}
    for count in counts:
        for key, value in count.items():
            total[key] = total.get(key, 0) + value
    return total


def step_line(r: StepResult) -> str:
    return (
        f"  {r.rate:g} msg/s offered, {r.delivered_per_s:.0f}/s delivered; e2e p50/p90/p99/max "
        f"{r.e2e.row()} ms; ack p99 {r.ack.p99:.1f} ms; CPU {r.cpu}; {r.verdict}"
    )
