"""The API reference pages in Chromium, against the hub in demo mode (bookings loaded): Swagger UI
renders the operations of ``/api/v1/openapi.json`` and the AsyncAPI component the events of
``/api/v1/asyncapi.json``, both reached from the front page and from each other, from the hub
alone (no request leaves it), under the pages' own Content-Security-Policy and without a script
error. Each page leaves screenshots in ``artifacts/screenshots``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.support.browser import DESK, EXPECT_MS, Demo, screenshot_path

# Both renderers build the whole page at once, and the AsyncAPI component first parses and
# validates the whole document (some 130 operations): seconds on an idle machine, 20 s and more
# on a loaded two-core one, while the page answers nothing. The first wait for each is this long;
# every later one is the usual.
RENDER_MS = 12 * EXPECT_MS
# Kept in the page before any of its scripts runs: every Content-Security-Policy violation.
VIOLATIONS = """
(() => {
  const seen = [];
  Object.defineProperty(window, "__violations", { value: seen });
  document.addEventListener("securitypolicyviolation", (event) => {
    seen.push(`${event.effectiveDirective}: ${event.blockedURI}`);
  });
})();
"""


class Watched:
    """A browser context whose requests, script errors, console errors and policy violations are kept."""

    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self.requests: list[str] = []
        self.errors: list[str] = []
        context.on("request", lambda request: self.requests.append(request.url))

    async def open(self, url: str) -> Page:
        page = await self.context.new_page()
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))
        page.on("console", lambda message: self._console(page, message.type, message.text))
        response = await page.goto(url)
        assert response is not None, url
        assert response.status == 200, url
        return page

    def _console(self, page: Page, kind: str, text: str) -> None:
        if kind == "error":
            self.errors.append(f"{page.url}: {text}")

    async def check(self, page: Page, hub_url: str) -> None:
        """Nothing asked of anyone but the hub, nothing the policy refused, no error."""
        origin = urlsplit(hub_url).netloc
        elsewhere = [url for url in self.requests if urlsplit(url).netloc != origin]
        assert not elsewhere, f"requests that left the hub: {elsewhere}"
        violations: list[str] = await page.evaluate("window.__violations")
        assert not violations, f"Content-Security-Policy violations: {violations}"
        assert not self.errors, "errors in the pages:\n" + "\n".join(self.errors)


@pytest.fixture
async def watched(browser: Browser) -> AsyncIterator[Watched]:
    context = await browser.new_context(locale="en-GB", **DESK)
    context.set_default_timeout(EXPECT_MS)
    await context.add_init_script(VIOLATIONS)
    yield Watched(context)
    await context.close()


def operation_count(document: dict[str, Any]) -> int:
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return sum(1 for item in document["paths"].values() for method in item if method in methods)


def rendered_id(operation_id: str, operation: dict[str, Any]) -> str:
    """The element id the AsyncAPI component gives an operation: ``reply`` for one that
    answers (every client event, with its ack), else its action."""
    kind = "reply" if operation["action"] == "receive" and "reply" in operation else operation["action"]
    return f"operation-{kind}-{operation_id}"


async def test_the_http_api_reference_renders_the_openapi_document(demo: Demo, watched: Watched) -> None:
    document: dict[str, Any] = await demo.ok("GET", "/api/v1/openapi.json")
    create_booking = document["paths"]["/api/v1/bookings"]["post"]

    page = await watched.open(demo.url + "/")
    await page.get_by_role("link", name="API reference: the HTTP API").click()
    await expect(page).to_have_title("HTTP API reference · Home-services hub")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text(
        document["info"]["title"], timeout=RENDER_MS
    )
    await expect(page.locator("#reference-loading")).to_have_count(0)
    # Every operation of the document, each tag's, not only the first one's.
    await expect(page.locator(".opblock-summary-path")).to_have_count(operation_count(document))
    await expect(page.locator('.reference-bar a[aria-current="page"]')).to_have_text("HTTP API")
    await page.screenshot(path=screenshot_path("api-reference-http"))

    # POST /api/v1/bookings with its summary; opened, its request body's fields.
    booking = page.locator(
        ".opblock-post", has=page.locator('.opblock-summary-path[data-path="/api/v1/bookings"]')
    )
    await expect(booking.locator(".opblock-summary-description")).to_have_text(create_booking["summary"])
    await booking.locator(".opblock-summary-control").click()
    await expect(booking.locator(".opblock-body")).to_contain_text("service_id")
    await booking.scroll_into_view_if_needed()
    await page.screenshot(path=screenshot_path("api-reference-http-booking"))

    await page.locator('.reference-bar a[href="/"]').click()
    await expect(page.locator("#front-links")).to_be_visible()
    await watched.check(page, demo.url)


async def test_the_socketio_reference_renders_the_asyncapi_document(demo: Demo, watched: Watched) -> None:
    document: dict[str, Any] = await demo.ok("GET", "/api/v1/asyncapi.json")
    operations: dict[str, Any] = document["operations"]
    chat_send = operations["customer-emit-chat-send"]
    offer = operations["worker-on-offer"]  # an event the hub sends, which bookings adds

    page = await watched.open(demo.url + "/api/docs/socketio")
    await expect(page).to_have_title("Socket.IO protocol reference · Home-services hub")
    await expect(page.locator("#introduction")).to_contain_text(document["info"]["title"], timeout=RENDER_MS)
    await expect(page.locator("#reference-loading")).to_have_count(0)
    await expect(page.locator('.reference-bar a[aria-current="page"]')).to_have_text("Socket.IO protocol")
    # Every operation of the document has its element.
    ids = set(await page.evaluate("[...document.querySelectorAll('[id^=operation-]')].map(e => e.id)"))
    missing = {rendered_id(key, operation) for key, operation in operations.items()} - ids
    assert not missing, f"operations not rendered: {sorted(missing)}"
    await page.screenshot(path=screenshot_path("api-reference-socketio"))

    # The customer's chat:send: what the client emits, its summary, its message.
    emit = page.locator("#" + rendered_id("customer-emit-chat-send", chat_send))
    await expect(emit).to_contain_text("Client emits", ignore_case=True)
    await expect(emit).to_contain_text(chat_send["summary"])
    await expect(emit).to_contain_text("chat:send")
    await expect(emit).to_contain_text("Object [ChatSend]", ignore_case=True)
    # The worker's offer: what the hub sends.
    on_offer = page.locator("#" + rendered_id("worker-on-offer", offer))
    await expect(on_offer).to_contain_text("Hub sends", ignore_case=True)
    await expect(on_offer).to_contain_text(offer["summary"])
    await emit.screenshot(path=screenshot_path("api-reference-socketio-chat-send"))

    await page.locator('.reference-bar a[href="/api/docs"]').click()
    await expect(page).to_have_title("HTTP API reference · Home-services hub")
    await expect(page.locator(".opblock-summary-path").first).to_be_visible(timeout=RENDER_MS)
    await watched.check(page, demo.url)
