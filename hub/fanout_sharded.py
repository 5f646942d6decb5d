"""Fan-out between hub nodes over a Redis Cluster: one shard channel per room.

The single-channel link (``hub.fanout``) publishes every emit on one channel: every node receives
and decodes every other node's emits, and one Redis carries them all. Here an emit to a room is
published with ``SPUBLISH`` on the room's own channel (derived from its namespace and name), and
a node subscribes (``SSUBSCRIBE``) only to the channels of rooms that hold one of its sockets:

- a room's channel is wanted when the room gets its first socket on this node and dropped after
  its last one leaves (python-socketio's room table, ``hub.rooms``); ``hub.shard_subscriptions``
  sends the changes in batches, off the emit path. Every socket's own room (its sid) is a room
  like the others, so whatever python-socketio addresses to one socket on another node (an emit,
  a ``disconnect``, an ``enter_room``/``leave_room``) reaches the node that holds it, and only
  that node. An emit to a socket held here never leaves the node.
- an emit to several rooms at once goes on each room's channel, and a node that receives it on
  several channels handles it once.
- an emit to a whole namespace goes on the namespace's channel, which every node with a socket
  in that namespace subscribes to; ``skip_sid`` is applied by the receiving nodes as before.
- an acknowledgement crossing nodes (``callback``) goes on the channel of the node that asked
  for it (each node listens to its own).
- entering a room waits (at most ``CONFIRM_SECONDS``) until the shard confirmed its channel, so
  a client that syncs right after connecting cannot miss what was emitted in between.

The robustness of the single-channel link is kept (``hub.fanout.LinkHealth``): a publish waits at
most ``PUBLISH_TIMEOUT_SECONDS``, a broken shard connection is replaced within
``RETRY_CAP_SECONDS``, and once every channel is subscribed again the sockets are told to
``sync`` (this node's after it missed messages, every node's after its publishes were dropped).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError
from socketio.async_pubsub_manager import AsyncPubSubManager

from hub import jsoncodec
from hub.fanout import (
    CONNECT_TIMEOUT_SECONDS,
    PUBLISH_TIMEOUT_SECONDS,
    RETRY_CAP_SECONDS,
    RETRY_FIRST_SECONDS,
    LinkHealth,
    Restored,
)
from hub.rooms import DirectEmit, IndexedRooms, Room
from hub.shard_subscriptions import ShardSubscriptions

log = logging.getLogger(__name__)

CONFIRM_SECONDS = PUBLISH_TIMEOUT_SECONDS  # entering a room waits this long for its subscription
HANDLED_IDS = 4096  # emits to several rooms remembered, so that each is handled once per node
RECEIVED_QUEUE = 10_000  # messages read from the shards, not yet handled; then reading waits


# DirectEmit after the pub/sub manager, as in ``hub.fanout.FanoutLink``: local delivery is its.
class ShardedFanoutLink(IndexedRooms, LinkHealth, AsyncPubSubManager, DirectEmit):  # type: ignore[misc]
    def __init__(self, url: str, prefix: str, on_restored: Restored) -> None:
        # jsoncodec: every emit is encoded for Redis, and decoded by each node that holds the room.
        super().__init__(channel=prefix, on_restored=on_restored, json=jsoncodec)
        self.cluster: RedisCluster = RedisCluster.from_url(
            url, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS
        )
        self._messages: asyncio.Queue[bytes] = asyncio.Queue(RECEIVED_QUEUE)
        self.subscriptions = ShardSubscriptions(self.cluster, self._messages.put, self._lost, self._whole)
        # Every message this node publishes ends with its host id (python-socketio puts it last):
        # its own messages coming back from a room's channel are dropped before decoding.
        self._own_tail = b""
        self._handled: OrderedDict[str, None] = OrderedDict()  # ids of emits to several rooms
        # shards (node names, "" when not known) whose last publish failed -> a channel it refused
        self._failing: dict[str, str] = {}
        self._probe: asyncio.Task[None] | None = None

    def room_channel(self, namespace: str, room: Room) -> str:
        """The shard channel of a room (``None``: the namespace's room of every socket)."""
        return str(self.channel) + json.dumps([namespace, room], ensure_ascii=False, separators=(",", ":"))

    def host_channel(self, host_id: str) -> str:
        """Where acknowledgements for the node ``host_id`` are sent."""
        return str(self.channel) + json.dumps(["host", host_id], separators=(",", ":"))

    # Room bookkeeping: a room's first socket here wants its channel, its last one drops it.

    # A socket's own room (its sid) has no table of its own (``hub.rooms``): its one member
    # entering and leaving is the room's first and last.

    def basic_enter_room(self, sid: str, namespace: str, room: Room, eio_sid: str | None = None) -> None:
        new = room == sid or room not in self.rooms.get(namespace, {})
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        if new:
            self.subscriptions.want(self.room_channel(namespace, room))

    def basic_leave_room(self, sid: str, namespace: str, room: Room) -> None:
        held = room in self._rooms_of.get(namespace, {}).get(sid, ())
        super().basic_leave_room(sid, namespace, room)
        if held and (room == sid or room not in self.rooms.get(namespace, {})):
            self.subscriptions.drop(self.room_channel(namespace, room))

    async def enter_room(self, sid: str, namespace: str, room: Room, eio_sid: str | None = None) -> None:
        await super().enter_room(sid, namespace, room, eio_sid=eio_sid)
        channel = self.room_channel(namespace or "/", room)
        if channel in self.subscriptions.wanted and not await self.subscriptions.confirmed(
            channel, CONFIRM_SECONDS
        ):
            # Not confirmed in time (a shard is restarting): emits to the room may be missed until
            # it is, so the sockets are told to sync once every channel is back.
            self.subscriptions.mark_lost(TimeoutError(f"no confirmation of {channel!r}"))

    # Publishing.

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str | None = None,
        room: Room = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Room = None,
        **kwargs: Any,
    ) -> Any:
        room = to or room
        queued = not kwargs.get("ignore_queue")
        if queued and isinstance(room, str) and self.is_sid_room(namespace or "/", room):
            # A socket of this node: no other node has anything to do with it.
            kwargs["ignore_queue"] = True
        elif queued and callback is not None:
            await self._listening()  # the acknowledgement comes back on this node's channel
        return await super().emit(
            event, data, namespace=namespace or "/", room=room, skip_sid=skip_sid, callback=callback, **kwargs
        )

    async def _publish(self, data: dict[str, Any]) -> Any:
        channels = self._channels_of(data)
        if len(channels) > 1:
            # An emit to several rooms goes on each room's channel; a node holding sockets in
            # several of them handles it once (``_handle_emit``). The id goes first, so that the
            # host id stays last (``_own_tail``).
            data = {"id": uuid.uuid4().hex, **data}
        message = self.json.dumps(data)
        received = 0
        channel = channels[0]
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT_SECONDS):
                for channel in channels:
                    received += await self.cluster.spublish(channel, message)
                    self._failing.pop(self._shard_of(channel), None)
        except (TimeoutError, OSError, RedisError, RedisClusterException) as exc:
            # RedisClusterException: no shard owns the slot (a cluster being resharded, or down)
            self._failing[self._shard_of(channel)] = channel
            self._publish_failed(exc)
            self._probe_failing()
            return None
        self._failing.pop("", None)
        if not self._failing:
            # Every shard that refused a publish has taken one since: the others may be told.
            # (One shard answering says nothing of another: announcing then would have every
            # socket sync again each time a publish to a shard still down fails.)
            self._published()
        return received

    def _probe_failing(self) -> None:
        """Ask the shards that refused a publish until each answers again, then announce.

        Without it, a node whose publishes to a shard were dropped would announce only at its
        next publish to that shard, which may never come: the nodes that missed those emits but
        kept their subscriptions would not be told to sync."""
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(self._probe_until_answered(), name="fanout-shard-probe")

    async def _probe_until_answered(self) -> None:
        delay = RETRY_FIRST_SECONDS
        stale_map = False  # a command that failed on a shard leaves its slots out of the client's map
        while self._failing:
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_CAP_SECONDS)
            for name, channel in list(self._failing.items()):
                try:
                    async with asyncio.timeout(PUBLISH_TIMEOUT_SECONDS):
                        if stale_map:
                            await self.cluster.nodes_manager.initialize()
                            stale_map = False
                        # the shard owning the channel now, which a failover may have changed
                        owner = self.cluster.get_node_from_key(channel)
                        await self.cluster.execute_command("PING", target_nodes=owner)
                except (TimeoutError, OSError, RedisError, RedisClusterException):
                    stale_map = True
                    continue
                self._failing.pop(name, None)
        self._published()  # announces, unless nothing was missed or a resubscription will

    def _shard_of(self, channel: str) -> str:
        try:
            node = self.cluster.get_node_from_key(channel)
        except RedisClusterException:
            node = None
        return "" if node is None else str(node.name)  # "": not known, cleared by any success

    def _channels_of(self, data: dict[str, Any]) -> list[str]:
        method, namespace = data["method"], data.get("namespace") or "/"
        if method == "callback":
            return [self.host_channel(data["host_id"])]
        if method in ("emit", "close_room"):
            room = data.get("room")
            if room is not None and not isinstance(room, str):  # several rooms at once
                return [self.room_channel(namespace, r) for r in dict.fromkeys(room)]
            return [self.room_channel(namespace, room)]
        # disconnect, enter_room, leave_room: about one socket, on its node
        return [self.room_channel(namespace, data["sid"])]

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        key = message.get("id")
        if key is not None:
            if key in self._handled:
                return
            self._handled[key] = None
            while len(self._handled) > HANDLED_IDS:
                self._handled.popitem(last=False)
        await super()._handle_emit(message)

    # Listening.

    def initialize(self) -> None:
        """Called by python-socketio on its first connection (or by ``_listening``)."""
        super().initialize()
        self._own_tail = self.json.dumps({"host_id": self.host_id})[1:].encode()
        self.subscriptions.want(self.host_channel(self.host_id))
        self.subscriptions.start()

    async def _listening(self) -> None:
        """Listen from now on even if no socket ever connected here, and wait (bounded) until this
        node's own channel is subscribed."""
        if not self.server.manager_initialized:
            self.server.manager_initialized = True
            self.initialize()
        await self.subscriptions.confirmed(self.host_channel(self.host_id), CONFIRM_SECONDS)

    async def _listen(self) -> AsyncIterator[bytes]:
        while True:
            message = await self._messages.get()
            if not message.endswith(self._own_tail):
                yield message

    def _lost(self, exc: BaseException) -> None:
        if not self.deaf:
            log.warning("fan-out: lost a Redis Cluster shard subscription (%r); resubscribing", exc)
        self.deaf = True

    async def _whole(self) -> None:
        if self.deaf or self.mute:
            self._failing.clear()  # what is announced now covers those shards' dropped publishes
            await self._restored()

    async def close(self) -> None:
        """Stop listening and close every connection (python-socketio has no close for this)."""
        probe, self._probe = self._probe, None
        if probe is not None:
            probe.cancel()
            await asyncio.gather(probe, return_exceptions=True)
        listener = getattr(self, "thread", None)
        if isinstance(listener, asyncio.Task):
            listener.cancel()
            await asyncio.wait([listener], timeout=2.0)
        await self.subscriptions.close()
        await self.cluster.aclose()
