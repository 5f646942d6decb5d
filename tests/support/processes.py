"""Hubs in their own processes, started as a user starts them: ``python -m hub serve``."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest

from hub.auth import Role, issue_token
from hub.settings import Settings
from tests.support.hubs import ROOT, cli
from tests.support.services import free_port
from tests.support.waiting import wait_until


class HubProcess:
    """``python -m hub serve`` on ``port``; ``args`` are more of its arguments (``--workers 2``)."""

    def __init__(
        self, env: dict[str, str], port: int, log_path: Path, cwd: Path = ROOT, args: tuple[str, ...] = ()
    ) -> None:
        self.port = port
        self.log_path = log_path
        self._log = log_path.open("w")
        self.url = f"http://127.0.0.1:{port}"
        self.cwd = cwd
        self.env = {"PATH": os.environ.get("PATH", ""), **env}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hub", "serve", "--host", "127.0.0.1", "--port", str(port), *args],
            env=self.env,
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    async def get(self, path: str) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as session, session.get(self.url + path) as response:
            return response.status, await response.json()

    async def ready(self, within: float = 60) -> None:
        async def answered() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"hub exited early:\n{self.output()}")
            try:
                return (await self.get("/readyz"))[0] == 200
            except aiohttp.ClientError:
                return False

        await wait_until(answered, within=within, interval=0.2)

    def token(self, role: str, sub: str) -> str:
        result = cli("token", "--role", role, "--sub", sub, env=self.env, cwd=self.cwd)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def stop(self) -> None:
        """Killed, with its workers if it runs some (they would drain on their own otherwise)."""
        if self.proc.poll() is None:
            try:
                workers = psutil.Process(self.proc.pid).children()
            except psutil.NoSuchProcess:
                workers = []
            self.proc.kill()
            self.proc.wait(10)
            for worker in workers:
                with contextlib.suppress(psutil.NoSuchProcess):
                    worker.kill()
            psutil.wait_procs(workers, timeout=10)
        self._log.close()


def embedded_postgres_processes(data_dir: Path) -> list[psutil.Process]:
    """The processes of the embedded PostgreSQL running on ``data_dir``."""
    return [
        p
        for p in psutil.process_iter(["name", "cmdline"])
        if p.info["name"] == "postgres" and str(data_dir.resolve()) in " ".join(p.info["cmdline"] or [])
    ]


async def start_with_many_sockets(
    processes: list[HubProcess], env: dict[str, str], log_path: Path, workers: int
) -> tuple[HubProcess, list[str]]:
    """A hub process that lets one address (the test's) open any number of sockets, ready, and
    tokens for ``workers`` workers signed with its secret."""
    env = {
        **env,
        "HUB_SOCKET_CONNECTS_PER_ADDRESS": "100000",
        "HUB_SOCKET_MAX_PENDING_PER_ADDRESS": "100000",
    }
    hub = HubProcess(env, free_port(), log_path)
    processes.append(hub)
    await hub.ready()
    settings = Settings.from_env(env)
    return hub, [issue_token(settings, role=Role.WORKER, sub=f"w-{i}") for i in range(workers)]


@pytest.fixture
def processes() -> Iterator[list[HubProcess]]:
    """Hub processes a test starts; killed at teardown whatever happened."""
    started: list[HubProcess] = []
    yield started
    for process in started:
        process.stop()
