"""Presence as the support console sees it, over real sockets."""

from __future__ import annotations

from hub.keys import CONTEXT
from tests.support.clients import Peer
from tests.support.hubs import RunningHub


async def test_support_board_follows_workers(hub: RunningHub) -> None:
    early = await Peer("/worker").connect(hub.url, hub.token("worker", "w-0"))
    agent = await Peer("/support").connect(hub.url, hub.token("support", "a-1"))
    worker = None
    try:
        snapshot = await agent.next("presence:snapshot")
        assert [(w["user_id"], w["status"]) for w in snapshot["workers"]] == [("w-0", "online")]
        assert ("a-1", "online") in [(a["user_id"], a["status"]) for a in snapshot["agents"]]

        worker = await Peer("/worker").connect(hub.url, hub.token("worker", "w-1"))
        change = await agent.next_where("presence:changed", lambda c: c["user_id"] == "w-1")
        assert (change["role"], change["status"]) == ("worker", "online")
        assert change["since"]

        state = await worker.ok("presence:set", {"status": "on_leave"})
        assert state["status"] == "on_leave"
        change = await agent.next_where("presence:changed", lambda c: c["user_id"] == "w-1")
        assert change["status"] == "on_leave"
        assert await worker.error("presence:set", {"status": "busy"}) == "invalid_status"
        assert await worker.error("presence:set", {"status": "asleep"}) == "invalid_status"
        assert await worker.error("presence:set", {"status": 3}) == "invalid_payload"

        tracker = hub.app[CONTEXT].presence
        await worker.ok("presence:set", {"status": "online"})
        await tracker.set_busy("w-1", "b-7")
        busy = await agent.next_where("presence:changed", lambda c: c["status"] == "busy")
        assert busy["booking_id"] == "b-7"
        await tracker.clear_busy("w-1")
        await agent.next_where(
            "presence:changed", lambda c: c["user_id"] == "w-1" and c["status"] == "online"
        )

        await worker.close()  # gone for longer than the grace period
        offline = await agent.next_where("presence:changed", lambda c: c["user_id"] == "w-1")
        assert offline["status"] == "offline"
        assert offline["last_seen"]
        board = await agent.ok("presence:snapshot")
        assert {w["user_id"]: w["status"] for w in board["workers"]} == {"w-0": "online", "w-1": "offline"}
    finally:
        for peer in (early, agent, worker):
            if peer is not None:
                await peer.close()


async def test_agents_away_and_customer_availability(hub: RunningHub) -> None:
    customer = await Peer("/customer").connect(hub.url, hub.token("customer", "c-1"))
    agent = await Peer("/support").connect(hub.url, hub.token("support", "a-1"))
    try:
        assert await customer.ok("support:availability") == {"available": True, "online_agents": 1}
        assert await agent.error("presence:set", {"status": "on_leave"}) == "invalid_status"
        await agent.ok("presence:set", {"status": "away"})
        assert await customer.ok("support:availability") == {"available": False, "online_agents": 0}
        assert await customer.error("presence:set", {"status": "online"}) == "unknown_event"
    finally:
        await customer.close()
        await agent.close()


async def test_background_app_is_not_reachable(hub: RunningHub) -> None:
    worker = await Peer("/worker").connect(hub.url, hub.token("worker", "w-1"))
    try:
        tracker = hub.app[CONTEXT].presence
        assert await tracker.reachable("w-1", "worker")
        await worker.ok("app:state", {"state": "background"})
        assert not await tracker.reachable("w-1", "worker")
        assert await worker.error("app:state", {"state": "asleep"}) == "invalid_payload"
        await worker.ok("app:state", {"state": "foreground"})
        assert await tracker.reachable("w-1", "worker")
    finally:
        await worker.close()
