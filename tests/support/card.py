"""The card sandbox playing Stripe beside a hub that knows its own URL (for the webhooks): what
the tests that pay by card share."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from bookings.payments.sandbox.card import CardSandboxConfig, create_app
from tests.support.bookings import start
from tests.support.hubs import RunningHub, StartHub
from tests.support.services import free_port
from tests.support.waiting import WAIT

SECRET_KEY = "sk_test_hub"
WEBHOOK_SECRET = "whsec_hub"
TIMEOUT = aiohttp.ClientTimeout(total=WAIT)


@dataclass
class Setup:
    hub: RunningHub
    sandbox: TestServer

    async def sandbox_post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as session,
            session.post(self.sandbox.make_url(path), json=body or {}) as response,
        ):
            assert response.status == 200, await response.text()
            return dict(await response.json())

    async def order(self, out_trade_no: str) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as session,
            session.get(self.sandbox.make_url(f"/sandbox/orders/{out_trade_no}")) as response,
        ):
            return dict(await response.json())

    async def notify(self, body: bytes, signature: str) -> tuple[int, bytes]:
        headers = {"Stripe-Signature": signature, "Content-Type": "application/json"}
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as session,
            session.post(
                f"{self.hub.url}/api/v1/payments/notify/card", data=body, headers=headers
            ) as response,
        ):
            return response.status, await response.read()


@contextlib.asynccontextmanager
async def running(start_hub: StartHub, *, webhooks: bool = True, **env: str) -> AsyncIterator[Setup]:
    """The sandbox, then a hub on a port chosen first (it must know its own URL for notifies)."""
    port = free_port()
    hub_url = f"http://127.0.0.1:{port}"
    sandbox = TestServer(
        create_app(
            CardSandboxConfig(
                secret_key=SECRET_KEY,
                webhook_secret=WEBHOOK_SECRET,
                webhook_url=f"{hub_url}/api/v1/payments/notify/card" if webhooks else None,
                retry_delays=(0.2, 0.5, 1.0),
            )
        ),
        host="127.0.0.1",
    )
    await sandbox.start_server()
    try:
        hub = await start(
            start_hub,
            workers=1,
            port=port,  # type: ignore[arg-type]
            HUB_PUBLIC_URL=hub_url,
            HUB_PAY_CARD_SECRET_KEY=SECRET_KEY,
            HUB_PAY_CARD_WEBHOOK_SECRET=WEBHOOK_SECRET,
            HUB_PAY_CARD_API_BASE=str(sandbox.make_url("")).rstrip("/"),
            **env,
        )
        yield Setup(hub, sandbox)
    finally:
        await sandbox.close()
