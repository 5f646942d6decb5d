"""The shard channels one node listens to on a Redis Cluster, each on the shard that owns it.

Redis's sharded pub/sub (``SSUBSCRIBE``, Redis 7) delivers a message published on a channel only
to the clients subscribed on the shard that owns the channel's slot, so a subscriber needs a
connection to every shard it has channels on, and must follow slots that move. redis-py 8.1's
asyncio ``ClusterPubSub`` does route ``SSUBSCRIBE`` by slot and reconciles after a topology
refresh, but it reconnects inside its own calls: nothing tells its user that a connection broke
and messages were missed in between, which is exactly what the hub must know to tell its sockets
to ``sync``. So this module keeps one plain connection per shard itself:

- ``want``/``drop`` only mark a channel (called from python-socketio's room bookkeeping, which is
  synchronous); one task sends the changes, each shard's in one write, one ``SSUBSCRIBE`` or
  ``SUNSUBSCRIBE`` per channel (a command may only name channels of one slot).
- A connection that fails (the shard restarted), an error reply (``-MOVED``: the slot moved
  before the command reached it) and a ``sunsubscribe`` nobody asked for (Redis unsubscribes the
  clients of a slot that migrates away) all count as a break: the connection is dropped, the slot
  map is read again from the cluster, and its channels are subscribed again wherever they live
  now, retrying with a capped backoff.
- ``on_lost`` is called at the first break, ``on_whole`` once every wanted channel is confirmed by
  its shard again.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import Connection

CONNECT_TIMEOUT_SECONDS = 1.0
RETRY_FIRST_SECONDS = 0.1  # after a break, the backoff before trying again, doubling up to the cap
RETRY_CAP_SECONDS = 2.0


class _ShardLink:
    """One connection to one shard, in subscriber mode, and what was asked of it."""

    def __init__(self, node: ClusterNode, connection: Connection) -> None:
        self.node = node
        self.connection = connection
        self.channels: set[str] = set()  # SSUBSCRIBE sent, not SUNSUBSCRIBE
        self.leaving: Counter[str] = Counter()  # SUNSUBSCRIBE sent, confirmation not yet read
        # SSUBSCRIBE sent, confirmation not yet read (a count: subscribed, dropped and subscribed
        # again before the first answer, a channel is confirmed by the last answer only)
        self.unconfirmed: Counter[str] = Counter()
        self.reader: asyncio.Task[None] | None = None


class ShardSubscriptions:
    def __init__(
        self,
        cluster: RedisCluster,
        on_message: Callable[[bytes], Awaitable[None]],
        on_lost: Callable[[BaseException], None],
        on_whole: Callable[[], Awaitable[None]],
    ) -> None:
        self._cluster = cluster
        self._on_message = on_message
        self._on_lost = on_lost
        self._on_whole = on_whole
        self.wanted: set[str] = set()
        self._dirty: set[str] = set()  # channels whose wish changed since they were last sent
        self._links: dict[str, _ShardLink] = {}  # node name -> link
        self._where: dict[str, _ShardLink] = {}  # channel -> the link it was subscribed on
        self._live: set[str] = set()  # channels their shard confirmed
        self._waiters: dict[str, list[asyncio.Future[None]]] = defaultdict(list)
        self._wake = asyncio.Event()
        self._broken = False  # a break not yet repaired: on_whole is due once everything is back
        self._stale_map = False
        self._task: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Future[None]] = set()

    def want(self, channel: str) -> None:
        self.wanted.add(channel)
        self._changed(channel)

    def drop(self, channel: str) -> None:
        self.wanted.discard(channel)
        self._changed(channel)

    def mark_lost(self, reason: BaseException) -> None:
        """Something may have been missed (a subscription not confirmed in time): once everything
        is confirmed, ``on_whole`` is called as after a break."""
        self._broken = True
        self._on_lost(reason)
        self._wake.set()

    async def confirmed(self, channel: str, within: float) -> bool:
        """Whether the shard confirmed ``channel`` (waiting at most ``within`` seconds)."""
        if channel in self._live or channel not in self.wanted:
            return True
        waiter = asyncio.get_running_loop().create_future()
        self._waiters[channel].append(waiter)
        try:
            async with asyncio.timeout(within):
                await waiter
            return True
        except TimeoutError:
            return False
        finally:
            waiters = self._waiters.get(channel)
            if waiters is not None and waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    del self._waiters[channel]

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="fanout-shard-subscriptions")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        for link in list(self._links.values()):
            await self._close_link(link)
        await asyncio.gather(*self._closing, return_exceptions=True)

    def _changed(self, channel: str) -> None:
        self._dirty.add(channel)
        self._wake.set()

    async def _run(self) -> None:
        delay = RETRY_FIRST_SECONDS
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._send_changes()
                delay = RETRY_FIRST_SECONDS
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._break(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_CAP_SECONDS)
                self._wake.set()
                continue
            if self._broken and not self._dirty and not self._stale_map and self.all_confirmed():
                self._broken = False
                await self._on_whole()

    async def _send_changes(self) -> None:
        """Send what changed, each shard's commands in one write. A channel whose shard cannot be
        reached stays dirty for the next round (after a backoff); the others go now."""
        async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS * 2):
            await self._cluster.initialize()  # reads the slot map once; a no-op afterwards
            if self._stale_map:
                await self._cluster.nodes_manager.initialize()  # read it again
        self._stale_map = False
        dirty, self._dirty = self._dirty, set()
        commands: dict[str, list[tuple[str, ...]]] = defaultdict(list)
        unreachable: dict[str, BaseException] = {}  # node name -> why, tried once per round
        failure: BaseException | None = None
        for channel in dirty:
            link = self._where.get(channel)
            if channel in self.wanted and link is None:
                try:
                    node = self._owner(channel)
                    if node.name in unreachable:
                        raise unreachable[node.name]
                    try:
                        link = await self._link(node)
                    except Exception as exc:
                        unreachable[node.name] = exc
                        raise
                except Exception as exc:  # also SlotNotCoveredError, which is no RedisError
                    self._dirty.add(channel)
                    self._stale_map = True
                    failure = failure or exc
                    continue
                link.channels.add(channel)
                link.unconfirmed[channel] += 1
                self._where[channel] = link
                commands[link.node.name].append(("SSUBSCRIBE", channel))
            elif channel not in self.wanted and link is not None:
                del self._where[channel]
                self._live.discard(channel)
                link.channels.discard(channel)
                link.leaving[channel] += 1
                commands[link.node.name].append(("SUNSUBSCRIBE", channel))
        for name, batch in commands.items():
            link = self._links.get(name)
            if link is None:
                continue  # broke meanwhile; its channels are dirty again
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
                    await link.connection.send_packed_command(link.connection.pack_commands(batch))
            except Exception as exc:
                self._lose_link(link, exc)
                failure = failure or exc
        if failure is not None:
            raise failure

    def _owner(self, channel: str) -> ClusterNode:
        node = self._cluster.get_node_from_key(channel)
        if node is None:  # only asked for replicas; here for the record
            raise ConnectionError(f"no shard owns {channel!r}")
        return node

    async def _link(self, node: ClusterNode) -> _ShardLink:
        link = self._links.get(node.name)
        if link is not None:
            return link
        options = {**node.connection_kwargs, "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS}
        connection = node.connection_class(**{**options, "socket_timeout": None})
        async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS * 2):
            await connection.connect()  # type: ignore[no-untyped-call]
        link = self._links[node.name] = _ShardLink(node, connection)
        link.reader = asyncio.create_task(self._read(link), name=f"fanout-shard-{node.name}")
        return link

    async def _read(self, link: _ShardLink) -> None:
        try:
            while True:
                # push_request: under RESP3 (redis-py's default) what a subscription receives comes
                # as pushes, which read_response would otherwise hand to a push handler.
                reply = await link.connection.read_response(timeout=math.inf, push_request=True)
                if isinstance(reply, list) and len(reply) >= 3 and reply[0] == b"smessage":
                    # Awaited: a node that cannot keep up stops reading, and Redis drops it once
                    # its output buffer is full (a break, repaired like any other).
                    await self._on_message(reply[2])
                else:
                    self._handle(link, reply)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._lose_link(link, exc)
            self._wake.set()

    def _handle(self, link: _ShardLink, reply: Any) -> None:
        if not isinstance(reply, list) or len(reply) < 3:
            return
        kind, raw_channel = reply[0], reply[1]
        channel = raw_channel.decode() if isinstance(raw_channel, bytes) else str(raw_channel)
        if kind == b"ssubscribe":
            left = link.unconfirmed[channel] - 1
            if left > 0:
                link.unconfirmed[channel] = left
            else:
                link.unconfirmed.pop(channel, None)
                if channel in link.channels:
                    self._live.add(channel)
                    for waiter in self._waiters.pop(channel, ()):
                        if not waiter.done():
                            waiter.set_result(None)
            if self._broken:
                self._wake.set()  # perhaps the last confirmation a repair waited for
        elif kind == b"sunsubscribe":
            if link.leaving[channel] > 0:
                link.leaving[channel] -= 1
                if not link.leaving[channel]:
                    del link.leaving[channel]
            elif channel in link.channels:
                # Not asked for: the slot moved to another shard (resharding or failover).
                self._stale_map = True
                link.channels.discard(channel)
                link.unconfirmed.pop(channel, None)
                self._live.discard(channel)
                if self._where.get(channel) is link:
                    del self._where[channel]
                moved = ConnectionError(f"shard {link.node.name} gave up {channel!r} (its slot moved)")
                self._break(moved)
                self._changed(channel)

    def _lose_link(self, link: _ShardLink, exc: BaseException) -> None:
        if self._links.get(link.node.name) is not link:
            return
        del self._links[link.node.name]
        for channel in link.channels:
            if self._where.get(channel) is link:
                del self._where[channel]
            self._live.discard(channel)
            self._dirty.add(channel)
        link.channels.clear()
        self._stale_map = True  # the shard may be gone or its slots elsewhere now
        self._break(exc)
        task = asyncio.ensure_future(self._close_link(link))
        self._closing.add(task)  # a reference, so the task is not collected mid-way
        task.add_done_callback(self._closing.discard)

    def _break(self, exc: BaseException) -> None:
        self._broken = True
        self._on_lost(exc)

    def all_confirmed(self) -> bool:
        """Every wanted channel is subscribed, confirmed by its shard."""
        return self.wanted <= self._live and all(not link.unconfirmed for link in self._links.values())

    async def _close_link(self, link: _ShardLink) -> None:
        reader = link.reader
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        with contextlib.suppress(Exception):
            await link.connection.disconnect()
