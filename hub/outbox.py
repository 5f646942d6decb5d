"""The outbox relay: delivers committed events to in-process subscribers, at least once.

Woken by LISTEN/NOTIFY (the ``events`` insert trigger), with a periodic sweep as the safety net
for a lost listener connection and for retries coming due. Several relays (one per hub node) may
run against one database: rows are claimed with ``FOR UPDATE SKIP LOCKED`` plus a lease, so each
event is handled by one relay at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time

import asyncpg

from hub.bus import Bus
from hub.claimloop import ClaimLoop, backoff
from hub.events import StoredEvent
from hub.metrics import Metrics
from hub.settings import OutboxSettings
from hub.storage import outbox as store

log = logging.getLogger(__name__)

# A subscriber that hangs longer is treated as failed and retried. Bounded by a quarter of the
# lease too, so a slow event rarely outlives its claim (delivery stays at least once regardless).
HANDLER_TIMEOUT_SECONDS = 10.0
LANES_AT_ONCE = 16  # lanes of one batch delivered concurrently


class Relay(ClaimLoop):
    name = "outbox-relay"
    channel = store.NOTIFY_CHANNEL

    def __init__(
        self,
        pool: asyncpg.Pool,
        dsn: str,
        bus: Bus,
        settings: OutboxSettings,
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__(pool, dsn, batch_size=settings.batch_size, sweep_seconds=settings.sweep_seconds)
        self._bus = bus
        self._settings = settings
        self._metrics = metrics
        self._handler_timeout = min(HANDLER_TIMEOUT_SECONDS, settings.lease_seconds / 4)

    async def next_due_in(self) -> float | None:
        return await store.next_due_in(self._pool)

    async def prune(self) -> None:
        removed = await store.prune_delivered(self._pool, self._settings.retention_hours)
        if removed:
            log.info("pruned %d delivered events older than %.0fh", removed, self._settings.retention_hours)

    async def drain_once(self) -> int:
        """Claim one batch and deliver it; return how many events were claimed.

        Events go out in lanes (``Bus.lane``): one lane's events in order, up to
        ``LANES_AT_ONCE`` lanes at a time, so a slow subscriber call (a query, a Redis publish)
        does not hold up events that do not depend on it."""
        claimed_at = time.monotonic()
        events = await store.claim(self._pool, self._settings.batch_size, self._settings.lease_seconds)
        if not events:
            return 0
        retried = [e.id for e in events if e.attempts > 1]
        already = await store.delivered_subscribers(self._pool, retried)
        lanes: dict[str, list[StoredEvent]] = {}
        for event in events:
            lanes.setdefault(self._bus.lane(event), []).append(event)
        delivered: list[int] = []
        handled: set[int] = set()
        limit = asyncio.Semaphore(LANES_AT_ONCE)

        async def run(lane: list[StoredEvent]) -> None:
            async with limit:
                for event in lane:
                    if self._stopping or time.monotonic() - claimed_at > self._settings.lease_seconds / 2:
                        return  # stopping, or another relay may claim these soon: hand them back below
                    if await self._deliver(event, already.get(event.id, set())):
                        delivered.append(event.seq)
                    handled.add(event.seq)

        try:
            await asyncio.gather(*(run(lane) for lane in lanes.values()))
        finally:
            # Also on cancellation (shutdown): record what was done and release the rest at once
            # instead of leaving it hidden behind the lease.
            await store.mark_delivered(self._pool, delivered)
            await store.release(self._pool, [e.seq for e in events if e.seq not in handled])
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
