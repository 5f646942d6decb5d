"""The browser tests' parts: Debian's Chromium driven by Playwright, the hub in demo mode serving
the demo pages, people logged in through the demo login, and hooks on what a page cannot show
(the sound it plays, the vibration it asks for)."""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from playwright.async_api import Page, expect

from tests.support.hubs import ROOT, RunningHub
from tests.support.services import IN_CI
from tests.support.waiting import WAIT

# Playwright cannot download its own browser here: the tests drive the distribution's Chromium.
CHROMIUM = Path(os.environ.get("HUB_TEST_CHROMIUM", "/usr/bin/chromium"))
DEMO_DIR = ROOT / "clients" / "demo"
# Screenshots of each page, written on every run; CI keeps the folder. docs/screenshots holds the
# copies the README shows, rewritten only with HUB_UPDATE_SCREENSHOTS=1.
ARTIFACTS = ROOT / "artifacts" / "screenshots"
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"
TIMEZONE = ZoneInfo("Asia/Shanghai")
# Playwright's own waits, in milliseconds: as long as any other wait in the tests.
EXPECT_MS = WAIT * 1000
# A phone for the customer and the worker, a desk's screen for the console.
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
DESK = {"viewport": {"width": 1440, "height": 900}}
# Far from every worker's service area (Beijing): a booking there finds no candidate and is escalated.
NOWHERE = {"label": "Far away", "line": "1 Chang'an Ave", "city": "Beijing", "lat": 39.9042, "lng": 116.4074}

# Installed before any script of the page: counts the sounds a page starts (Web Audio oscillators
# and buffers, and <audio> elements) and keeps every vibration pattern it asks for, in
# window.__hooks. Headless Chromium has no speaker and no vibration motor; the calls are what a
# phone would act on.
HOOKS = """
(() => {
  const hooks = { sounds: 0, vibrations: [] };
  Object.defineProperty(window, "__hooks", { value: hooks });
  navigator.vibrate = (pattern) => { hooks.vibrations.push(pattern); return true; };
  const Base = window.AudioContext || window.webkitAudioContext;
  if (Base) {
    const countStarts = (node) => {
      const start = node.start.bind(node);
      node.start = (...args) => { hooks.sounds += 1; return start(...args); };
      return node;
    };
    class CountingAudioContext extends Base {
      createOscillator() { return countStarts(super.createOscillator()); }
      createBufferSource() { return countStarts(super.createBufferSource()); }
    }
    window.AudioContext = CountingAudioContext;
    window.webkitAudioContext = CountingAudioContext;
  }
  const play = HTMLMediaElement.prototype.play;
  HTMLMediaElement.prototype.play = function (...args) { hooks.sounds += 1; return play.apply(this, args); };
})();
"""


expect.set_options(timeout=EXPECT_MS)


def require_chromium() -> Path:
    """The Chromium binary; without it a skip, and a failure in CI (``.ci/run`` installs it)."""
    if CHROMIUM.exists():
        return CHROMIUM
    message = f"Chromium is not at {CHROMIUM} (apt-get install chromium, or set HUB_TEST_CHROMIUM)"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def tomorrow() -> str:
    return (datetime.now(TIMEZONE) + timedelta(days=1)).date().isoformat()


@dataclass
class Demo:
    """The hub in demo mode, reached as the pages and the people of the demo data reach it."""

    hub: RunningHub
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.hub.url

    def page(self, app: str, sub: str, **query: str) -> str:
        """The address of an app logged in at once as ``sub`` (``?as=``)."""
        extra = "".join(f"&{k}={v}" for k, v in query.items())
        return f"{self.url}/demo/{app}/?as={sub}{extra}"

    async def token(self, role: str, sub: str) -> str:
        if (role, sub) not in self.tokens:
            status, session = await self.call("POST", "/api/v1/demo/login", body={"role": role, "sub": sub})
            assert status == 200, session
            self.tokens[role, sub] = session["token"]
        return self.tokens[role, sub]

    async def call(
        self, method: str, path: str, as_: tuple[str, str] | None = None, body: Any = None, **headers: str
    ) -> tuple[int, Any]:
        if as_ is not None:
            headers["Authorization"] = f"Bearer {await self.token(*as_)}"
        timeout = aiohttp.ClientTimeout(total=WAIT)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.request(method, self.url + path, json=body, headers=headers) as response,
        ):
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()

    async def ok(self, method: str, path: str, as_: tuple[str, str] | None = None, body: Any = None) -> Any:
        status, answer = await self.call(method, path, as_, body)
        assert status < 300, (method, path, status, answer)
        return answer

    async def paid_booking(
        self, customer: str = "customer-02", *, address: dict[str, Any] | None = None, start: str = "10:00"
    ) -> dict[str, Any]:
        """A booking of daily cleaning tomorrow, paid by hand (an admin's mark-paid): dispatch starts."""
        request: dict[str, Any] = {
            "service_id": "daily-cleaning",
            "date": tomorrow(),
            "start_time": start,
            "duration_minutes": 180,
        }
        if address is None:
            addresses = await self.ok("GET", "/api/v1/customers/me/addresses", ("customer", customer))
            request["address_id"] = addresses["items"][0]["id"]
        else:
            request["address"] = address
        booking = await self.ok("POST", "/api/v1/bookings", ("customer", customer), request)
        await self.ok(
            "POST",
            f"/api/v1/admin/bookings/{booking['id']}/mark-paid",
            ("admin", "admin-01"),
            {"payment_ref": f"by-hand-{uuid.uuid4()}"},
        )
        return dict(booking)

    async def escalated_booking(self, customer: str = "customer-02") -> dict[str, Any]:
        """A paid booking nobody can take (no worker covers the address): a console work item."""
        return await self.paid_booking(customer, address=NOWHERE)


def screenshot_path(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / f"{name}.png"


def publish_screenshots(names: list[str]) -> None:
    """Copy the run's screenshots to docs/screenshots when asked (HUB_UPDATE_SCREENSHOTS=1)."""
    if os.environ.get("HUB_UPDATE_SCREENSHOTS") != "1":
        return
    DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(ARTIFACTS / f"{name}.png", DOCS_SCREENSHOTS / f"{name}.png")


async def online(page: Page) -> None:
    """The page is connected to the hub."""
    await expect(page.locator("#connection-state")).to_have_attribute("data-state", "online")


async def hooks(page: Page) -> dict[str, Any]:
    """What the page asked of the speaker and the vibration motor (``HOOKS``)."""
    found: dict[str, Any] = await page.evaluate(
        "({sounds: window.__hooks.sounds, vibrations: window.__hooks.vibrations})"
    )
    return found
