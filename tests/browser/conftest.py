"""Fixtures of the browser tests: the hub in demo mode on a real port, serving clients/demo, and
Debian's Chromium (headless) driven by Playwright, one browser context per person."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from bookings.demo import ENV as BOOKINGS_DEMO_ENV
from hub.app import build_app
from hub.settings import Settings
from tests.support.browser import DEMO_DIR, EXPECT_MS, HOOKS, Demo, require_chromium
from tests.support.hubs import HubTestServer, RunningHub, stop_hub
from tests.support.services import free_port


@pytest.fixture
async def demo(hub_env: dict[str, str]) -> AsyncIterator[Demo]:
    """The hub as ``python -m hub demo`` runs it (the demo data, the sandboxes, the demo login,
    people's deadlines), in the test's process on a port chosen first: the sandboxes' addresses
    name it."""
    port = free_port()
    env = {
        **BOOKINGS_DEMO_ENV,
        **hub_env,
        "HUB_HOST": "127.0.0.1",
        "HUB_PORT": str(port),
        "HUB_DEMO_DIR": str(DEMO_DIR),
    }
    settings = dataclasses.replace(Settings.from_env(env), demo_mode=True)
    server = HubTestServer(build_app(settings), host="127.0.0.1", port=port)
    await server.start_server()
    hub = RunningHub(server.app, server, settings)
    yield Demo(hub)
    await stop_hub(hub)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    chromium = require_chromium()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(chromium),
            headless=True,
            # The worker's offer rings without anyone having touched the page first.
            args=["--autoplay-policy=no-user-gesture-required"],
        )
        yield launched
        await launched.close()


OpenPage = Callable[..., Awaitable["Page"]]


@pytest.fixture
async def open_page(browser: Browser, tmp_path: Path) -> AsyncIterator[OpenPage]:
    """``await open_page(url, **context_options)``: a page in a browser context of its own (one
    person's phone or desk), with the hooks installed; a script error on any page fails the test."""
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    async def open_one(url: str, *, locale: str = "en-GB", **options: Any) -> Page:
        context = await browser.new_context(locale=locale, timezone_id="Asia/Shanghai", **options)
        contexts.append(context)
        await context.add_init_script(HOOKS)
        context.set_default_timeout(EXPECT_MS)
        page = await context.new_page()
        page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
        await page.goto(url)
        return page

    yield open_one
    for context in contexts:
        await context.close()
    assert not errors, "script errors in the pages:\n" + "\n".join(errors)
