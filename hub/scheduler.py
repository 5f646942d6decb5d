"""Timers: APScheduler in-process, truth in PostgreSQL.

A deadline (an offer's, an unpaid booking's, a lateness check) is a column in PostgreSQL, and
its job here only says *when to look*. Every job does an idempotent conditional UPDATE, so a job
that fires twice, or on two nodes, has no second effect. Jobs live in memory: after a restart
they are scheduled again from the database, and a periodic sweep fires whatever is overdue,
including deadlines that a node which has since died had scheduled.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from hub.outages import outage

log = logging.getLogger(__name__)

Job = Callable[..., Awaitable[None]]


class Timers:
    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            # A late job still runs (and runs once): the database decides whether it has work.
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def at(self, job_id: str, when: datetime, job: Job, *args: Any) -> None:
        """Run ``job(*args)`` at ``when``; scheduling the same id again moves it."""
        self._scheduler.add_job(
            _guarded(job_id, job), "date", run_date=when, args=args, id=job_id, replace_existing=True
        )

    def every(self, job_id: str, seconds: float, job: Job) -> None:
        self._scheduler.add_job(
            _guarded(job_id, job), "interval", seconds=seconds, id=job_id, replace_existing=True
        )

    def cancel(self, job_id: str) -> None:
        job = self._scheduler.get_job(job_id)
        if job is not None:
            job.remove()

    def pending(self) -> list[str]:
        return [job.id for job in self._scheduler.get_jobs()]


def _guarded(job_id: str, job: Job) -> Job:
    """``job``, with a database outage logged as one warning line instead of APScheduler's
    traceback: the database bounds its waits, and the periodic sweep fires what was missed."""

    @functools.wraps(job)
    async def run(*args: Any) -> None:
        try:
            await job(*args)
        except Exception as exc:
            if outage(exc) is None:
                raise  # a bug: APScheduler logs it with its traceback
            log.warning("timer %s: backing service unavailable (%r); retried at the next sweep", job_id, exc)

    return run
