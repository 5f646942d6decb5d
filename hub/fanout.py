"""Fan-out between hub nodes over Redis, and what happens when that link breaks.

python-socketio's Redis manager publishes every emit for the other nodes and listens for theirs.
When Redis restarts, it drops what it cannot publish (after two tries) and its listener sleeps
seconds between retries: a connected client then misses messages that were stored and acked, and
nobody tells it. This manager bounds every publish, keeps its own connections for publishing and
listening, reconnects the listener quickly, and once the link is back tells the sockets to
``sync`` (``sync:required``): its own sockets when it stopped hearing the others, every socket of
every node when something it emitted could not be passed on. What was stored while the link was
down then comes back from PostgreSQL, so a connected client misses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import socketio
from redis import asyncio as aioredis

from hub import jsoncodec
from hub.rooms import DirectEmit, IndexedRooms

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 1.0  # an emit never waits longer on Redis than this
CONNECT_TIMEOUT_SECONDS = 1.0
RETRY_FIRST_SECONDS = 0.1  # the listener's reconnect backoff, doubling up to the cap
RETRY_CAP_SECONDS = 2.0

Restored = Callable[[bool], Awaitable[None]]  # (cluster_wide) -> None


class LinkHealth:
    """What a fan-out link remembers about its breaks, and how it announces that it is whole again.

    Mixed into a python-socketio pub/sub manager (before it). ``deaf``: this node may have missed
    the others' emits; ``mute``: the others may have missed this node's. Once the link is whole,
    the sockets are told to ``sync``: this node's when it was deaf, every node's when it was mute.
    """

    def __init__(self, *args: Any, on_restored: Restored, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_restored = on_restored
        self.deaf = False
        self.mute = False
        self._announcing: set[asyncio.Task[None]] = set()

    def _publish_failed(self, exc: BaseException) -> None:
        if not self.mute:
            log.warning("fan-out: cannot publish to Redis (%r); other nodes miss emits until it is back", exc)
        self.mute = True

    def _published(self) -> None:
        if self.mute and not self.deaf:
            self._announce_publishing_again()

    def _announce_publishing_again(self) -> None:
        """Publishing works again while the subscription never broke (a publisher connection
        failed alone): no resubscription will announce it, so this does, to every node. In a
        task of its own, since announcing is itself an emit, published from here."""
        self.mute = False
        log.info("fan-out: publishing to Redis again; every socket is told to sync")
        task = asyncio.create_task(self._tell(cluster_wide=True))
        self._announcing.add(task)  # a reference, so the task is not collected mid-way
        task.add_done_callback(self._announcing.discard)

    async def _restored(self) -> None:
        # Only after the subscription is back: whatever is published from now on arrives live,
        # and whatever was missed before is already stored, so one sync covers the gap.
        cluster_wide = self.mute
        self.deaf = self.mute = False
        log.info("fan-out: Redis link restored; sockets are told to sync")
        await self._tell(cluster_wide)

    async def _tell(self, cluster_wide: bool) -> None:
        try:
            await self._on_restored(cluster_wide)
        except Exception:
            log.exception("fan-out: telling sockets to sync failed")

    @staticmethod
    async def _drop(client: aioredis.Redis | None) -> None:
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()


# DirectEmit after the Redis manager: its local delivery (``super().emit`` in python-socketio's
# pub/sub manager) is DirectEmit's, while emitting still publishes for the other nodes.
class FanoutLink(IndexedRooms, LinkHealth, socketio.AsyncRedisManager, DirectEmit):  # type: ignore[misc]
    def __init__(self, url: str, channel: str, on_restored: Restored) -> None:
        super().__init__(
            url,
            channel=channel,
            redis_options={"socket_connect_timeout": CONNECT_TIMEOUT_SECONDS},
            on_restored=on_restored,
            json=jsoncodec,  # every emit is encoded for Redis, and decoded by each other node
        )
        self._publisher: aioredis.Redis | None = None
        self._listener: aioredis.Redis | None = None
        self._subscription: Any = None

    async def _publish(self, data: Any) -> Any:
        message = self.json.dumps(data)
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT_SECONDS):
                for attempt in (1, 2):  # a connection Redis closed is replaced once
                    try:
                        if self._publisher is None:
                            self._publisher = aioredis.Redis.from_url(self.redis_url, **self.redis_options)
                        received = await self._publisher.publish(self.channel, message)
                        self._published()
                        return received
                    except (OSError, aioredis.RedisError):
                        await self._drop(self._publisher)
                        self._publisher = None
                        if attempt == 2:
                            raise
        except (TimeoutError, OSError, aioredis.RedisError) as exc:
            self._publish_failed(exc)
        return None

    async def _redis_listen_with_retries(self) -> AsyncIterator[Any]:
        delay = RETRY_FIRST_SECONDS
        while True:
            try:
                await self._subscribe()
                if self.deaf or self.mute:
                    await self._restored()
                delay = RETRY_FIRST_SECONDS
                async for message in self._subscription.listen():
                    yield message
                raise ConnectionError("the subscription ended")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self.deaf:
                    log.warning("fan-out: lost the Redis subscription (%r); reconnecting", exc)
                self.deaf = True
                await self._unsubscribe()
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_CAP_SECONDS)

    async def _subscribe(self) -> None:
        self._listener = aioredis.Redis.from_url(self.redis_url, **self.redis_options)
        self._subscription = self._listener.pubsub(ignore_subscribe_messages=True)
        await self._subscription.subscribe(self.channel)

    async def _unsubscribe(self) -> None:
        subscription, listener = self._subscription, self._listener
        self._subscription = self._listener = None
        if subscription is not None:
            with contextlib.suppress(Exception):
                await subscription.aclose()
        await self._drop(listener)

    async def close(self) -> None:
        """Stop listening and close both connections (python-socketio has no close for this)."""
        listener = getattr(self, "thread", None)
        if isinstance(listener, asyncio.Task):
            listener.cancel()
            await asyncio.wait([listener], timeout=2.0)
        await self._unsubscribe()
        await self._drop(self._publisher)
        self._publisher = None
