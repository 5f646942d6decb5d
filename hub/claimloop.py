"""The loop shared by the hub's table-driven workers (outbox relay, push sender).

Each works through rows of a PostgreSQL table that come due: woken by LISTEN/NOTIFY from the
table's insert trigger, with a periodic sweep as the safety net for a lost listener connection
and for retries coming due. Subclasses claim rows with ``FOR UPDATE SKIP LOCKED`` plus a lease,
so every hub node can run one against the same database.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import random
import time
from typing import Any, ClassVar

import asyncpg

from hub.storage import db

log = logging.getLogger(__name__)

PRUNE_EVERY_SECONDS = 600.0  # deleting old finished rows is housekeeping, not latency-critical


def backoff(attempt: int, base: float, cap: float) -> float:
    """Capped exponential backoff with ±20 % jitter so failures do not retry in lockstep."""
    delay: float = min(cap, base * 2 ** max(0, attempt - 1))
    return delay * random.uniform(0.8, 1.2)


class ClaimLoop(abc.ABC):
    name: ClassVar[str]  # task name and log label
    channel: ClassVar[str]  # NOTIFY channel of the table's insert trigger
    stop_grace_seconds: ClassVar[float] = 2.0  # how long stop() lets the work in hand finish

    def __init__(self, pool: asyncpg.Pool, dsn: str, *, batch_size: int, sweep_seconds: float) -> None:
        self._pool = pool
        self._dsn = dsn
        self._batch_size = batch_size
        self._sweep_seconds = sweep_seconds
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_prune = 0.0
        self._stopping = False

    @abc.abstractmethod
    async def drain_once(self) -> int:
        """Claim one batch and work through it; return how many rows were claimed. Must stop
        early (handing back what it did not do) once ``self._stopping`` is set."""

    @abc.abstractmethod
    async def next_due_in(self) -> float | None:
        """Seconds until the earliest pending row is due (0 if overdue); None if none is pending."""

    @abc.abstractmethod
    async def prune(self) -> None:
        """Delete old finished rows; called at most every ``PRUNE_EVERY_SECONDS``."""

    async def closed(self) -> None:
        """Release what the subclass holds, once the loop has stopped (nothing by default)."""
        return None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Finish the work in hand, hand back the rest of the batch, then stop.

        Cancelling mid-query could leave rows claimed by a statement whose answer never arrived,
        hidden for a whole lease; so cancel only if the graceful stop overruns.
        """
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        try:
            if task is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(task), self.stop_grace_seconds)
                except TimeoutError:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await self._close_listener()
        finally:
            await self.closed()

    def wake(self) -> None:
        self._wake.set()

    @property
    def listening(self) -> bool:
        return self._listener is not None

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            try:
                await self._ensure_listener()
                self._wake.clear()
                while await self.drain_once() == self._batch_size and not self._stopping:
                    pass
                await self._maybe_prune()
                wait = self._sweep_seconds
                due = await self.next_due_in()
                if due is not None:
                    wait = min(wait, max(due, 0.01))
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                wait = min(30.0, 0.5 * 2**failures)
                if db.unavailable(exc) is None:
                    log.exception("%s failed; retrying in %.1fs", self.name, wait)
                else:  # an outage, not a bug: one line per round, no traceback
                    log.warning("%s: database unavailable (%r); retrying in %.1fs", self.name, exc, wait)
            if self._stop_requested():  # stop() may have set the wake-up before the clear() above
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    def _stop_requested(self) -> bool:
        return self._stopping

    async def _maybe_prune(self) -> None:
        now = time.monotonic()
        if now - self._last_prune >= PRUNE_EVERY_SECONDS:
            self._last_prune = now
            await self.prune()

    async def _ensure_listener(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        try:
            conn = await db.connect(self._dsn, db.timeouts_of(self._pool))
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            # The sweep still works, only later; try LISTEN again on the next round.
            log.warning(
                "%s: LISTEN unavailable (%r); relying on the %.1fs sweep", self.name, exc, self._sweep_seconds
            )
            return
        self._listener = conn  # owned from here on, so stop() closes it even if we are cancelled
        try:
            await conn.add_listener(self.channel, self._on_notify)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning("%s: LISTEN failed (%r); relying on the sweep", self.name, exc)
            await self._close_listener()
            return
        conn.add_termination_listener(self._on_listener_lost)

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    def _on_listener_lost(self, _conn: Any) -> None:
        self._listener = None
        self._wake.set()

    async def _close_listener(self) -> None:
        conn, self._listener = self._listener, None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), 2)
            except (TimeoutError, OSError, asyncpg.PostgresError):
                conn.terminate()
