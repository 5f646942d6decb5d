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
HANDLER_TIMEOUT_SECONDS = 10.0  # a subscriber that hangs longer is treated as failed and retried


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

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close_listener()

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                await self._ensure_listener()
                self._wake.clear()
                while await self.drain_once() == self._settings.batch_size:
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
        for index, event in enumerate(events):
            if time.monotonic() - claimed_at > self._settings.lease_seconds / 2:
                # Past half the lease another relay may soon claim these; hand them back now.
                await store.release(self._pool, [e.seq for e in events[index:]])
                break
            if await self._deliver(event, already.get(event.id, set())):
                delivered.append(event.seq)
        await store.mark_delivered(self._pool, delivered)
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
                await asyncio.wait_for(sub.handler(event), HANDLER_TIMEOUT_SECONDS)
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
            await conn.add_listener(store.NOTIFY_CHANNEL, self._on_notify)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            # The sweep still delivers, only later; try LISTEN again on the next round.
            log.warning(
                "outbox LISTEN unavailable (%r); relying on the %.1fs sweep",
                exc,
                self._settings.sweep_seconds,
            )
            return
        conn.add_termination_listener(self._on_listener_lost)
        self._listener = conn

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
