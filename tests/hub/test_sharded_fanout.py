"""Two hub processes on a three-shard Redis Cluster (``HUB_REDIS_MODE=cluster``): chat and presence
cross the nodes over sharded pub/sub, each node subscribes to the channels of its sockets' rooms
only and lets them go after the last socket leaves, a namespace broadcast reaches both nodes, and
a shard that restarts empty ends with the sockets told to sync and chat working again."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster as ClusterClient

from hub.fanout_sharded import ShardedFanoutLink
from hub.keys import CONTEXT, SIO
from hub.presence.redis import RedisPresenceTracker
from tests.support.clients import Peer
from tests.support.hubs import StartHub
from tests.support.processes import HubProcess
from tests.support.redis_cluster import RedisCluster
from tests.support.services import free_port
from tests.support.waiting import WAIT, wait_until

MISSED = 3


class Nodes:
    def __init__(self, cluster: RedisCluster, run: str, a: HubProcess, b: HubProcess) -> None:
        self.cluster, self.prefix, self.a, self.b = cluster, f"hub-test-{run}", a, b

    def channel(self, namespace: str, room: str | None) -> str:
        """The shard channel of a room, as ``hub.fanout_sharded`` names it."""
        return self.prefix + json.dumps([namespace, room], separators=(",", ":"))

    def rooms_subscribed(self) -> dict[str, int]:
        """Every room channel of this test on any shard (not the nodes' own), with its subscribers."""
        names = {
            name
            for channels in self.cluster.shard_channels().values()
            for name in channels
            if name.startswith(self.prefix) and not name.startswith(self.prefix + '["host"')
        }
        return {name: self.cluster.subscribers(name) for name in names}


def cluster_env(redis_cluster: RedisCluster) -> dict[str, str]:
    """A hub on the test cluster, with a channel prefix and presence keys of its run's own."""
    run = uuid.uuid4().hex[:8]
    return {
        "HUB_REDIS_URL": redis_cluster.url,
        "HUB_REDIS_MODE": "cluster",
        "HUB_REDIS_CHANNEL": f"hub-test-{run}",
        "HUB_PRESENCE_KEY_PREFIX": f"hub-test-{run}:presence:",
    }


@pytest.fixture
async def nodes(
    processes: list[HubProcess], hub_env: dict[str, str], redis_cluster: RedisCluster, tmp_path: Path
) -> AsyncIterator[Nodes]:
    env = {**hub_env, **cluster_env(redis_cluster)}
    run = env["HUB_REDIS_CHANNEL"].removeprefix("hub-test-")
    node_a = HubProcess(env, free_port(), tmp_path / "a.log")
    node_b = HubProcess(env, free_port(), tmp_path / "b.log")
    processes.extend([node_a, node_b])
    await node_a.ready()
    await node_b.ready()
    yield Nodes(redis_cluster, run, node_a, node_b)
    # The cluster outlives the test: its keys go (the channels went with the nodes' connections).
    client = ClusterClient.from_url(redis_cluster.url)
    try:
        for key in [key async for key in client.scan_iter(match=f"hub-test-{run}:*")]:
            await client.delete(key)
    finally:
        await client.aclose()


async def test_chat_presence_and_subscriptions_across_two_nodes(nodes: Nodes, peers: list[Peer]) -> None:
    a, b = nodes.a, nodes.b
    agent = await Peer("/support").connect(b.url, b.token("support", "a-1"))
    customer = await Peer("/customer").connect(a.url, a.token("customer", "c-1"))
    peers += [agent, customer]

    # Presence across nodes: the customer's node sees the agent on the other one and assigns.
    assert (await customer.ok("support:availability"))["online_agents"] == 1
    opened = await customer.ok("support:open")
    conv = opened["conversation"]["id"]
    assert opened["conversation"]["assigned_agent_id"] == "a-1"

    # Chat both ways.
    sent = await customer.ok("chat:send", {"conversation_id": conv, "client_id": "1", "body": "from A"})
    got = await agent.next_where("chat:message", lambda m: m.get("client_id") == "1")
    assert (got["body"], got["seq"]) == ("from A", sent["seq"])
    reply = await agent.ok("chat:send", {"conversation_id": conv, "client_id": "2", "body": "from B"})
    answer = await customer.next_where("chat:message", lambda m: m.get("client_id") == "2")
    assert (answer["body"], answer["seq"]) == ("from B", reply["seq"])

    # Each node holds the channels of its own sockets' rooms, and nothing else: the namespace,
    # the socket's own room, the person's room (and the agents' room on /support).
    customer_sid = customer.client.get_sid("/customer")
    agent_sid = agent.client.get_sid("/support")
    assert customer_sid
    assert agent_sid
    on_a = {
        nodes.channel("/customer", None),
        nodes.channel("/customer", customer_sid),
        nodes.channel("/customer", "user:customer:c-1"),
    }
    on_b = {
        nodes.channel("/support", None),
        nodes.channel("/support", agent_sid),
        nodes.channel("/support", "user:support:a-1"),
        nodes.channel("/support", "agents"),
    }
    assert nodes.rooms_subscribed() == dict.fromkeys(on_a | on_b, 1)

    # A second customer on B: B now listens on /customer too, so both nodes have that channel.
    other = await Peer("/customer").connect(b.url, b.token("customer", "c-2"))
    peers.append(other)
    other_sid = other.client.get_sid("/customer")
    assert other_sid
    with_other = {
        **dict.fromkeys(on_a | on_b, 1),
        nodes.channel("/customer", None): 2,
        nodes.channel("/customer", other_sid): 1,
        nodes.channel("/customer", "user:customer:c-2"): 1,
    }
    await wait_until(lambda: nodes.rooms_subscribed() == with_other)

    # A broadcast to the namespace (published as python-socketio's pub/sub managers do) reaches
    # the sockets of both nodes.
    notice = {"reason": "fanout_interrupted", "message": "broadcast"}
    message = {
        "method": "emit", "event": "sync:required", "data": [notice], "binary": False,
        "namespace": "/customer", "room": None, "skip_sid": None, "callback": None, "host_id": "test",
    }  # fmt: skip
    publisher = ClusterClient.from_url(nodes.cluster.url)
    try:
        assert await publisher.spublish(nodes.channel("/customer", None), json.dumps(message)) == 2
    finally:
        await publisher.aclose()
    assert await customer.next("sync:required") == notice
    assert await other.next("sync:required") == notice

    # Its last socket of a room gone, B lets the room's channels go (the namespace's stays A's).
    await other.close()
    await wait_until(lambda: nodes.rooms_subscribed() == dict.fromkeys(on_a | on_b, 1))

    # Presence of a socket on A, seen from B.
    worker = await Peer("/worker").connect(a.url, a.token("worker", "w-1"))
    peers.append(worker)
    online = await agent.next_where("presence:changed", lambda c: c["user_id"] == "w-1")
    assert online["status"] == "online"
    board = await agent.ok("presence:snapshot")
    assert {w["user_id"]: w["status"] for w in board["workers"]} == {"w-1": "online"}


async def test_a_shard_restart_ends_with_sockets_told_to_sync(nodes: Nodes, peers: list[Peer]) -> None:
    a, b = nodes.a, nodes.b
    agent = await Peer("/support").connect(b.url, b.token("support", "a-1"))
    customer = await Peer("/customer").connect(a.url, a.token("customer", "c-1"))
    peers += [agent, customer]
    conv = (await customer.ok("support:open"))["conversation"]["id"]
    before = await customer.ok("chat:send", {"conversation_id": conv, "client_id": "b", "body": "hi"})
    seen = await agent.next_where("chat:message", lambda m: m.get("client_id") == "b")
    assert seen["seq"] == before["seq"]

    # The shard that carries the agent's room restarts empty, with its slots.
    room = nodes.channel("/support", "user:support:a-1")
    shard = next(s for s in nodes.cluster.shards if room in nodes.cluster.shard_channels()[s.port])
    shard.kill()
    sent = [
        await customer.ok("chat:send", {"conversation_id": conv, "client_id": f"m{n}", "body": f"{n}"})
        for n in range(MISSED)
    ]
    shard.start()
    nodes.cluster.wait_ok()

    for peer in (agent, customer):
        notice = await peer.next("sync:required")
        assert notice["reason"] == "fanout_interrupted"
    synced = await agent.ok("sync", {"conversations": {conv: seen["seq"]}})
    got = synced["conversations"][conv]["messages"]
    assert [m["client_id"] for m in got] == [f"m{n}" for n in range(MISSED)]
    assert [m["seq"] for m in got] == [s["seq"] for s in sent]

    # Live again, both ways, and subscribed again on the restarted shard.
    after = await customer.ok("chat:send", {"conversation_id": conv, "client_id": "a1", "body": "back"})
    live = await agent.next_where("chat:message", lambda m: m.get("client_id") == "a1")
    assert live["seq"] == after["seq"]
    answer = await agent.ok("chat:send", {"conversation_id": conv, "client_id": "a2", "body": "ok"})
    live = await customer.next_where("chat:message", lambda m: m.get("client_id") == "a2")
    assert live["seq"] == answer["seq"]
    assert nodes.cluster.subscribers(room) == 1


async def test_a_node_whose_publishes_were_refused_announces_once_the_shard_answers(
    start_hub: StartHub, redis_cluster: RedisCluster
) -> None:
    """A node that lost no subscription, only publishes (its emits to a room on a shard that was
    down), tells every node's sockets to sync once that shard answers again, without waiting for
    its next emit to that room, which may never come."""
    env = cluster_env(redis_cluster)
    prefix = env["HUB_REDIS_CHANNEL"]
    hub = await start_hub(**env)
    link = hub.app[SIO].manager
    assert isinstance(link, ShardedFanoutLink)

    def channel(room: str | None) -> str:
        return prefix + json.dumps(["/support", room], separators=(",", ":"))

    # A room on a shard holding neither the namespace's channel (where the announcement goes)
    # nor any channel of the publishing node: only its publishes can break.
    spared = {redis_cluster.owner(channel(None)), *map(redis_cluster.owner, link.subscriptions.wanted)}
    rooms = (f"room-{n}" for n in range(1000))
    room = next(r for r in rooms if redis_cluster.owner(channel(r)) not in spared)
    down = redis_cluster.owner(channel(room))
    listening = redis_cluster.owner(channel(None))
    listener = Redis(port=listening.port)
    pubsub = listener.pubsub()
    try:
        await pubsub.ssubscribe(channel(None))

        down.kill()
        try:
            await hub.app[SIO].emit("test:lost", {"n": 1}, room=room, namespace="/support")
            assert link.mute
        finally:
            down.start()
            redis_cluster.wait_ok()

        async def announced() -> bool:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            return message is not None and b"sync:required" in message["data"]

        await wait_until(announced)
        assert not link.mute
        assert not link.deaf
    finally:
        await pubsub.aclose()
        await listener.aclose()


async def test_what_python_socketio_sends_to_one_socket_reaches_its_node(
    start_hub: StartHub, redis_cluster: RedisCluster
) -> None:
    """An emit with an acknowledgement, ``enter_room``, ``leave_room`` and ``disconnect`` addressed
    from one node to a socket of the other go on that socket's channel, ``close_room`` on the
    room's; the ack comes back on the asking node's own channel. An emit to two rooms reaches a
    socket in both once. A room whose slot moves to another shard is followed there."""
    env = cluster_env(redis_cluster)
    run = env["HUB_REDIS_CHANNEL"].removeprefix("hub-test-")
    asking, holding = await start_hub(**env), await start_hub(**env)
    client = await holding.connect("/customer", holding.token("customer", "c-1"))
    answered: list[Any] = []
    heard: asyncio.Queue[Any] = asyncio.Queue()

    async def ask(data: Any) -> Any:
        answered.append(data)
        return {"answer": data["question"] * 2}

    client.on("test:ask", ask, namespace="/customer")
    client.on("test:room", heard.put, namespace="/customer")
    sid = client.get_sid("/customer")
    sio = asking.app[SIO]

    reply = await sio.call("test:ask", {"question": 21}, to=sid, namespace="/customer", timeout=WAIT)
    assert reply == {"answer": 42}
    assert answered == [{"question": 21}]

    await sio.enter_room(sid, "room-x", namespace="/customer")
    channel = f"hub-test-{run}" + json.dumps(["/customer", "room-x"], separators=(",", ":"))
    await wait_until(lambda: redis_cluster.subscribers(channel) == 1)
    await sio.emit("test:room", {"n": 1}, room="room-x", namespace="/customer")
    assert await asyncio.wait_for(heard.get(), WAIT) == {"n": 1}

    # An emit to two rooms the socket is in (two channels, most likely on two shards) reaches it
    # once: after a mark sent later on each channel, it has been heard exactly once.
    await sio.enter_room(sid, "room-y", namespace="/customer")
    other = f"hub-test-{run}" + json.dumps(["/customer", "room-y"], separators=(",", ":"))
    await wait_until(lambda: redis_cluster.subscribers(other) == 1)
    await sio.emit("test:room", {"n": "both"}, room=["room-x", "room-y"], namespace="/customer")
    for room in ("room-x", "room-y"):
        await sio.emit("test:room", {"mark": room}, room=room, namespace="/customer")
    got = [await asyncio.wait_for(heard.get(), WAIT) for _ in range(3)]
    assert sorted(map(json.dumps, got)) == sorted(
        map(json.dumps, [{"n": "both"}, {"mark": "room-x"}, {"mark": "room-y"}])
    )
    await sio.leave_room(sid, "room-y", namespace="/customer")
    await wait_until(lambda: redis_cluster.subscribers(other) == 0)

    # The room's slot moves to another shard: the holding node follows it (and has its socket
    # sync, since emits may have been missed meanwhile), and emits reach the room again.
    told: asyncio.Queue[Any] = asyncio.Queue()
    client.on("sync:required", told.put, namespace="/customer")
    home = redis_cluster.owner(channel)
    away = next(s for s in redis_cluster.shards if s is not home)
    redis_cluster.move_slot_of(channel, away)
    assert (await asyncio.wait_for(told.get(), WAIT))["reason"] == "fanout_interrupted"
    assert channel in redis_cluster.shard_channels()[away.port]
    await sio.emit("test:room", {"n": 2}, room="room-x", namespace="/customer")
    assert await asyncio.wait_for(heard.get(), WAIT) == {"n": 2}
    redis_cluster.move_slot_of(channel, home)  # the cluster as the other tests expect it
    assert (await asyncio.wait_for(told.get(), WAIT))["reason"] == "fanout_interrupted"

    # close_room: the holding node empties the room, and lets its channel go.
    await sio.close_room("room-x", namespace="/customer")
    await wait_until(lambda: redis_cluster.subscribers(channel) == 0)

    own = f"hub-test-{run}" + json.dumps(["/customer", sid], separators=(",", ":"))
    assert redis_cluster.subscribers(own) == 1
    await sio.disconnect(sid, namespace="/customer")
    await wait_until(lambda: not client.connected)
    await wait_until(lambda: redis_cluster.subscribers(own) == 0)


async def test_presence_on_a_shard_that_is_down_is_unavailable_until_it_is_back(
    start_hub: StartHub, redis_cluster: RedisCluster, peers: list[Peer]
) -> None:
    run = uuid.uuid4().hex[:8]
    hub = await start_hub(
        HUB_REDIS_URL=redis_cluster.url,
        HUB_REDIS_MODE="cluster",
        HUB_REDIS_CHANNEL=f"hub-test-{run}",
        HUB_PRESENCE_KEY_PREFIX=f"hub-test-{run}:presence:",
    )
    agent = await Peer("/support").connect(hub.url, hub.token("support", "a-1"))
    peers.append(agent)
    tracker = hub.app[CONTEXT].presence
    assert isinstance(tracker, RedisPresenceTracker)
    shard = redis_cluster.owner(tracker._person_key("support:a-1"))  # the shard of a-1's group

    shard.kill()
    try:
        assert await agent.error("presence:set", {"status": "away"}) == "presence_unavailable"
    finally:
        shard.start()
        redis_cluster.wait_ok()

    async def chosen() -> bool:
        ack = await agent.call("presence:set", {"status": "away"})
        return bool(ack["ok"]) and ack["data"]["status"] == "away"

    await wait_until(chosen)
    state = await tracker.get("a-1", "support")
    assert state is not None
    assert state.status == "away"
