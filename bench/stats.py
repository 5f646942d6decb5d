"""Percentiles and the text tables the benchmark prints (and the README quotes)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Summary:
    count: int
    p50: float
    p90: float
    p99: float
    max: float

    def row(self) -> str:
        if self.count == 0:
            return "n/a"
        return f"{self.p50:7.1f} {self.p90:7.1f} {self.p99:7.1f} {self.max:7.1f}"


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (no interpolation: every reported
    value is one that was really measured)."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summarize(values: Sequence[float]) -> Summary:
    ordered = sorted(values)
    if not ordered:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    return Summary(
        count=len(ordered),
        p50=percentile(ordered, 0.50),
        p90=percentile(ordered, 0.90),
        p99=percentile(ordered, 0.99),
        max=ordered[-1],
    )


def mib(kib: int | None) -> str:
    return "n/a" if kib is None else f"{kib / 1024:.1f} MiB"


SUMMARY_HEADER = "                                     count     p50     p90     p99     max  (ms)"


def summary_line(label: str, summary: Summary) -> str:
    """One row under SUMMARY_HEADER."""
    return f"  {label:34s} {summary.count:5d} {summary.row()}"
