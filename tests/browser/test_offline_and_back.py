"""A page that loses its network says it is offline (not reconnecting) until the network is back,
then reconnecting, then online, and shows every thing it missed once, in order: the support
console's work items (the console stream, replayed from its mark) and the customer's chat
messages (the conversation's stream)."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import OpenPage
from tests.support.browser import DESK, PHONE, Demo, online
from tests.support.clients import Peer


async def offline(page: Page) -> None:
    """The browser has no network: the page's socket is gone and it says it is offline."""
    await page.context.set_offline(True)
    await expect(page.locator("#connection-state")).to_have_attribute("data-state", "offline")


# Records, from now on, every connection state the page's Hub goes through, socket.io-client's
# reconnection attempts and the sync answers applied (in window.__watch).
WATCH = """hub => {
  const watch = (window.__watch = { states: [], attempts: 0, synced: 0 });
  hub.on("state", (s) => watch.states.push(s.state));
  hub.socket.io.on("reconnect_attempt", () => (watch.attempts += 1));
  hub.on("synced", () => (watch.synced += 1));
}"""


async def test_every_page_says_offline_while_the_network_is_gone(demo: Demo, open_page: OpenPage) -> None:
    pages = {
        "customer": await open_page(demo.page("customer", "customer-01"), **PHONE),
        "worker": await open_page(demo.page("worker", "worker-03"), **PHONE),
        "console": await open_page(demo.page("support", "support-01"), **DESK),
    }
    for page in pages.values():
        await online(page)
        hub = "window.__demo.console.hub" if page is pages["console"] else "window.__demo.hub"
        await page.evaluate(f"({WATCH})({hub})")

    for name, page in pages.items():
        await offline(page)
        # socket.io-client keeps trying, and failing: the page still says offline, not reconnecting.
        await page.wait_for_function("window.__watch.attempts >= 2")
        state = page.locator("#connection-state")
        await expect(state).to_have_attribute("data-state", "offline")
        await expect(state).to_have_text("Offline")
        await page.click("#lang-switch")
        await expect(state).to_have_text("离线")
        states = await page.evaluate("window.__watch.states")
        assert states == ["offline"], (name, states)

    for name, page in pages.items():
        synced = await page.evaluate("window.__watch.synced")
        await page.context.set_offline(False)
        await online(page)
        await expect(page.locator("#connection-state")).to_have_text("在线")
        states = await page.evaluate("window.__watch.states")
        assert states[-2:] == ["reconnecting", "online"], (name, states)
        assert "offline" not in states[states.index("reconnecting") :], (name, states)
        # Back online, it asks for what it missed (the marks in auth.sync) and applies the answer.
        await page.wait_for_function(f"window.__watch.synced > {synced}")


async def test_the_console_gets_every_item_it_missed_once_in_order(demo: Demo, open_page: OpenPage) -> None:
    first = await demo.escalated_booking("customer-02")
    page = await open_page(demo.page("support", "support-01"), **DESK)
    await online(page)
    rows = page.locator("#items li[data-item]")
    await expect(rows).to_have_count(1)
    start = await page.evaluate("window.__demo.console.mark")
    assert start is not None

    await offline(page)
    # While it is away: three bookings nobody can take, and another agent takes the first item.
    missed = [
        await demo.escalated_booking(customer) for customer in ("customer-03", "customer-04", "customer-05")
    ]
    admin = await Peer("/support").connect(demo.url, await demo.token("admin", "admin-01"))
    try:
        items = (await admin.ok("items:list", {"kind": "dispatch_escalated"}))["items"]
        first_item = next(i for i in items if i["booking_id"] == first["id"])
        await admin.ok("item:acknowledge", {"item_id": first_item["id"]})
        await expect(rows).to_have_count(1)  # nothing reached the page meanwhile

        await page.context.set_offline(False)
        await online(page)
        # Each item once, in the hub's order: most pressing, then oldest first.
        await expect(rows).to_have_count(4)
        await expect(page.locator(f'#items li[data-booking="{first["id"]}"]')).to_have_attribute(
            "data-state", "acknowledged"
        )
        shown = await rows.evaluate_all("rows => rows.map(r => r.dataset.booking)")
        queue = (await admin.ok("items:list", {"kind": "dispatch_escalated"}))["items"]
        assert shown == [i["booking_id"] for i in queue], shown
        assert set(shown) == {first["id"], *(b["id"] for b in missed)}
        await expect(page.locator('#fig-items li[data-priority="urgent"] .n')).to_have_text("4")

        # Every console entry since the page's snapshot, as the stream holds them, was applied
        # once (live ones may overtake the replay: the console's state does not depend on it).
        stream = (await admin.ok("sync", {"console_since": start}))["console"]
    finally:
        await admin.close()
    last = stream["last_seq"]
    assert [e["seq"] for e in stream["events"]] == list(range(start + 1, last + 1))
    await page.wait_for_function(f"window.__demo.console.mark >= {last}")
    applied = await page.evaluate("window.__demo.console.applied")
    assert sorted(applied) == list(range(start + 1, last + 1)), (start, last, applied)


async def test_the_customer_gets_every_message_it_missed_once_in_order(
    demo: Demo, open_page: OpenPage
) -> None:
    booking = await demo.paid_booking("customer-01")
    admin = await Peer("/support").connect(demo.url, await demo.token("admin", "admin-01"))
    worker = await Peer("/worker").connect(demo.url, await demo.token("worker", "worker-03"))
    try:
        await admin.ok("booking:assign", {"booking_id": booking["id"], "worker_id": "worker-03"})
        chats = (await worker.ok("conversations:list"))["items"]
        conversation = next(c["id"] for c in chats if c["booking_id"] == booking["id"])

        page = await open_page(demo.page("customer", "customer-01", order=booking["id"]), **PHONE)
        await online(page)
        await expect(page.locator("#order")).to_have_attribute("data-status", "accepted")
        await page.click("#order-chat-worker")
        await worker.ok("chat:send", {"conversation_id": conversation, "client_id": "m-0", "body": "Hello!"})
        theirs = page.locator("#chat-messages .msg:not(.mine)")
        await expect(theirs).to_have_count(1)

        await offline(page)
        sent = [f"Message {n} while you were away" for n in range(1, 6)]
        for n, body in enumerate(sent, start=1):
            await worker.ok(
                "chat:send", {"conversation_id": conversation, "client_id": f"m-{n}", "body": body}
            )
        await expect(theirs).to_have_count(1)  # nothing reached the page meanwhile

        await page.context.set_offline(False)
        await online(page)
        await expect(theirs).to_have_count(6)
        await expect(theirs).to_contain_text(["Hello!", *sent])  # once each, in order
        seqs = await theirs.evaluate_all("messages => messages.map(m => Number(m.dataset.seq))")
        assert seqs == sorted(set(seqs)), seqs
    finally:
        await worker.close()
        await admin.close()
