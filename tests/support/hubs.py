"""The hub under test: served on a real port in the test's process, or run as a user runs it
(``python -m hub``)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiohttp.web_runner import BaseRunner

from hub.auth import Role, issue_token
from hub.settings import Settings
from hub.web.serving import HubRunner
from tests.support.waiting import WAIT

JWT_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
ROOT = Path(__file__).resolve().parents[2]


class HubTestServer(TestServer):
    """aiohttp's test server, serving with the runner ``python -m hub serve`` uses."""

    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        return HubRunner(self.app, **kwargs)


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


async def stop_hub(hub: RunningHub) -> None:
    for client in hub.clients:
        await client.disconnect()
    hub.clients.clear()
    await hub.server.close()


def cli(
    *args: str, env: dict[str, str], timeout: float = 60, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m hub`` as a user would; the environment is exactly ``env`` plus PATH."""
    return subprocess.run(
        [sys.executable, "-m", "hub", *args],
        env={"PATH": os.environ.get("PATH", ""), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
