"""A webhook push receiver that verifies signatures as a real one must, and device registration."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.support.hubs import RunningHub
from tests.support.services import free_port
from tests.support.waiting import WAIT

SECRET = "webhook-secret-for-tests-0123456789"


class Receiver:
    """A webhook endpoint that checks the signature exactly as a real receiver must."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        app = web.Application()
        app.router.add_post("/hook", self.hook)
        self.server = TestServer(app, host="127.0.0.1", port=free_port())

    async def hook(self, request: web.Request) -> web.Response:
        raw = await request.read()
        timestamp = request.headers["X-Hub-Timestamp"]
        expected = (
            "sha256=" + hmac.new(SECRET.encode(), timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
        )
        if not hmac.compare_digest(expected, request.headers["X-Hub-Signature"]):
            return web.Response(status=401)
        assert abs(time.time() - int(timestamp)) < 300
        await self.received.put(json.loads(raw))
        return web.Response(status=204)

    @property
    def url(self) -> str:
        return str(self.server.make_url("/hook"))

    async def next(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.received.get(), WAIT)


async def register(hub: RunningHub, role: str, user: str, url: str) -> None:
    status, body = await hub.http(
        "POST", "/api/v1/devices", hub.token(role, user), json={"platform": "webhook", "token": url}
    )
    assert status in (200, 201), body
