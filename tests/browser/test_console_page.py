"""The support console page (clients/demo/support) in Chromium against a real hub in demo mode:
it starts from its snapshot and follows the console stream live, works items (acknowledge,
assign, note, resolve), acts on bookings (manual assignment, re-dispatch, refund), settles a
complaint with a compensation, and chats with a customer (canned replies, private notes, read
ticks)."""

from __future__ import annotations

import asyncio

from playwright.async_api import Page, expect

from tests.browser.conftest import OpenPage
from tests.support.browser import DESK, Demo, online
from tests.support.clients import Peer
from tests.support.waiting import WAIT, wait_until

SUPPORT = ("support", "support-01")
ADMIN = ("admin", "admin-01")


async def open_console(open_page: OpenPage, demo: Demo, sub: str = "support-01", **query: str) -> Page:
    page = await open_page(demo.page("support", sub, **query), **DESK)
    await online(page)
    await page.wait_for_function("window.__demo?.console?.mark !== null")
    return page


def item_row(page: Page, booking_id: str, kind: str = "dispatch_escalated") -> object:
    return page.locator(f'#items li[data-booking="{booking_id}"][data-kind="{kind}"]')


async def placeholder_fits(page: Page, selector: str) -> None:
    """The field's placeholder is not cut off: its text is no wider than the field's content box."""
    room, text = await page.eval_on_selector(
        selector,
        """el => {
          const style = getComputedStyle(el);
          const canvas = document.createElement("canvas").getContext("2d");
          canvas.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
          const room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
          return [room, canvas.measureText(el.placeholder).width];
        }""",
    )
    assert text <= room, (selector, text, room)


async def figure(page: Page, panel: str, key: str, value: str) -> None:
    """A header figure (``#fig-items [data-priority=urgent]``, say) shows ``value``."""
    attribute = "data-priority" if panel == "fig-items" else "data-status"
    await expect(page.locator(f'#{panel} li[{attribute}="{key}"] .n')).to_have_text(value)


async def test_snapshot_then_live_items_worked_in_the_page(demo: Demo, open_page: OpenPage) -> None:
    before = await demo.escalated_booking("customer-02")
    page = await open_console(open_page, demo)

    # From the snapshot: the item and the figures.
    await expect(item_row(page, before["id"])).to_have_count(1)
    await figure(page, "fig-items", "urgent", "1")
    await expect(page.locator(f'#orders li[data-booking="{before["id"]}"]')).to_have_attribute(
        "data-status", "dispatching"
    )

    # Live: another booking nobody can take.
    after = await demo.escalated_booking("customer-03")
    await expect(item_row(page, after["id"])).to_have_count(1)
    await figure(page, "fig-items", "urgent", "2")

    # Acknowledge, note and resolve the first one in the page.
    await item_row(page, before["id"]).click()
    detail = page.locator("#item-detail")
    await expect(detail).to_have_attribute("data-state", "open")
    await page.click("#item-ack")
    await expect(detail).to_have_attribute("data-state", "acknowledged")
    await expect(item_row(page, before["id"])).to_have_attribute("data-state", "acknowledged")
    await page.fill("#item-note-text", "Called the customer: the address is in Beijing.")
    await page.click("#item-note")
    await expect(page.locator('#item-history li[data-action="noted"]')).to_contain_text("Beijing")
    await page.fill("#item-resolve-text", "Cancelled with the customer.")
    await page.click("#item-resolve")
    await expect(item_row(page, before["id"])).to_have_count(0)
    await figure(page, "fig-items", "urgent", "1")

    # What the page did is what the hub holds.
    staff = await Peer("/support").connect(demo.url, await demo.token(*SUPPORT))
    try:
        detail_ack = await staff.ok(
            "item:get", {"item_id": await page.get_attribute("#item-detail", "data-item")}
        )
    finally:
        await staff.close()
    assert detail_ack["item"]["state"] == "resolved"
    assert detail_ack["item"]["resolution"] == "Cancelled with the customer."
    actions = [step["action"] for step in detail_ack["history"]]
    assert actions == ["opened", "acknowledged", "noted", "resolved"], actions
    # Each console entry was applied once (live ones of different items may cross on the way).
    applied = await page.evaluate("window.__demo.console.applied")
    assert len(applied) == len(set(applied)), applied


async def test_assign_redispatch_and_refund_from_the_order_monitor(demo: Demo, open_page: OpenPage) -> None:
    worker = await Peer("/worker").connect(demo.url, await demo.token("worker", "worker-03"))
    try:
        page = await open_console(open_page, demo)
        await expect(page.locator('#board li[data-worker="worker-03"]')).to_have_attribute(
            "data-status", "online"
        )
        booking = await demo.paid_booking("customer-01")
        row = page.locator(f'#orders li[data-booking="{booking["id"]}"]')
        await expect(row).to_have_attribute("data-status", "dispatching")

        # Manual assignment: the booking is worker-03's at once.
        await row.click()
        await expect(page.locator("#booking-detail")).to_have_attribute("data-booking", booking["id"])
        await page.fill("#assign-worker-id", "worker-03")
        await page.click("#assign-worker")
        await expect(row).to_have_attribute("data-status", "accepted")
        await expect(page.locator('#booking-timeline li[data-kind="assigned"]')).to_have_count(1)
        await figure(page, "fig-workers", "online", "1")

        # Re-dispatch: taken from the worker and offered again.
        await page.fill("#redispatch-reason", "The worker called in sick.")
        await page.click("#redispatch")
        await expect(row).to_have_attribute("data-status", "dispatching")
        await expect(page.locator('#booking-timeline li[data-kind="redispatched"]')).to_have_count(1)

        # Refund part of the price: recorded, sent back by hand (it was paid by hand). The amount's
        # hint is read whole, in either language.
        await placeholder_fits(page, "#refund-amount")
        await page.click("#lang-switch")
        await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        await placeholder_fits(page, "#refund-amount")
        await page.click("#lang-switch")
        await page.fill("#refund-amount", "20.50")
        await page.fill("#refund-reason", "Goodwill for the change of worker.")
        await page.click("#refund")
        await expect(page.locator('#booking-timeline li[data-kind="refund_requested"]')).to_have_count(1)
        refunds = await demo.ok(
            "GET", f"/api/v1/bookings/{booking['id']}/refunds", ("customer", "customer-01")
        )
        assert [r["amount_cents"] for r in refunds["items"]] == [2050], refunds
    finally:
        await worker.close()


async def test_a_complaint_settled_with_points_from_its_work_item(demo: Demo, open_page: OpenPage) -> None:
    worker = await Peer("/worker").connect(demo.url, await demo.token("worker", "worker-03"))
    staff = await Peer("/support").connect(demo.url, await demo.token(*ADMIN))
    try:
        booking = await demo.paid_booking("customer-01")
        await staff.ok("booking:assign", {"booking_id": booking["id"], "worker_id": "worker-03"})
        for step, extra in (
            ("job:depart", {"lat": 31.22, "lng": 121.46, "eta_minutes": 20}),
            ("job:arrive", {"lat": 31.2304, "lng": 121.4737}),
            ("job:start", {}),
            ("job:finish", {}),
        ):
            await worker.ok(step, {"booking_id": booking["id"], **extra})
        before = await demo.ok("GET", "/api/v1/customers/me/points", ("customer", "customer-01"))
        complaint = await demo.ok(
            "POST",
            f"/api/v1/bookings/{booking['id']}/complaints",
            ("customer", "customer-01"),
            {"category": "quality", "body": "The kitchen was not cleaned."},
        )

        page = await open_console(open_page, demo)
        row = item_row(page, booking["id"], "complaint")
        await expect(row).to_have_count(1)
        await row.click()
        panel = page.locator("#complaint")
        await expect(panel).to_have_attribute("data-status", "open")
        await expect(panel.locator("blockquote")).to_have_text("The kitchen was not cleaned.")
        await page.click("#complaint-investigate")
        await expect(panel).to_have_attribute("data-status", "investigating")
        await page.fill("#complaint-note-text", "The worker says the oven was off limits.")
        await page.click("#complaint-note")
        await expect(page.locator('#complaint-history li[data-action="noted"]')).to_have_count(1)
        await page.select_option("#complaint-resolution", "compensation_points")
        await page.fill("#complaint-points", "500")
        await page.fill("#complaint-resolve-note", "Sorry about the kitchen.")
        await page.click("#complaint-resolve")
        await expect(row).to_have_count(0)  # resolving the complaint resolves its item

        settled = await demo.ok("GET", f"/api/v1/complaints/{complaint['id']}", ("customer", "customer-01"))
        assert (settled["status"], settled["resolution"], settled["answer"]) == (
            "resolved",
            "compensation",
            "Sorry about the kitchen.",
        )
        after = await demo.ok("GET", "/api/v1/customers/me/points", ("customer", "customer-01"))
        assert after["balance"] == before["balance"] + 500, after
    finally:
        await worker.close()
        await staff.close()


async def test_support_chat_with_canned_replies_private_notes_and_read_ticks(
    demo: Demo, open_page: OpenPage
) -> None:
    page = await open_console(open_page, demo)
    customer = await Peer("/customer").connect(demo.url, await demo.token("customer", "customer-04"))
    try:
        opened = await customer.ok("support:open")
        conversation = opened["conversation"]["id"]
        await customer.ok(
            "chat:send",
            {"conversation_id": conversation, "client_id": "c-1", "body": "My cleaner has not come."},
        )

        # The agent is online: the conversation is given to them and shows among theirs.
        mine = page.locator(f'#mine li[data-conversation="{conversation}"]')
        await expect(mine).to_have_attribute("data-status", "assigned")
        await mine.click()
        await expect(page.locator("#chat-messages .msg.theirs")).to_contain_text("My cleaner has not come.")

        # A canned reply, edited, then a private note.
        await page.select_option("#canned", index=2)
        canned = await page.input_value("#chat-input")
        assert canned.startswith("Thank you for waiting"), canned
        await page.click("#chat-send")
        await page.check("#chat-private")
        await page.fill("#chat-input", "Worker phoned: stuck in traffic.")
        await page.click("#chat-send")
        await expect(page.locator('#chat-messages .msg[data-private="true"]')).to_contain_text(
            "stuck in traffic"
        )

        # The customer gets the reply, never the note; reading it ticks the agent's message.
        reply = await asyncio.wait_for(customer.next("chat:message"), WAIT)
        while reply["kind"] == "system":
            reply = await asyncio.wait_for(customer.next("chat:message"), WAIT)
        assert reply["body"] == canned
        mine_tick = page.locator(f'#chat-messages .msg.mine[data-seq="{reply["seq"]}"] .tick')
        await expect(mine_tick).to_have_attribute("data-tick", "sent")
        await customer.ok("chat:read", {"conversation_id": conversation, "seq": reply["seq"]})
        await expect(mine_tick).to_have_attribute("data-tick", "read")
        history = await customer.ok("chat:history", {"conversation_id": conversation})
        assert not [m for m in history["items"] if m["private"] or "traffic" in m["body"]]

        # Resolve it from the page.
        await page.click("#chat-resolve")
        await expect(mine).to_have_attribute("data-status", "resolved")
        await wait_until(lambda: customer.queues["conversation:resolved"].qsize() > 0, within=WAIT)
    finally:
        await customer.close()


async def test_an_away_agent_picks_from_the_queue_and_transfers(demo: Demo, open_page: OpenPage) -> None:
    page = await open_console(open_page, demo)
    admin = await Peer("/support").connect(demo.url, await demo.token(*ADMIN))
    customer = await Peer("/customer").connect(demo.url, await demo.token("customer", "customer-05"))
    try:
        await admin.ok("presence:set", {"status": "away"})
        await page.select_option("#agent-status", "away")  # given nothing: the customer waits

        async def agent_away() -> bool:
            board = await admin.ok("presence:snapshot")
            return any(a["user_id"] == "support-01" and a["status"] == "away" for a in board["agents"])

        await wait_until(agent_away)
        opened = await customer.ok("support:open")
        conversation = opened["conversation"]["id"]
        assert opened["position"] == 1, opened

        waiting = page.locator(f'#queue li[data-conversation="{conversation}"]')
        await expect(waiting).to_have_count(1)
        await waiting.locator(".pick").click()
        await expect(waiting).to_have_count(0)
        mine = page.locator(f'#mine li[data-conversation="{conversation}"]')
        await expect(mine).to_have_attribute("data-status", "assigned")
        await expect(page.locator("#chat")).to_have_attribute("data-conversation", conversation)
        assigned = await customer.next("conversation:assigned")
        assert (assigned["assigned_agent_id"], assigned["assigned_agent_role"]) == ("support-01", "support")

        # Handed to the admin, once she is online: she has it, and it leaves my list.
        await admin.ok("presence:set", {"status": "online"})
        target = page.locator("#chat-transfer-agent")
        await expect(target.locator('option[value="admin:admin-01"]')).to_have_count(1)
        await target.select_option("admin:admin-01")
        await page.click("#chat-transfer")
        await expect(mine).to_have_count(0)
        handed = await admin.next_where("conversation:assigned", lambda c: c["id"] == conversation)
        assert (handed["assigned_agent_id"], handed["assigned_agent_role"]) == ("admin-01", "admin")
    finally:
        await customer.close()
        await admin.close()
