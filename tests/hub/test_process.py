"""The hub as a user runs it: ``python -m hub`` in its own process, on both database paths."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
import socketio

from hub.storage.migrate import load_migrations
from tests.support.hubs import cli
from tests.support.processes import HubProcess
from tests.support.services import free_port
from tests.support.waiting import WAIT

SIGTERM_DEADLINE = 10.0  # the promise operators rely on for rolling restarts


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


async def test_embedded_database_from_nothing(processes: list[HubProcess], tmp_path: Path) -> None:
    """No HUB_DATABASE_URL, no secret: what a newcomer's `make run` does."""
    data_dir = tmp_path / "var"
    hub = HubProcess({"HUB_DATA_DIR": str(data_dir)}, free_port(), tmp_path / "hub.log")
    processes.append(hub)
    await hub.ready(within=120)
    assert (data_dir / "postgres" / "PG_VERSION").exists()
    assert (data_dir / "jwt-dev-secret").exists()
    await check_sigterm_is_graceful(hub)
    assert "generated a development secret" in hub.output()
    # The embedded PostgreSQL was stopped with the hub.
    leftovers = [
        p
        for p in psutil.process_iter(["name", "cmdline"])
        if p.info["name"] == "postgres" and str(data_dir) in " ".join(p.info["cmdline"] or [])
    ]
    assert leftovers == []


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
