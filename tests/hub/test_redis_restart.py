"""Redis restarts empty under the hub: nothing a connected client was sent is lost (each node tells
its sockets ``sync:required`` once its link is back, and ``sync`` returns what live delivery
dropped), pushes still go out, and the statuses people chose come back."""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

from hub.keys import CONTEXT
from hub.push.inbox import NewNotification, notify
from tests.support.clients import Peer
from tests.support.hubs import StartHub, stop_hub
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until
from tests.support.webhooks import SECRET, Receiver, register

MISSED = 5


async def test_a_redis_restart_loses_nothing(
    start_hub: StartHub, own_redis: RedisServer, peers: list[Peer]
) -> None:
    env = {"HUB_REDIS_URL": own_redis.url, "HUB_REDIS_CHANNEL": f"hub-test-{uuid.uuid4().hex}"}
    node_a = await start_hub(**env)
    node_b = await start_hub(**env)
    agent = await Peer("/support").connect(node_b.url, node_b.token("support", "a-1"))
    customer = await Peer("/customer").connect(node_a.url, node_a.token("customer", "c-1"))
    peers += [agent, customer]
    opened = await customer.ok("support:open")
    conv = opened["conversation"]["id"]
    assert opened["conversation"]["assigned_agent_id"] == "a-1"
    before = await customer.ok("chat:send", {"conversation_id": conv, "client_id": "before", "body": "hi"})
    seen = await agent.next_where("chat:message", lambda m: m.get("client_id") == "before")
    assert seen["seq"] == before["seq"]

    await own_redis.kill()
    sent = [
        await customer.ok(
            "chat:send", {"conversation_id": conv, "client_id": f"m{n}", "body": f"while down {n}"}
        )
        for n in range(MISSED)
    ]
    await own_redis.start()  # empty: no subscription, no presence survives

    for peer in (agent, customer):
        notice = await peer.next("sync:required")
        assert notice["reason"] == "fanout_interrupted"
    synced = await agent.ok("sync", {"conversations": {conv: seen["seq"]}})
    got = synced["conversations"][conv]["messages"]
    assert [m["seq"] for m in got] == [s["seq"] for s in sent]
    assert [m["client_id"] for m in got] == [f"m{n}" for n in range(MISSED)]

    # Live again, across the nodes.
    after = await customer.ok("chat:send", {"conversation_id": conv, "client_id": "after", "body": "back"})
    live = await agent.next_where("chat:message", lambda m: m.get("client_id") == "after")
    assert live["seq"] == after["seq"]


async def test_a_push_goes_out_while_redis_is_down(
    start_hub: StartHub, own_redis: RedisServer, receiver: Receiver
) -> None:
    hub = await start_hub(
        HUB_REDIS_URL=own_redis.url,
        HUB_REDIS_CHANNEL=f"hub-test-{uuid.uuid4().hex}",
        HUB_WEBHOOK_SECRET=SECRET,
        HUB_WEBHOOK_ALLOWED_HOSTS="127.0.0.1",
    )
    await register(hub, "worker", "w-1", receiver.url)
    await own_redis.kill()  # presence cannot tell whether the worker watches
    async with hub.app[CONTEXT].pool.acquire() as conn, conn.transaction():
        await notify(conn, NewNotification("w-1", "worker", "offer", "a job nearby", "details"))
    pushed = await receiver.next()
    assert (pushed["title"], pushed["user_id"]) == ("a job nearby", "w-1")


async def test_chosen_statuses_survive_redis_coming_back_empty(
    start_hub: StartHub, own_redis: RedisServer, peers: list[Peer]
) -> None:
    hub = await start_hub(HUB_REDIS_URL=own_redis.url, HUB_REDIS_CHANNEL=f"hub-test-{uuid.uuid4().hex}")
    presence = hub.app[CONTEXT].presence
    away = await Peer("/support").connect(hub.url, hub.token("support", "a-away"))
    worker = await Peer("/worker").connect(hub.url, hub.token("worker", "w-1"))
    peers += [away, worker]
    assert (await away.ok("presence:set", {"status": "away"}))["status"] == "away"
    assert (await worker.ok("presence:set", {"status": "on_leave"}))["status"] == "on_leave"

    await own_redis.kill()
    await own_redis.start()  # empty

    async def restored() -> bool:
        states = [await presence.get("a-away", "support"), await presence.get("w-1", "worker")]
        return [s.status if s else None for s in states] == ["away", "on_leave"]

    await wait_until(restored)
    # The away agent is not given a conversation; one who is online is.
    online = await Peer("/support").connect(hub.url, hub.token("support", "a-online"))
    customer = await Peer("/customer").connect(hub.url, hub.token("customer", "c-1"))
    peers += [online, customer]
    opened = await customer.ok("support:open")
    assert opened["conversation"]["assigned_agent_id"] == "a-online"
    # A socket that goes after the restart is forgotten like any other.
    await worker.close()

    async def offline() -> bool:
        state = await presence.get("w-1", "worker")
        return state is not None and state.status == "offline"

    await wait_until(offline)


async def test_chosen_statuses_survive_a_restart_of_a_single_node(
    start_hub: StartHub, peers: list[Peer]
) -> None:
    first = await start_hub()
    agent = await Peer("/support").connect(first.url, first.token("support", "a-1"))
    await agent.ok("presence:set", {"status": "away"})
    await agent.close()
    await stop_hub(first)
    second = await start_hub()  # in-process presence: it started from nothing
    state = await second.app[CONTEXT].presence.get("a-1", "support")
    assert state is not None
    assert state.status == "offline"
    again = await Peer("/support").connect(second.url, second.token("support", "a-1"))
    peers.append(again)
    state = await second.app[CONTEXT].presence.get("a-1", "support")
    assert state is not None
    assert state.status == "away"


async def test_publishes_dropped_while_the_subscription_held_are_announced(
    start_hub: StartHub, own_redis: RedisServer, peers: list[Peer]
) -> None:
    """Redis refuses writes for a while (CLIENT PAUSE) but keeps every subscription: the node whose
    publishes were dropped tells every socket of every node to sync once publishing works again."""
    env = {"HUB_REDIS_URL": own_redis.url, "HUB_REDIS_CHANNEL": f"hub-test-{uuid.uuid4().hex}"}
    node_a = await start_hub(**env)
    node_b = await start_hub(**env)
    agent = await Peer("/support").connect(node_b.url, node_b.token("support", "a-1"))
    customer = await Peer("/customer").connect(node_a.url, node_a.token("customer", "c-1"))
    peers += [agent, customer]
    conv = (await customer.ok("support:open"))["conversation"]["id"]
    seen = await agent.next_where("chat:message", lambda m: m["kind"] == "system")
    pauser = Redis.from_url(own_redis.url)
    try:
        await pauser.execute_command("CLIENT", "PAUSE", "1500", "WRITE")
        dropped = await customer.ok(
            "chat:send", {"conversation_id": conv, "client_id": "d", "body": "dropped"}
        )
        await pauser.execute_command("CLIENT", "UNPAUSE")
    finally:
        await pauser.aclose()
    after = await customer.ok("chat:send", {"conversation_id": conv, "client_id": "a", "body": "after"})
    notice = await agent.next("sync:required")
    assert notice["reason"] == "fanout_interrupted"
    synced = await agent.ok("sync", {"conversations": {conv: seen["seq"]}})
    assert [m["seq"] for m in synced["conversations"][conv]["messages"]] == [dropped["seq"], after["seq"]]


async def test_presence_calls_answer_presence_unavailable_while_redis_is_down(
    start_hub: StartHub, own_redis: RedisServer, peers: list[Peer]
) -> None:
    hub = await start_hub(HUB_REDIS_URL=own_redis.url, HUB_REDIS_CHANNEL=f"hub-test-{uuid.uuid4().hex}")
    agent = await Peer("/support").connect(hub.url, hub.token("support", "a-1"))
    peers.append(agent)
    await own_redis.kill()
    ack = await agent.call("presence:set", {"status": "away"})
    assert ack["ok"] is False, ack
    assert ack["error"]["code"] == "presence_unavailable"
    assert ack["error"]["details"] == {"retry_after_ms": 1000}
    assert (await agent.ok("ping"))["server_time"]  # the socket is still there

    await own_redis.start()
    # The refused choice changed nothing: the agent is online again, and may choose now.
    presence = hub.app[CONTEXT].presence

    async def online() -> bool:
        state = await presence.get("a-1", "support")
        return state is not None and state.status == "online"

    await wait_until(online)
    assert (await agent.ok("presence:set", {"status": "away"}))["status"] == "away"


async def test_a_chat_message_is_pushed_while_redis_is_down(
    start_hub: StartHub, own_redis: RedisServer, receiver: Receiver, peers: list[Peer]
) -> None:
    hub = await start_hub(
        HUB_REDIS_URL=own_redis.url,
        HUB_REDIS_CHANNEL=f"hub-test-{uuid.uuid4().hex}",
        HUB_WEBHOOK_SECRET=SECRET,
        HUB_WEBHOOK_ALLOWED_HOSTS="127.0.0.1",
    )
    await register(hub, "support", "a-1", receiver.url)
    agent = await Peer("/support").connect(hub.url, hub.token("support", "a-1"))
    customer = await Peer("/customer").connect(hub.url, hub.token("customer", "c-1"))
    peers += [agent, customer]
    conv = (await customer.ok("support:open"))["conversation"]["id"]

    await own_redis.kill()  # presence cannot tell whether the agent sees it: pushed all the same
    await customer.ok("chat:send", {"conversation_id": conv, "client_id": "m1", "body": "hello?"})
    pushed = await receiver.next()
    assert (pushed["user_id"], pushed["body"]) == ("a-1", "hello?")
