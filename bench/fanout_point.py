"""One measured point of the fan-out model (``fanout_model.py``) on real Redis: a Redis of its own
with one channel, and a three-shard Redis Cluster of its own with one shard channel per room.

``nodes`` listeners stand for hub nodes: on the cluster each is the hub's own subscriber
(``hub.shard_subscriptions.ShardSubscriptions``) holding the channels its sockets' rooms would
(each socket's, each of its people's, the namespace's, the agents' room, its own); on the single
Redis each is a plain subscriber to the one channel. The traffic is the model's for the given
number of seconds, published as python-socketio publishes emits, from the node of the person who
causes each one. Each listener counts what it receives and what it decodes (a node drops its own
messages unread by their last bytes on the cluster; on one channel it decodes everything, as
python-socketio does). Redis's side is read from ``INFO``: commands taken, CPU used.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from fanout_model import Traffic
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster as ClusterClient

from hub.shard_subscriptions import ShardSubscriptions
from tests.support.redis_cluster import RedisCluster
from tests.support.redis_server import RedisServer

PREFIX = "bench-fanout"
PAYLOAD = {"conversation_id": "c" * 36, "seq": 1234, "kind": "text", "body": "x" * 160, "sender_id": "s" * 12}
SEED = 20261202
CONCURRENCY = 50  # publishes in flight at once (redis-py pools allow 100 connections)


@dataclass
class Listener:
    host: str
    drops_own: bool  # by the last bytes, unread (the sharded link); python-socketio decodes first
    received: int = 0
    decoded: int = 0
    tail: bytes = field(init=False)

    def __post_init__(self) -> None:
        self.tail = json.dumps({"host_id": self.host})[1:].encode()

    async def heard(self, message: bytes) -> None:
        self.hear(message)

    def hear(self, message: bytes) -> None:
        self.received += 1
        if self.drops_own and message.endswith(self.tail):
            return
        json.loads(message)
        self.decoded += 1


@dataclass
class Publish:
    node: int
    room: str | None  # None: the namespace
    sid_only: bool = False  # addressed to a socket of the publishing node


def traffic(nodes: int, sockets: int, seconds: float, t: Traffic) -> list[Publish]:
    """The model's traffic for ``seconds`` over the sockets (one per person, socket p on node
    p % nodes), the pairs chatting drawn from a seeded generator: the same plan every run."""
    out: list[Publish] = []
    rng = random.Random(SEED)
    chats = round(sockets * t.chat_per_socket * seconds)
    for _ in range(chats):
        sender, reader = rng.sample(range(sockets), 2)
        for person, node_of in ((sender, sender), (reader, sender), (reader, reader), (sender, reader)):
            out.append(Publish(node_of % nodes, f"user:{person}"))  # message x2, receipt x2
        out.append(Publish(sender % nodes, f"user:{reader}"))  # typing
    for n in range(round(sockets * t.reconnects_per_socket * seconds)):
        for _ in range(t.sid_emits_per_reconnect):
            out.append(Publish(n % nodes, f"sid:{n % sockets}", sid_only=True))
    for n in range(round(sockets * t.presence_changes_per_socket * seconds)):
        out.append(Publish(n % nodes, "agents"))
    for n in range(round(t.broadcasts * t.namespaces * seconds)):
        out.append(Publish(n % nodes, None))
    return out


def message(publish: Publish, host: str) -> str:
    return json.dumps(
        {
            "method": "emit",
            "event": "chat:message",
            "data": [PAYLOAD],
            "binary": False,
            "namespace": "/customer",
            "room": publish.room,
            "skip_sid": None,
            "callback": None,
            "host_id": host,
        }
    )


def room_channel(room: str | None) -> str:
    return PREFIX + json.dumps(["/customer", room], separators=(",", ":"))


async def _bounded(calls: list[Any]) -> None:
    for start in range(0, len(calls), CONCURRENCY):
        await asyncio.gather(*calls[start : start + CONCURRENCY])


async def _until(check: Any, within: float) -> bool:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def _redis_info(client: Any) -> tuple[int, float]:
    """(publish commands taken, CPU seconds used) of one Redis process."""
    stats = client.info("commandstats")
    calls = sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("publish", "spublish"))
    cpu = client.info("cpu")
    return calls, float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


async def single_channel(directory: Path, nodes: int, plan: list[Publish]) -> dict[str, Any]:
    server = RedisServer(directory)
    await server.start()
    listeners = [Listener(f"node{i}", drops_own=False) for i in range(nodes)]
    clients: list[Redis] = []
    readers: list[asyncio.Task[None]] = []
    try:
        for listener in listeners:
            client = Redis.from_url(server.url)
            clients.append(client)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            await pubsub.subscribe(PREFIX)
            readers.append(asyncio.create_task(_read_pubsub(pubsub, listener)))
        publisher = Redis.from_url(server.url)
        clients.append(publisher)
        sync = redis.Redis(port=server.port)
        before = _redis_info(sync)
        await _bounded([publisher.publish(PREFIX, message(p, f"node{p.node}")) for p in plan])
        complete = await _until(lambda: all(x.received >= len(plan) for x in listeners), 60)
        after = _redis_info(sync)
        sync.close()
        return _result(listeners, [(before, after)], complete, subscriptions=[1] * nodes)
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        for client in clients:
            await client.aclose()
        await server.kill()


async def _read_pubsub(pubsub: Any, listener: Listener) -> None:
    async for item in pubsub.listen():
        if item["type"] == "message":
            listener.hear(item["data"])


async def sharded(
    directory: Path, nodes: int, sockets: int, plan: list[Publish], t: Traffic
) -> dict[str, Any]:
    cluster = RedisCluster(directory)
    cluster.start()
    listeners = [Listener(f"node{i}", drops_own=True) for i in range(nodes)]
    subscribers: list[ShardSubscriptions] = []
    clients: list[ClusterClient] = []

    async def nothing() -> None:
        return None

    try:
        for i, listener in enumerate(listeners):
            client = ClusterClient.from_url(cluster.url)
            clients.append(client)
            subs = ShardSubscriptions(client, listener.heard, lambda exc: None, nothing)
            subscribers.append(subs)
            owned = [p for p in range(sockets) if p % nodes == i]
            for person in owned:
                subs.want(room_channel(f"sid:{person}"))
                subs.want(room_channel(f"user:{person}"))
            subs.want(room_channel(None))
            subs.want(room_channel("agents"))  # every node holds agents (one per 50 sockets)
            subs.want(PREFIX + json.dumps(["host", listener.host]))
            subs.start()
        for subs in subscribers:
            assert await _until(subs.all_confirmed, 60), "the listeners were not subscribed within 60 s"
        publisher = ClusterClient.from_url(cluster.url)
        clients.append(publisher)
        shard_clients = [shard.client() for shard in cluster.shards]
        before = [_redis_info(c) for c in shard_clients]
        published = [p for p in plan if not p.sid_only]  # a socket of this node: never published
        await _bounded(
            [publisher.spublish(room_channel(p.room), message(p, f"node{p.node}")) for p in published]
        )
        expected = _expected_deliveries(nodes, published)
        complete = await _until(
            lambda: all(x.received >= e for x, e in zip(listeners, expected, strict=True)), 60
        )
        after = [_redis_info(c) for c in shard_clients]
        for c in shard_clients:
            c.close()
        return _result(
            listeners,
            list(zip(before, after, strict=True)),
            complete,
            subscriptions=[len(s.wanted) for s in subscribers],
        )
    finally:
        for subs in subscribers:
            await subs.close()
        for client in clients:
            await client.aclose()
        cluster.stop()


def _expected_deliveries(nodes: int, published: list[Publish]) -> list[int]:
    counts = [0] * nodes
    for p in published:
        if p.room is None or p.room == "agents":
            for i in range(nodes):
                counts[i] += 1
        else:
            counts[int(p.room.split(":")[1]) % nodes] += 1
    return counts


def _result(
    listeners: list[Listener], redis: list[tuple[tuple[int, float], tuple[int, float]]], complete: bool,
    subscriptions: list[int],
) -> dict[str, Any]:  # fmt: skip
    return {
        "complete": complete,
        "received": [x.received for x in listeners],
        "decoded": [x.decoded for x in listeners],
        "subscriptions": subscriptions,
        "redis_publishes": [after[0] - before[0] for before, after in redis],
        "redis_cpu_seconds": [round(after[1] - before[1], 3) for before, after in redis],
    }
