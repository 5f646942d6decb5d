"""The whole story in three browsers: a customer's phone, a worker's phone and the support desk,
all on one hub in demo mode. The customer books 张丽 (worker-03) and pays by card on the
sandbox's hosted page; her phone rings (a sound and the offer's vibration) and she accepts; the
customer follows her setting off with an ETA, her position and her arrival; they chat with read
ticks; the console shows her busy on the board and the booking's timeline; she finishes, the
customer reviews her, she sees the review and replies. Each page's screenshot is kept."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import OpenPage
from tests.support.browser import DESK, PHONE, Demo, hooks, online, publish_screenshots, screenshot_path

WORKER = "worker-03"  # 张丽: daily and window cleaning, in the demo data


async def screenshots(pages: dict[str, Page]) -> None:
    """Each page as it ends the story, in English then in Chinese."""
    names = []
    for name, page in pages.items():
        await page.evaluate("document.getElementById('toast')?.setAttribute('hidden', '')")
        await page.screenshot(path=screenshot_path(name))
        await page.click("#lang-switch")
        await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        await page.screenshot(path=screenshot_path(f"{name}-zh"))
        names += [name, f"{name}-zh"]
    publish_screenshots(names)


async def test_book_pay_ring_accept_travel_chat_watch_finish_review(demo: Demo, open_page: OpenPage) -> None:
    worker = await open_page(demo.page("worker", WORKER), **PHONE)
    await online(worker)
    await expect(worker.locator("#my-status")).to_have_attribute("data-status", "online")
    console = await open_page(demo.page("support", "support-01"), **DESK)
    await online(console)
    customer = await open_page(demo.page("customer", "customer-01"), **PHONE)
    await online(customer)

    # The customer finds daily cleaning, picks 张丽 from its workers and books her for tomorrow.
    await customer.click('#services li.service[data-service-id="daily-cleaning"]')
    await customer.click(f'#service-workers li.worker[data-worker-id="{WORKER}"]')
    await expect(customer.locator("#worker-name")).to_have_text("张丽")
    await customer.click("#worker-profile #book-worker")
    await expect(customer.locator("#price-lines tr[data-code]").first).to_be_visible()
    await expect(customer.locator("#book-submit")).to_be_enabled()
    await customer.click("#book-submit")
    order = customer.locator("#order")
    await expect(order).to_have_attribute("data-status", "pending_payment")
    booking_id = await order.get_attribute("data-booking-id")
    assert booking_id

    # Pays by card on the sandbox's hosted page (another tab), and the order moves on by itself.
    await customer.select_option("#pay-method", "card")
    await customer.click("#pay-submit")
    async with customer.context.expect_page() as opened:
        await customer.click("#pay-hosted-link")
    card_page = await opened.value
    await card_page.click('button[value="success"]')
    await expect(customer.locator("#order-status")).to_have_attribute("data-status", "dispatching")
    await card_page.close()

    # 张丽's phone rings: the offer on a full-screen card, a sound, the offer's vibration.
    card = worker.locator("#offer-card")
    await expect(card).to_be_visible()
    await expect(card).to_have_attribute("data-booking-id", booking_id)
    offers = await worker.evaluate("window.__demo.hub.call('offer:list')")
    pattern = offers["data"]["items"][0]["alert"]["vibrate"]
    assert pattern, offers
    await worker.wait_for_function("window.__demo.audioPlays >= 1 && window.__hooks.sounds >= 1")
    heard = await hooks(worker)
    assert pattern in heard["vibrations"], heard
    assert pattern in await worker.evaluate("window.__demo.vibrations")
    await worker.click("#accept-offer")
    await expect(card).to_be_hidden()
    await expect(customer.locator("#order-status")).to_have_attribute("data-status", "accepted")
    await expect(customer.locator("#order-worker")).to_have_attribute("data-worker-id", WORKER)

    # She sets off from her base with an ETA: the customer sees it, and where she is.
    job = worker.locator("#current-job")
    await expect(job).to_have_attribute("data-booking-id", booking_id)
    await worker.click("#position summary")
    await worker.uncheck("#simulate-travel")  # she stays where she says, for a sure arrival below
    await worker.fill("#job-eta", "25")
    await worker.click("#job-depart")
    await expect(worker.locator("#job-status")).to_have_attribute("data-status", "on_the_way")
    await expect(worker.locator("#my-status")).to_have_attribute("data-status", "busy")
    await expect(customer.locator("#order-status")).to_have_attribute("data-status", "on_the_way")
    await expect(customer.locator('#order-timeline li[data-kind="departed"]')).to_contain_text("25")
    await expect(customer.locator("#order-map circle.worker")).to_have_count(1)
    await expect(customer.locator("#order-eta")).not_to_have_attribute("data-distance-m", "")  # live position

    # The console: she is busy on the board, and the booking's timeline is there.
    await expect(console.locator(f'#board li[data-worker="{WORKER}"]')).to_have_attribute(
        "data-status", "busy"
    )
    row = console.locator(f'#orders-panel li[data-booking="{booking_id}"]')  # under way, then done
    await expect(row).to_have_attribute("data-status", "on_the_way")
    await row.click()
    timeline = console.locator("#booking-timeline")
    for kind in ("created", "paid", "accepted", "departed"):
        await expect(timeline.locator(f'li[data-kind="{kind}"]')).to_have_count(1)

    # She arrives at the address.
    await worker.click("#position summary")  # the job's card was drawn again, folded
    await worker.click("#position-at-address")
    await worker.click("#job-arrive")
    await expect(customer.locator("#order-status")).to_have_attribute("data-status", "arrived")
    await expect(timeline.locator('li[data-kind="arrived"]')).to_have_count(1)
    await expect(console.locator('#items li[data-kind="arrival_flagged"]')).to_have_count(0)

    # They chat; each sees the other's message and their own ticked as read.
    await customer.click("#order-chat-worker")
    await customer.fill("#chat-input", "The door code is 1234.")
    await customer.click("#chat-send")
    await worker.click("#job-chat")
    theirs = worker.locator("#chat-messages .msg:not(.mine)")
    await expect(theirs.last).to_contain_text("The door code is 1234.")
    await expect(customer.locator("#chat-messages .msg.mine .tick").last).to_have_attribute(
        "data-tick", "read"
    )
    await worker.fill("#chat-input", "Thanks, I am at the door.")
    await worker.click("#chat-send")
    await expect(customer.locator("#chat-messages .msg:not(.mine)").last).to_contain_text("I am at the door")
    await expect(worker.locator("#chat-messages .msg.mine .tick").last).to_have_attribute("data-tick", "read")

    # She starts and finishes; the customer reviews her.
    await worker.click("#tab-jobs")
    await worker.click("#job-start")
    await expect(worker.locator("#job-status")).to_have_attribute("data-status", "in_service")
    await worker.click("#job-finish")
    await expect(customer.locator("#order-status")).to_have_attribute("data-status", "completed")
    await expect(row).to_have_attribute("data-status", "completed")
    await expect(console.locator(f'#board li[data-worker="{WORKER}"]')).to_have_attribute(
        "data-status", "online"
    )
    await customer.click("#tab-orders")
    await expect(customer.locator("#review-form")).to_be_visible()
    await customer.select_option("#review-quality", "5")
    await customer.select_option("#review-attitude", "5")
    await customer.select_option("#review-skill", "4")
    await customer.fill("#review-comment", "Spotless kitchen, thank you!")
    await customer.click("#review-submit")
    await expect(customer.locator("#review")).to_contain_text("Spotless kitchen")

    # She sees the review and replies; the customer is told.
    await worker.click("#tab-jobs")
    review = worker.locator("#my-reviews li.review")
    await expect(review).to_contain_text("Spotless kitchen")
    await review.locator(".review-reply-text").fill("Thank you, see you next week!")
    await review.locator(".review-reply-submit").click()
    await expect(review.locator(".reply")).to_contain_text("see you next week")
    await customer.click("#tab-inbox")
    await expect(customer.locator('#inbox-list li[data-kind="review_reply"]')).to_contain_text(
        "see you next week"
    )

    await customer.click("#tab-orders")  # the order, its timeline and the review, for the picture
    await expect(customer.locator("#review")).to_be_visible()
    await screenshots({"customer": customer, "worker": worker, "console": console})
