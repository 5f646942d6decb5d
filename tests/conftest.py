"""Shared fixtures: real PostgreSQL (a fresh database per test), real Redis, the hub on a real port.

PostgreSQL comes from HUB_TEST_DATABASE_URL (default: the local server). On a machine without
one, an embedded server from pgserver is started instead, so ``make test`` works anywhere; with
CI=true a missing service is a failure, never a skip.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import pytest
import socketio
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub import extension
from hub.app import build_app
from hub.auth import Role, issue_token
from hub.bus import Bus
from hub.settings import Settings
from hub.storage.db import create_pool
from hub.storage.migrate import directories, migrate

pytest_plugins = ["tests.processes"]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ADMIN_DSN = os.environ.get("HUB_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("HUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
JWT_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
ROOT = Path(__file__).resolve().parent.parent
WAIT = 10.0  # seconds any single wait in a test may take before it fails
# The core's migrations and those of the default extensions, as a hub with no HUB_EXTENSIONS runs.
MIGRATIONS = directories(extension.configure({}))


def tcp_reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), 2):
            return True
    except OSError:
        return False


def require_service(name: str, url: str, default_port: int) -> None:
    if tcp_reachable(url, default_port):
        return
    message = f"{name} is not reachable at {url}"
    if IN_CI:
        pytest.fail(f"{message}; CI must provide it", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def with_database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


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


async def create_database(admin_dsn: str, template: str | None = None) -> str:
    name = f"hub_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    finally:
        await conn.close()
    return with_database(admin_dsn, name)


@pytest.fixture(scope="session")
def migrated_template(pg_admin_dsn: str) -> Iterator[str]:
    """A database with every migration applied, migrated once per session: each test's database
    is a copy of it (CREATE DATABASE … TEMPLATE), which is much faster than migrating each one."""

    async def build() -> str:
        dsn = await create_database(pg_admin_dsn)
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(conn, *MIGRATIONS)
        finally:
            await conn.close()  # a template may have no open connection while it is copied
        return dsn

    dsn = asyncio.run(build())
    yield urlsplit(dsn).path.lstrip("/")
    asyncio.run(drop_database(pg_admin_dsn, dsn))


async def drop_database(admin_dsn: str, dsn: str) -> None:
    name = urlsplit(dsn).path.lstrip("/")
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def database_url(pg_admin_dsn: str, migrated_template: str) -> AsyncIterator[str]:
    """A new database for this test only, with every migration applied."""
    dsn = await create_database(pg_admin_dsn, template=migrated_template)
    yield dsn
    await drop_database(pg_admin_dsn, dsn)


@pytest.fixture
async def empty_database_url(pg_admin_dsn: str) -> AsyncIterator[str]:
    """A new, empty database for this test only (no migration applied)."""
    dsn = await create_database(pg_admin_dsn)
    yield dsn
    await drop_database(pg_admin_dsn, dsn)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on this test's database, migrated."""
    pool = await create_pool(database_url, 1, 5)
    async with pool.acquire() as conn:
        await migrate(conn, *MIGRATIONS)
    yield pool
    await pool.close()


@pytest.fixture
def redis_url() -> str:
    require_service("Redis", REDIS_URL, 6379)
    return REDIS_URL


@pytest.fixture
def hub_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """Environment for a hub under test; tests add or override variables."""
    return {
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


@dataclass
class RunningHub:
    """A hub serving on a real port, plus helpers to reach it as clients do."""

    app: web.Application
    server: TestServer
    settings: Settings
    clients: list[socketio.AsyncClient] = field(default_factory=list)

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    def token(self, role: Role | str, sub: str, **kwargs: Any) -> str:
        return issue_token(self.settings, role=Role(role), sub=sub, **kwargs)

    async def connect(
        self, namespace: str, token: str | None, *, serializer: str = "default", **auth: Any
    ) -> socketio.AsyncClient:
        client = socketio.AsyncClient(reconnection=False, serializer=serializer)
        self.clients.append(client)
        if token is not None:
            auth["token"] = token
        await client.connect(
            self.url, namespaces=[namespace], auth=auth, transports=["websocket"], wait_timeout=WAIT
        )
        return client

    async def refusal(self, namespace: str, auth: Any) -> Any:
        """Connect expecting a refusal; return the connect_error data the client received."""
        client = socketio.AsyncClient(reconnection=False)
        refused: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        client.on(
            "connect_error", lambda data: refused.done() or refused.set_result(data), namespace=namespace
        )
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(
                self.url, namespaces=[namespace], auth=auth, transports=["websocket"], wait_timeout=WAIT
            )
        try:
            return await asyncio.wait_for(refused, WAIT)
        finally:
            await client.disconnect()

    async def http(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> tuple[int, Any]:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, self.url + path, headers=headers, **kwargs) as response,
        ):
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()


StartHub = Callable[..., Any]


@pytest.fixture
async def start_hub(hub_env: dict[str, str]) -> AsyncIterator[StartHub]:
    """Start hubs on free ports: ``await start_hub(bus=..., **env_overrides)``; all stop at teardown."""
    running: list[RunningHub] = []

    async def start(bus: Bus | None = None, **overrides: str) -> RunningHub:
        settings = Settings.from_env({**hub_env, **overrides})
        app = build_app(settings, bus=bus)
        server = TestServer(app, host="127.0.0.1", port=free_port())
        await server.start_server()
        hub = RunningHub(app, server, settings)
        running.append(hub)
        return hub

    yield start
    for hub in reversed(running):
        await stop_hub(hub)


async def stop_hub(hub: RunningHub) -> None:
    for client in hub.clients:
        await client.disconnect()
    hub.clients.clear()
    await hub.server.close()


@pytest.fixture
async def peers() -> AsyncIterator[list[Any]]:
    """Sockets a test opens (``tests.clients.Peer``); closed at teardown."""
    opened: list[Any] = []
    yield opened
    for peer in opened:
        await peer.close()


@pytest.fixture
async def hub(start_hub: StartHub) -> RunningHub:
    result: RunningHub = await start_hub()
    return result


def cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``python -m hub`` as a user would; the environment is exactly ``env`` plus PATH."""
    return subprocess.run(
        [sys.executable, "-m", "hub", *args],
        env={"PATH": os.environ.get("PATH", ""), **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def wait_until(predicate: Callable[[], Any], within: float = WAIT, interval: float = 0.05) -> Any:
    """Poll ``predicate`` (sync or async) until it returns something truthy, or fail at ``timeout``."""
    deadline = time.monotonic() + within
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(interval)
