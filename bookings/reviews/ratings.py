"""A worker's ratings: the totals of their shown reviews, moved in the transaction that changes a
review, and rebuilt from the reviews on demand (``python -m hub ratings-rebuild``, the demo seed).

A shown review counts once in its worker's totals; a hidden one not at all. Averages are worked
out when read, from integer sums, so that no rounding ever accumulates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from bookings.reviews.models import ScoreAverages
from bookings.reviews.rules import Scores
from bookings.storage import ratings as store
from hub.storage.db import Conn


def averages(row: asyncpg.Record) -> ScoreAverages | None:
    """From a ``workers`` row; None for a worker with no shown review."""
    count = row["rating_count"]
    if count <= 0:
        return None
    return ScoreAverages(
        quality=round(row["quality_sum"] / count, 2),
        attitude=round(row["attitude_sum"] / count, 2),
        skill=round(row["skill_sum"] / count, 2),
    )


async def count_in(conn: Conn, worker_id: str, scores: Scores) -> None:
    """A review that is now shown: its scores join the worker's totals."""
    quality, attitude, skill = scores
    await store.add(conn, worker_id, quality, attitude, skill, 1)


async def count_out(conn: Conn, worker_id: str, scores: Scores) -> None:
    """A shown review that is now hidden: its scores leave the totals."""
    quality, attitude, skill = scores
    await store.add(conn, worker_id, -quality, -attitude, -skill, -1)


async def rescore(conn: Conn, worker_id: str, before: Scores, after: Scores) -> None:
    """A shown review whose scores changed: the difference moves the totals."""
    quality, attitude, skill = (a - b for a, b in zip(after, before, strict=True))
    if quality or attitude or skill:
        await store.add(conn, worker_id, quality, attitude, skill, 0)


@dataclass(frozen=True, slots=True)
class Totals:
    quality_sum: int
    attitude_sum: int
    skill_sum: int
    rating_count: int

    def __str__(self) -> str:
        return (
            f"quality {self.quality_sum}, attitude {self.attitude_sum}, skill {self.skill_sum}"
            f" over {self.rating_count}"
        )


@dataclass(frozen=True, slots=True)
class Rebuilt:
    worker_id: str
    was: Totals
    now: Totals


@dataclass(frozen=True, slots=True)
class Rebuild:
    checked: int  # workers looked at
    changed: list[Rebuilt]  # those whose totals were not what their reviews add up to


async def rebuild(conn: Conn, worker_ids: Sequence[str] | None = None) -> Rebuild:
    """Make these workers' totals (every worker's with None) what their shown reviews add up to,
    in the caller's transaction; what it changed. Reviews written meanwhile wait for it, then add
    to the rebuilt totals: nothing is counted twice or lost."""
    locked = await store.lock_workers(conn, worker_ids)
    rows = await store.rebuild(conn, locked) if locked else []
    changed = [
        Rebuilt(
            worker_id=row["id"],
            was=Totals(*(row[f"was_{t}"] for t in store.TOTALS)),
            now=Totals(*(row[t] for t in store.TOTALS)),
        )
        for row in rows
    ]
    return Rebuild(checked=len(locked), changed=sorted(changed, key=lambda r: r.worker_id))
