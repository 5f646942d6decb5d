"""The outbox relay: delivers committed events to in-process subscribers, at least once.

Woken by LISTEN/NOTIFY (the ``events`` insert trigger), with a periodic sweep as the safety net
for a lost listener connection and for retries coming due. Several relays (one per hub node) may
run against one database: rows are claimed with ``FOR UPDATE SKIP LOCKED`` plus a lease, so each
event is handled by one relay at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import Any

import asyncpg

from hub.bus import Bus
from hub.events import StoredEvent
from hub.metrics import Metrics
from hub.settings import OutboxSettings
from hub.storage import outbox as store

log = logging.getLogger(__name__)

PRUNE_EVERY_SECONDS = 600.0  # deleting old delivered rows is housekeeping, not latency-critical
# A subscriber that hangs longer is treated as failed and retried. Bounded by a quarter of the
# lease too, so a slow event rarely outlives its claim (delivery stays at least once regardless).
HANDLER_TIMEOUT_SECONDS = 10.0
STOP_GRACE_SECONDS = 2.0  # how long stop() lets the event in hand finish before cancelling


def backoff(attempt: int, base: float, cap: float) -> float:
    """Capped exponential backoff with ±20 % jitter so failed events do not retry in lockstep."""
    delay: float = min(cap, base * 2 ** max(0, attempt - 1))
    return delay * random.uniform(0.8, 1.2)


class Relay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        dsn: str,
        bus: Bus,
        settings: OutboxSettings,
        metrics: Metrics | None = None,
    ) -> None:
        self._pool = pool
        self._dsn = dsn
        self._bus = bus
        self._settings = settings
        self._metrics = metrics
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_prune = 0.0
        self._stopping = False
        self._handler_timeout = min(HANDLER_TIMEOUT_SECONDS, settings.lease_seconds / 4)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        """Finish the event in hand, hand back the rest of the batch, then stop.

        Cancelling mid-query could leave rows claimed by a statement whose answer never arrived,
        hidden for a whole lease; so cancel only if the graceful stop overruns.
        """
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), STOP_GRACE_SECONDS)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._close_listener()

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            try:
                await self._ensure_listener()
                self._wake.clear()
                while await self.drain_once() == self._settings.batch_size and not self._stopping:
                    pass
                await self._maybe_prune()
                wait = self._settings.sweep_seconds
                due = await store.next_due_in(self._pool)
                if due is not None:
                    wait = min(wait, max(due, 0.01))
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                wait = min(30.0, 0.5 * 2**failures)
                log.exception("outbox relay failed; retrying in %.1fs", wait)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def drain_once(self) -> int:
        """Claim one batch and deliver it; return how many events were claimed."""
        claimed_at = time.monotonic()
        events = await store.claim(self._pool, self._settings.batch_size, self._settings.lease_seconds)
        if not events:
            return 0
        retried = [e.id for e in events if e.attempts > 1]
        already = await store.delivered_subscribers(self._pool, retried)
        delivered: list[int] = []
        handled = 0
        try:
            for event in events:
                if self._stopping or time.monotonic() - claimed_at > self._settings.lease_seconds / 2:
                    break  # stopping, or another relay may claim these soon: hand them back below
                if await self._deliver(event, already.get(event.id, set())):
                    delivered.append(event.seq)
                handled += 1
        finally:
            # Also on cancellation (shutdown): record what was done and release the rest at once
            # instead of leaving it hidden behind the lease.
            await store.mark_delivered(self._pool, delivered)
            await store.release(self._pool, [e.seq for e in events[handled:]])
        if self._metrics is not None:
            self._metrics.outbox_delivered.inc(len(delivered))
        return len(events)

    async def _deliver(self, event: StoredEvent, skip: set[str]) -> bool:
        succeeded: list[str] = []
        errors: list[str] = []
        for sub in self._bus.subscribers_for(event.topic):
            if sub.name in skip:
                continue
            try:
                await asyncio.wait_for(sub.handler(event), self._handler_timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "subscriber %s failed on event %s (%s, attempt %d): %r",
                    sub.name,
                    event.id,
                    event.topic,
                    event.attempts,
                    exc,
                )
                errors.append(f"{sub.name}: {exc!r}")
                if self._metrics is not None:
                    self._metrics.outbox_failures.labels(sub.name).inc()
            else:
                succeeded.append(sub.name)
        if not errors:
            return True
        await store.record_partial(self._pool, [(event.id, name) for name in succeeded])
        settings = self._settings
        retry_in: float | None = backoff(
            event.attempts, settings.backoff_base_seconds, settings.backoff_cap_seconds
        )
        if event.attempts >= settings.max_attempts:
            retry_in = None
            log.error("event %s (%s) is dead after %d attempts", event.id, event.topic, event.attempts)
            if self._metrics is not None:
                self._metrics.outbox_dead.inc()
        await store.mark_failed(self._pool, event.seq, "; ".join(errors), retry_in)
        return False

    async def _maybe_prune(self) -> None:
        now = time.monotonic()
        if now - self._last_prune < PRUNE_EVERY_SECONDS:
            return
        self._last_prune = now
        removed = await store.prune_delivered(self._pool, self._settings.retention_hours)
        if removed:
            log.info("pruned %d delivered events older than %.0fh", removed, self._settings.retention_hours)

    async def _ensure_listener(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        try:
            conn = await asyncpg.connect(self._dsn, timeout=5)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            # The sweep still delivers, only later; try LISTEN again on the next round.
            log.warning(
                "outbox LISTEN unavailable (%r); relying on the %.1fs sweep",
                exc,
                self._settings.sweep_seconds,
            )
            return
        self._listener = conn  # owned from here on, so stop() closes it even if we are cancelled
        try:
            await conn.add_listener(store.NOTIFY_CHANNEL, self._on_notify)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning("outbox LISTEN failed (%r); relying on the sweep", exc)
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
