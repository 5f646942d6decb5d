"""The real-time core runs without any extension (``HUB_EXTENSIONS=``): chat, presence,
notifications and push work; no bookings route, event, table or command exists."""

from __future__ import annotations

import asyncpg
import pytest

from hub import extension
from hub.env import ConfigError
from hub.storage.migrate import load_migrations
from tests.support.clients import Peer
from tests.support.hubs import RunningHub, StartHub, cli


@pytest.fixture
async def core(start_hub: StartHub, empty_database_url: str) -> RunningHub:
    hub: RunningHub = await start_hub(HUB_DATABASE_URL=empty_database_url, HUB_EXTENSIONS="")
    return hub


async def test_core_alone_has_no_bookings_tables(core: RunningHub, empty_database_url: str) -> None:
    conn = await asyncpg.connect(empty_database_url)
    try:
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
        applied = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")]
    finally:
        await conn.close()
    assert applied == [m.version for m in load_migrations()]
    assert {"conversations", "messages", "notifications", "push_devices", "events"} <= tables
    assert not tables & {"bookings", "workers", "offers", "services", "customers"}
    status, body = await core.http("GET", "/readyz")
    assert status == 200, body


async def test_core_alone_serves_no_bookings_routes(core: RunningHub) -> None:
    token = core.token("customer", "c-1")
    status, body = await core.http("GET", "/api/v1/bookings", token)
    assert status == 404, body
    status, body = await core.http("GET", "/api/v1/services", token)
    assert status == 404, body
    status, document = await core.http("GET", "/api/v1/openapi.json")
    assert status == 200
    assert "/api/v1/me" in document["paths"]
    assert not [path for path in document["paths"] if "booking" in path or "worker" in path]


async def test_core_alone_chats_notifies_and_tracks_presence(core: RunningHub, peers: list[Peer]) -> None:
    agent = await Peer("/support").connect(core.url, core.token("support", "a-1"))
    peers.append(agent)
    board = await agent.next("presence:snapshot")
    assert board == {"workers": [], "agents": [board["agents"][0]]}
    customer = await Peer("/customer").connect(core.url, core.token("customer", "c-1"))
    peers.append(customer)
    opened = await customer.ok("support:open")
    conversation = opened["conversation"]
    assert conversation["assigned_agent_id"] == "a-1"
    await customer.ok(
        "chat:send", {"conversation_id": conversation["id"], "client_id": "m1", "body": "hello"}
    )
    got = await agent.next_where("chat:message", lambda m: m["kind"] == "text")
    assert got["body"] == "hello"
    # Chosen status: a worker is still a person of the core, with presence but no offers.
    worker = await Peer("/worker").connect(core.url, core.token("worker", "w-1"))
    peers.append(worker)
    changed = await agent.next_where("presence:changed", lambda c: c["user_id"] == "w-1")
    assert changed["status"] == "online"
    assert (await worker.ok("presence:set", {"status": "on_leave"}))["status"] == "on_leave"
    assert await worker.error("offer:list") == "unknown_event"
    assert await worker.error("job:depart", {}) == "unknown_event"
    # The inbox: notifications are the core's.
    listed = await customer.ok("notifications:list")
    assert listed["unread"] == 0


def test_unknown_extension_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="HUB_EXTENSIONS"):
        extension.configure({"HUB_EXTENSIONS": "no_such_extension"})
    with pytest.raises(ConfigError, match="HUB_EXTENSIONS"):
        extension.configure({"HUB_EXTENSIONS": "hub"})  # a package that is no extension
    assert extension.configure({"HUB_EXTENSIONS": ""}) == ()
    assert [e.name for e in extension.configure({})] == ["bookings"]


def test_core_alone_has_no_demo_seed_command(hub_env: dict[str, str]) -> None:
    done = cli("demo-seed", env={**hub_env, "HUB_EXTENSIONS": ""})
    assert done.returncode == 2
    assert "invalid choice: 'demo-seed'" in done.stderr
    bad = cli("migrate", env={**hub_env, "HUB_EXTENSIONS": "nope"})
    assert bad.returncode == 2
    assert "HUB_EXTENSIONS" in bad.stderr
