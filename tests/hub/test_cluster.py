"""Two hub processes sharing PostgreSQL and Redis: chat, receipts and presence across nodes, and a
node killed with SIGKILL leaves no ghost."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path

import redis.asyncio as redis

from tests.support.clients import Peer
from tests.support.processes import HubProcess
from tests.support.services import free_port

GRACE, TTL, SWEEP = 0.5, 2.0, 0.2


async def test_two_nodes_chat_presence_and_a_killed_node(
    processes: list[HubProcess], hub_env: dict[str, str], redis_url: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    env = {
        **hub_env,
        "HUB_REDIS_URL": redis_url,
        "HUB_REDIS_CHANNEL": f"hub-test-{run}",
        "HUB_PRESENCE_KEY_PREFIX": f"hub-test-{run}:presence:",
        "HUB_PRESENCE_GRACE_SECONDS": str(GRACE),
        "HUB_PRESENCE_TTL_SECONDS": str(TTL),
        "HUB_PRESENCE_SWEEP_SECONDS": str(SWEEP),
    }
    node_a = HubProcess(env, free_port(), tmp_path / "a.log")
    node_b = HubProcess(env, free_port(), tmp_path / "b.log")
    processes.extend([node_a, node_b])
    await node_a.ready()
    await node_b.ready()

    peers: list[Peer] = []
    try:
        agent = await Peer("/support").connect(node_b.url, node_b.token("support", "a-1"))
        customer = await Peer("/customer").connect(node_a.url, node_a.token("customer", "c-1"))
        peers += [agent, customer]

        # The customer's node sees the agent on the other node as available and assigns to them.
        assert (await customer.ok("support:availability"))["online_agents"] == 1
        opened = await customer.ok("support:open")
        conv = opened["conversation"]["id"]
        assert opened["conversation"]["assigned_agent_id"] == "a-1"
        assert (await agent.next_where("conversation:assigned", lambda c: c["id"] == conv))[
            "status"
        ] == "assigned"

        # Chat both ways, with typing and read receipts crossing Redis.
        await customer.ok("chat:typing", {"conversation_id": conv, "typing": True})
        assert (await agent.next("chat:typing"))["user_id"] == "c-1"
        sent = await customer.ok(
            "chat:send", {"conversation_id": conv, "client_id": "1", "body": "hello from A"}
        )
        got = await agent.next_where("chat:message", lambda m: m["kind"] == "text")
        assert (got["body"], got["seq"]) == ("hello from A", sent["seq"])
        await agent.ok("chat:typing", {"conversation_id": conv, "typing": True})
        assert (await customer.next("chat:typing"))["user_id"] == "a-1"
        reply = await agent.ok(
            "chat:send", {"conversation_id": conv, "client_id": "2", "body": "hello from B"}
        )
        answer = await customer.next_where("chat:message", lambda m: m["kind"] == "text")
        assert (answer["body"], answer["seq"]) == ("hello from B", reply["seq"])
        await customer.ok("chat:read", {"conversation_id": conv, "seq": reply["seq"]})
        receipt = await agent.next("chat:receipt")
        assert (receipt["user_id"], receipt["read_seq"]) == ("c-1", reply["seq"])

        # Presence seen on B reflects sockets on A.
        worker = await Peer("/worker").connect(node_a.url, node_a.token("worker", "w-1"))
        peers.append(worker)
        online = await agent.next_where("presence:changed", lambda c: c["user_id"] == "w-1")
        assert online["status"] == "online"
        board = await agent.ok("presence:snapshot")
        assert {w["user_id"]: w["status"] for w in board["workers"]} == {"w-1": "online"}

        # Node A dies without a word: its worker must go offline on B within grace + TTL.
        node_a.proc.send_signal(signal.SIGKILL)
        node_a.proc.wait(10)
        offline = await agent.next_where(
            "presence:changed", lambda c: c["user_id"] == "w-1", within=GRACE + TTL + SWEEP + 5
        )
        assert offline["status"] == "offline"
        board = await agent.ok("presence:snapshot")
        assert {w["user_id"]: w["status"] for w in board["workers"]} == {"w-1": "offline"}
    finally:
        for peer in peers:
            if peer.client.connected:
                await peer.close()
        node_b.stop()
        client = redis.Redis.from_url(redis_url)
        keys = [key async for key in client.scan_iter(match=f"hub-test-{run}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
