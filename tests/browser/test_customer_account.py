"""The customer app's own corners in Chromium against a real hub in demo mode: rating a resolved
support chat once, the address book and the booking form that offers it, service packages bought
and used, paying by Alipay through the sandbox in one click, and a timeline in Chinese."""

from __future__ import annotations

import re
import uuid
from typing import Any

from playwright.async_api import Page, expect

from hub.keys import CONTEXT
from tests.browser.conftest import OpenPage
from tests.support.browser import DESK, PHONE, Demo, online, publish_screenshots, screenshot_path
from tests.support.clients import Peer


async def customer_page(open_page: OpenPage, demo: Demo, sub: str, **options: Any) -> Page:
    page = await open_page(demo.page("customer", sub), **PHONE, **options)
    await online(page)
    return page


async def screenshot_me(page: Page, name: str = "customer-me") -> None:
    """The "Me" tab, in English then in Chinese (docs/screenshots with HUB_UPDATE_SCREENSHOTS=1)."""
    await page.evaluate("document.getElementById('toast')?.setAttribute('hidden', ''); window.scrollTo(0, 0)")
    await page.screenshot(path=screenshot_path(name))
    await page.click("#lang-switch")
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(page.locator("#points-balance")).to_contain_text("积分")  # drawn again in Chinese
    await page.screenshot(path=screenshot_path(f"{name}-zh"))
    await page.click("#lang-switch")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    publish_screenshots([name, f"{name}-zh"])


async def csat_of(demo: Demo, conversation_id: str) -> Any:
    pool = demo.hub.app[CONTEXT].pool
    return await pool.fetchrow(
        "SELECT csat_score, csat_comment FROM conversations WHERE id = $1", uuid.UUID(conversation_id)
    )


async def open_and_resolve_support(page: Page, console: Page) -> str:
    """The customer opens a support chat; the agent on the console resolves it."""
    await page.click("#tab-chat")
    await page.click("#support-open")
    chat = page.locator("#chat")
    await expect(chat).to_have_attribute("data-conversation-id", re.compile(r".+"))
    conversation = await chat.get_attribute("data-conversation-id")
    assert conversation
    mine = console.locator(f'#mine li[data-conversation="{conversation}"]')
    await expect(mine).to_have_attribute("data-status", "assigned")
    await mine.click()
    await console.click("#chat-resolve")
    await expect(mine).to_have_attribute("data-status", "resolved")
    return conversation


async def test_a_resolved_support_chat_is_rated_once(demo: Demo, open_page: OpenPage) -> None:
    console = await open_page(demo.page("support", "support-01"), **DESK)
    await online(console)
    page = await customer_page(open_page, demo, "customer-04")
    prompt = page.locator("#csat")
    await expect(prompt).to_be_hidden()

    # Resolved: the prompt asks for 1-5; a score is needed before it can be sent.
    first = await open_and_resolve_support(page, console)
    await expect(prompt).to_be_visible()
    await expect(prompt).to_have_attribute("data-conversation-id", first)
    await expect(page.locator("#csat-submit")).to_be_disabled()
    await page.screenshot(path=screenshot_path("customer-csat"))
    await page.click('#csat .csat-score[data-score="4"]')
    await expect(page.locator("#csat .csat-score.on")).to_have_count(4)
    await page.fill("#csat-comment", "Quick and kind.")
    await page.click("#csat-submit")
    await expect(prompt).to_be_hidden()
    rated = page.locator(f'#conversations li[data-conversation-id="{first}"] .csat-given')
    await expect(rated).to_have_attribute("data-score", "4")
    row = await csat_of(demo, first)
    assert (row["csat_score"], row["csat_comment"]) == (4, "Quick and kind."), dict(row)

    # Not offered again, even after the page is loaded afresh.
    await page.reload()
    await online(page)
    await page.click("#tab-chat")
    await expect(rated).to_have_attribute("data-score", "4")
    await expect(prompt).to_be_hidden()

    # Another chat, rated from another device first: the page says so, and the first score stays.
    second = await open_and_resolve_support(page, console)
    await expect(prompt).to_have_attribute("data-conversation-id", second)
    other_device = await Peer("/customer").connect(demo.url, await demo.token("customer", "customer-04"))
    try:
        await other_device.ok("conversation:csat", {"conversation_id": second, "score": 2})
        refused = await other_device.error("conversation:csat", {"conversation_id": second, "score": 3})
        assert refused == "csat_already_given"
    finally:
        await other_device.close()
    await page.click('#csat .csat-score[data-score="5"]')
    await page.click("#csat-submit")
    error = page.locator("#csat-error")
    await expect(error).to_have_attribute("data-code", "csat_already_given")
    await expect(error).to_contain_text("already rated")
    await expect(page.locator("#csat-submit")).to_be_disabled()
    await page.screenshot(path=screenshot_path("customer-csat-refused"))
    second_row = page.locator(f'#conversations li[data-conversation-id="{second}"]')
    await expect(second_row.locator(".csat-given")).to_have_attribute("data-score", "2")
    assert (await csat_of(demo, second))["csat_score"] == 2
    await page.click("#csat-dismiss")
    await expect(prompt).to_be_hidden()


async def test_addresses_added_edited_made_default_and_deleted(demo: Demo, open_page: OpenPage) -> None:
    page = await customer_page(open_page, demo, "customer-01")
    page.on("dialog", lambda dialog: dialog.accept())  # "Delete …?"
    await page.click("#tab-me")
    rows = page.locator("#addresses li.address")
    await expect(rows).to_have_count(2)  # 家 (the default) and 父母家, in the demo data

    # Add one: its position starts at the default address's.
    await page.click("#address-add")
    await expect(page.locator("#address-lat")).to_have_value("31.2297")
    await page.fill("#address-label", "Office")
    await page.fill("#address-line", "徐汇区虹桥路1号 5楼")
    await page.fill("#address-lat", "31.1950")
    await page.fill("#address-lng", "121.4360")
    await page.click("#address-save")
    await expect(rows).to_have_count(3)
    office = rows.filter(has_text="Office")
    await expect(office).to_have_attribute("data-default", "false")

    # A position the hub refuses is said, by field; nothing changes.
    await office.locator(".address-edit").click()
    await page.fill("#address-lat", "123")
    await page.evaluate("document.getElementById('address-lat').removeAttribute('max')")  # past the browser
    await page.click("#address-save")
    await expect(page.locator("#address-error")).to_have_attribute("data-field", "lat")
    await expect(page.locator("#address-error")).to_contain_text("Latitude")

    # Edit it, then make it the default.
    await page.fill("#address-lat", "31.1950")
    await page.fill("#address-line", "徐汇区虹桥路1号 6楼")
    await page.click("#address-save")
    await expect(office).to_contain_text("6楼")
    await office.locator(".address-default").click()
    await expect(office).to_have_attribute("data-default", "true")
    await expect(rows.filter(has_text="家").first).to_have_attribute("data-default", "false")

    # The booking form offers them all, the default chosen.
    await page.click("#tab-home")
    await page.click('#services li.service[data-service-id="daily-cleaning"]')
    await page.click("#book-service")
    choices = page.locator("#book-address option")
    await expect(choices).to_have_count(3)
    await expect(page.locator("#book-address option:checked")).to_contain_text("Office")

    # Delete 父母家: the form, still open, no longer offers it.
    await page.click("#tab-me")
    await rows.filter(has_text="父母家").locator(".address-delete").click()
    await expect(rows).to_have_count(2)
    await expect(choices).to_have_count(2)
    saved = await demo.ok("GET", "/api/v1/customers/me/addresses", ("customer", "customer-01"))
    assert [(a["label"], a["is_default"]) for a in saved["items"]] == [("Office", True), ("家", False)]
    assert saved["items"][0]["line"] == "徐汇区虹桥路1号 6楼"
    await screenshot_me(page)


async def test_a_package_bought_with_alipay_then_a_visit_booked(demo: Demo, open_page: OpenPage) -> None:
    page = await customer_page(open_page, demo, "customer-02")
    await page.click("#tab-me")
    package = page.locator('#packages-on-sale li.package[data-service-id="daily-cleaning"]')
    await expect(package).to_contain_text("4")
    await package.locator(".buy-package").click()
    order = page.locator("#my-packages li.package-order")
    await expect(order).to_have_count(1)
    await expect(order).to_have_attribute("data-status", "pending_payment")
    order_id = await order.get_attribute("data-package-order-id")

    # Alipay, paid in one click: the sandbox opens the trade, pays it and sends its signed notify.
    prefix = f"#package-{order_id}-"
    await page.select_option(f"{prefix}pay-method", "alipay")
    await page.click(f"{prefix}pay-submit")
    await page.click(f"{prefix}pay-sandbox")
    await expect(order).to_have_attribute("data-status", "active")
    await expect(order).to_have_attribute("data-visits-left", "4")

    # A visit of it pays a booking: nothing more to pay, and dispatch starts.
    await order.locator(".book-visit").click()
    await expect(page.locator("#book-package")).to_have_value(order_id or "")
    await expect(page.locator("#book-coupon")).to_be_hidden()
    await expect(page.locator('#price-lines tr[data-code="package"]')).to_be_visible()
    await expect(page.locator("#book-submit")).to_be_enabled()
    await page.click("#book-submit")
    await expect(page.locator("#order-status")).to_have_attribute("data-status", "dispatching")
    await page.click("#tab-me")
    await expect(order).to_have_attribute("data-visits-left", "3")
    mine = await demo.ok("GET", "/api/v1/customers/me/packages", ("customer", "customer-02"))
    assert [(o["status"], o["visits_left"]) for o in mine["items"]] == [("active", 3)], mine


async def test_a_booking_paid_with_alipay_in_one_click(demo: Demo, open_page: OpenPage) -> None:
    page = await customer_page(open_page, demo, "customer-03")
    await page.click('#services li.service[data-service-id="daily-cleaning"]')
    await page.click("#book-service")
    await expect(page.locator("#book-submit")).to_be_enabled()
    await page.click("#book-submit")
    await expect(page.locator("#order")).to_have_attribute("data-status", "pending_payment")
    await page.select_option("#pay-method", "alipay")
    await page.click("#pay-submit")
    await expect(page.locator("#pay-sandbox")).to_be_visible()
    out_trade_no = await page.locator("#pay-status").get_attribute("data-out-trade-no")
    await page.click("#pay-sandbox")
    await expect(page.locator("#order-status")).to_have_attribute("data-status", "dispatching")
    # The sandbox, playing Alipay, told the hub with a notify of its own, which the hub took.
    status, trade = await demo.call("GET", f"/sandbox/alipay/sandbox/orders/{out_trade_no}")
    assert status == 200, trade
    assert trade["status"] == "TRADE_SUCCESS", trade
    assert trade["notifies"], trade
    assert trade["product_code"] == "QUICK_WAP_WAY", trade  # a phone: Alipay's mobile page


async def test_the_chinese_timeline_translates_the_hubs_notes(demo: Demo, open_page: OpenPage) -> None:
    booking = await demo.paid_booking("customer-05")
    page = await open_page(demo.page("customer", "customer-05", order=booking["id"]), locale="zh-CN", **PHONE)
    await online(page)
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    offered = page.locator('#order-timeline li[data-kind="offered"]').first
    await expect(offered.locator(".note")).to_have_text("第 1 轮派单")
    await expect(page.locator("#order-timeline")).not_to_contain_text("wave")
