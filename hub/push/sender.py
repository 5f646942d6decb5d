"""The push sender: claims queued deliveries and sends them through the providers, at least once.

Built like the outbox relay (hub/outbox.py): woken by LISTEN/NOTIFY from the ``push_deliveries``
insert trigger, with a periodic sweep for a lost listener and for retries coming due. Rows are
claimed with ``FOR UPDATE SKIP LOCKED`` plus a lease, so every hub node can run a sender against
one database and each delivery is attempted by one sender at a time.

Outcomes: sent; a transient failure (network error, 429, 5xx) is retried with capped exponential
backoff and jitter, never sooner than the provider's ``Retry-After``, until
``HUB_PUSH_MAX_ATTEMPTS``, then failed; an unregistered token deletes the device and drops the
delivery; any other refusal fails it at once. A delivery for a platform this hub has no
credentials for fails at once too, rather than being retried forever.

A node that stops between a provider accepting a push and the outcome being recorded sends that
push again after the lease: phones may, rarely, show a notification twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import asyncpg

from hub.claimloop import ClaimLoop, backoff
from hub.outages import outage
from hub.push.config import PushConfig
from hub.push.models import Device, Platform
from hub.push.providers import Outcome, Provider, SendResult, build_providers
from hub.push.queue import PushMessage
from hub.storage import push as store

log = logging.getLogger(__name__)

CONCURRENCY = 32  # sends in flight per sender; APNs multiplexes them on one HTTP/2 connection
SEND_TIMEOUT_SECONDS = 30.0  # one send, token fetch included; also bounded by a quarter of the lease
STOP_GRACE_SECONDS = 5.0  # how long stop() lets sends in flight finish before cancelling them
RETENTION_HOURS = 7 * 24.0  # finished deliveries are kept this long for support questions


class PushSender(ClaimLoop):
    name = "push-sender"
    channel = store.NOTIFY_CHANNEL
    stop_grace_seconds = STOP_GRACE_SECONDS

    def __init__(
        self,
        pool: asyncpg.Pool,
        dsn: str,
        config: PushConfig,
        providers: Mapping[Platform, Provider] | None = None,
    ) -> None:
        """``providers`` defaults to those ``config`` configures; the sender closes them on stop."""
        super().__init__(pool, dsn, batch_size=config.batch_size, sweep_seconds=config.sweep_seconds)
        self._config = config
        self._providers: dict[Platform, Provider] = (
            build_providers(config) if providers is None else dict(providers)
        )
        self._slots = asyncio.Semaphore(CONCURRENCY)
        self._send_timeout = min(SEND_TIMEOUT_SECONDS, config.lease_seconds / 4)
        self._closed = False

    async def next_due_in(self) -> float | None:
        return await store.next_due_in(self._pool)

    async def prune(self) -> None:
        removed = await store.prune_finished(self._pool, RETENTION_HOURS)
        if removed:
            log.info("pruned %d finished push deliveries", removed)

    async def closed(self) -> None:
        if not self._closed:
            self._closed = True
            for provider in self._providers.values():
                await provider.aclose()

    async def drain_once(self) -> int:
        """Claim one batch and send it; return how many deliveries were claimed."""
        claimed_at = time.monotonic()
        rows = await store.claim(self._pool, self._config.batch_size, self._config.lease_seconds)
        if not rows:
            return 0
        unsettled = {row["id"] for row in rows}
        try:
            async with asyncio.TaskGroup() as group:
                for row in rows:
                    group.create_task(self._deliver(row, unsettled, claimed_at))
        finally:
            # Also on cancellation: what was not attempted goes back at once, instead of staying
            # hidden behind the lease.
            await store.release(self._pool, sorted(unsettled))
        return len(rows)

    async def _deliver(self, row: asyncpg.Record, unsettled: set[int], claimed_at: float) -> None:
        async with self._slots:
            if self._stopping or time.monotonic() - claimed_at > self._config.lease_seconds / 2:
                return  # stopping, or another sender may claim it soon: handed back by drain_once
            # From here the row is ours to settle; if recording fails, its lease hides it for a while
            # and it is retried then (at least once).
            unsettled.discard(row["id"])
            try:
                await self._settle(row)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if outage(exc) is None:
                    log.exception(
                        "push delivery %d: could not record the outcome; retried after the lease", row["id"]
                    )
                else:
                    log.warning(
                        "push delivery %d: database unavailable (%r); retried after the lease", row["id"], exc
                    )

    async def _settle(self, row: asyncpg.Record) -> None:
        delivery_id: int = row["id"]
        if row["device_id"] is None or row["platform"] is None:
            await store.finish(self._pool, delivery_id, "dropped", "the device was removed")
            return
        if row["created_at"] + timedelta(seconds=self._config.ttl_seconds) < datetime.now(UTC):
            await store.finish(self._pool, delivery_id, "failed", "expired before it could be sent")
            return
        platform = Platform(row["platform"])
        provider = self._providers.get(platform)
        if provider is None:
            error = f"{platform.value} push is not configured on this hub"
            log.warning("push delivery %d failed: %s", delivery_id, error)
            await store.finish(self._pool, delivery_id, "failed", error)
            return
        device, message = store.claimed_device(row), _message(row)
        try:
            async with asyncio.timeout(self._send_timeout):
                result = await provider.send(device, message)
        except TimeoutError:
            result = SendResult(
                Outcome.RETRY, f"{platform.value}: no answer within {self._send_timeout:.0f}s"
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a provider bug must not stop the others
            log.exception("push delivery %d: %s provider raised", delivery_id, platform.value)
            result = SendResult(Outcome.RETRY, f"{platform.value}: {exc!r}")
        await self._record(row, device, result)

    async def _record(self, row: asyncpg.Record, device: Device, result: SendResult) -> None:
        delivery_id: int = row["id"]
        attempts: int = row["attempts"]
        if result.outcome is Outcome.SENT:
            await store.finish(self._pool, delivery_id, "sent", provider_id=result.provider_id)
            log.debug("push delivery %d sent to %s device %s", delivery_id, device.platform, device.id)
        elif result.outcome is Outcome.UNREGISTERED:
            async with self._pool.acquire() as conn, conn.transaction():
                await store.finish(conn, delivery_id, "dropped", result.error)
                await store.delete_device(conn, device.id)
            log.info("push delivery %d: %s; deleted device %s", delivery_id, result.error, device.id)
        elif result.outcome is Outcome.RETRY and attempts < self._config.max_attempts:
            delay = backoff(attempts, self._config.backoff_base_seconds, self._config.backoff_cap_seconds)
            delay = max(delay, result.retry_after or 0.0)
            await store.schedule_retry(self._pool, delivery_id, result.error or "retry", delay)
            log.info(
                "push delivery %d: %s (attempt %d); retrying in %.1fs",
                delivery_id,
                result.error,
                attempts,
                delay,
            )
        else:
            error = result.error or "failed"
            if result.outcome is Outcome.RETRY:
                error = f"gave up after {attempts} attempts: {error}"
            await store.finish(self._pool, delivery_id, "failed", error)
            log.warning("push delivery %d failed: %s", delivery_id, error)


def _message(row: asyncpg.Record) -> PushMessage:
    return PushMessage(
        notification_id=row["notification_id"],
        user_id=row["user_id"],
        role=row["role"],
        kind=row["kind"],
        title=row["title"],
        body=row["body"],
        data=row["data"] or {},
        urgent=row["urgent"],
        sound=row["sound"],
        collapse_key=row["collapse_key"],
    )
