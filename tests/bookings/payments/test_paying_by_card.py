"""Paying a booking through the hub with the card sandbox playing Stripe: the customer gets the
hosted page, the payer pays, the signed webhook reaches the hub's notify route and the booking is
dispatched; a forged notify changes nothing, a replayed one is a duplicate, a webhook that never
comes is made up for by asking the provider, and a method the hub does not have is refused."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bookings.payments.ledger import cash
from bookings.payments.sandbox.card import stripe_signature
from bookings.storage import ledger as ledger_store
from hub.keys import CONTEXT
from tests.support.bookings import booking_request, open_peer
from tests.support.card import WEBHOOK_SECRET, Setup, running
from tests.support.clients import Peer
from tests.support.hubs import RunningHub, StartHub
from tests.support.waiting import wait_until

RETURN_URL = "https://app.example.com/orders"


@pytest.fixture
async def card(start_hub: StartHub) -> AsyncIterator[Setup]:
    async with running(start_hub) as setup:
        yield setup


async def book(hub: RunningHub) -> dict[str, Any]:
    status, booking = await hub.http(
        "POST", "/api/v1/bookings", hub.token("customer", "c-1"), json=booking_request()
    )
    assert status == 201, booking
    return dict(booking)


async def pay_by_card(hub: RunningHub, booking: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    headers = {"Idempotency-Key": key} if key else {}
    status, payment = await hub.http(
        "POST",
        f"/api/v1/bookings/{booking['id']}/payments",
        hub.token("customer", "c-1"),
        json={"method": "card", "channel": "hosted", "return_url": RETURN_URL},
        headers=headers,
    )
    assert status == 201, payment
    return dict(payment)


async def booking_status(hub: RunningHub, booking_id: str) -> str:
    _, body = await hub.http("GET", f"/api/v1/bookings/{booking_id}", hub.token("customer", "c-1"))
    return str(body["status"])


async def test_a_card_payment_dispatches_the_booking(card: Setup, peers: list[Peer]) -> None:
    hub = card.hub
    worker = await open_peer(hub, peers, "/worker", "worker", "w-1")
    booking = await book(hub)
    payment = await pay_by_card(hub, booking, key="pay-1")
    assert (payment["status"], payment["amount_cents"]) == ("pending", booking["total_cents"])
    assert payment["client"]["url"].startswith(str(card.sandbox.make_url("/pay/")))
    again = await pay_by_card(hub, booking, key="pay-1")  # the app's retry: the same attempt
    assert again["id"] == payment["id"]

    await card.sandbox_post(f"/sandbox/pay/{payment['out_trade_no']}")
    offer = await worker.next("offer")  # paid: dispatch started
    assert offer["booking_id"] == booking["id"]
    assert await booking_status(hub, booking["id"]) == "dispatching"
    status, payments = await hub.http(
        "GET", f"/api/v1/bookings/{booking['id']}/payments", hub.token("customer", "c-1")
    )
    assert status == 200
    assert [(p["status"], p["method"]) for p in payments["items"]] == [("succeeded", "card")]
    pool = hub.app[CONTEXT].pool
    assert await ledger_store.balance(pool, cash("card")) == booking["total_cents"]

    async def delivered() -> bool:
        order = await card.order(payment["out_trade_no"])
        return all(d["state"] == "delivered" for d in order["notifies"])

    await wait_until(delivered)  # the hub's answer stopped the sandbox's retries


async def test_forged_and_replayed_notifies_change_nothing(card: Setup) -> None:
    hub = card.hub
    booking = await book(hub)
    payment = await pay_by_card(hub, booking)
    await card.sandbox_post(f"/sandbox/pay/{payment['out_trade_no']}")
    await wait_until(lambda: _is(hub, booking["id"], "dispatching"))
    sent = (await card.order(payment["out_trade_no"]))["notifies"][0]
    assert sent["state"] == "delivered"
    event = _completed_event(payment, booking["total_cents"])

    now = int(time.time())
    body = json.dumps(event).encode()
    forged = {
        "another secret": stripe_signature("whsec_someone_else", body, now),
        "stale": stripe_signature(WEBHOOK_SECRET, body, now - 3600),
        "no signature": "t=1",
    }
    for name, signature in forged.items():
        status, _ = await card.notify(body, signature)
        assert status == 400, name
    tampered = json.dumps({**event, "data": {"object": {**event["data"]["object"], "amount_total": 1}}})
    status, _ = await card.notify(tampered.encode(), stripe_signature(WEBHOOK_SECRET, body, now))
    assert status == 400
    # Genuine but for another amount: refused, nothing changes.
    cheaper = json.dumps(_completed_event(payment, booking["total_cents"] - 100)).encode()
    status, _ = await card.notify(cheaper, stripe_signature(WEBHOOK_SECRET, cheaper, now))
    assert status == 400
    # The genuine one again (a replay), 20 times at once: acknowledged, nothing changes.
    answers = await asyncio.gather(
        *(card.notify(body, stripe_signature(WEBHOOK_SECRET, body, now)) for _ in range(20))
    )
    assert [status for status, _ in answers] == [200] * 20
    pool = hub.app[CONTEXT].pool
    assert await ledger_store.balance(pool, cash("card")) == booking["total_cents"]
    assert await pool.fetchval("SELECT count(*) FROM ledger_transactions WHERE kind = 'payment'") == 1


async def test_a_webhook_that_never_comes_is_made_up_for_by_asking(start_hub: StartHub) -> None:
    async with running(start_hub, webhooks=False, HUB_PAY_QUERY_AFTER_SECONDS="0.5") as card:
        booking = await book(card.hub)
        payment = await pay_by_card(card.hub, booking)
        await card.sandbox_post(f"/sandbox/pay/{payment['out_trade_no']}")  # no webhook is sent
        hub, booking_id = card.hub, booking["id"]
        await wait_until(lambda: _is(hub, booking_id, "dispatching"))


async def test_a_method_the_hub_does_not_have_is_refused(card: Setup) -> None:
    hub = card.hub
    booking = await book(hub)
    status, body = await hub.http(
        "POST",
        f"/api/v1/bookings/{booking['id']}/payments",
        hub.token("customer", "c-1"),
        json={"method": "alipay", "channel": "page"},
    )
    assert status == 422, body
    assert body["error"]["code"] == "payment_method_unavailable"
    status, body = await hub.http(
        "POST",
        f"/api/v1/bookings/{booking['id']}/payments",
        hub.token("customer", "c-2"),
        json={"method": "card", "channel": "hosted"},
    )
    assert status == 404, body  # another customer's booking


async def _is(hub: RunningHub, booking_id: str, status: str) -> bool:
    return await booking_status(hub, booking_id) == status


def _completed_event(payment: dict[str, Any], amount: int) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": "checkout.session.completed",
        "created": int(time.time()),
        "livemode": False,
        "data": {
            "object": {
                "id": "cs_test_replayed",
                "object": "checkout.session",
                "client_reference_id": payment["out_trade_no"],
                "metadata": {"out_trade_no": payment["out_trade_no"]},
                "amount_total": amount,
                "currency": "cny",
                "payment_status": "paid",
                "status": "complete",
                "payment_intent": "pi_test_replayed",
            }
        },
    }


async def test_a_declined_card_is_shown_to_the_customer_and_can_be_tried_again(
    card: Setup, peers: list[Peer]
) -> None:
    hub = card.hub
    customer = await open_peer(hub, peers, "/customer", "customer", "c-1")
    agent = await open_peer(hub, peers, "/support", "support", "agent-1")
    booking = await book(hub)
    declined = await pay_by_card(hub, booking)
    await card.sandbox_post(f"/sandbox/pay/{declined['out_trade_no']}", {"outcome": "fail"})
    update = await customer.next_where("booking:updated", lambda u: u["entry"]["kind"] == "payment_failed")
    assert update["booking"]["status"] == "pending_payment"
    told = await customer.next_where("notification", lambda n: n["title"] == "Payment did not go through")
    assert told["data"]["booking_id"] == booking["id"]
    # Another attempt pays it.
    second = await pay_by_card(hub, booking)
    await card.sandbox_post(f"/sandbox/pay/{second['out_trade_no']}")
    await wait_until(lambda: _is(hub, booking["id"], "dispatching"))
    _, payments = await hub.http(
        "GET", f"/api/v1/bookings/{booking['id']}/payments", hub.token("customer", "c-1")
    )
    assert [p["status"] for p in payments["items"]] == ["failed", "succeeded"]
    # The console had a work item for the failure, answered by the payment that went through.
    item = await agent.next_where("item:updated", lambda u: u["item"]["kind"] == "payment_failed")
    assert (item["action"], item["item"]["booking_id"]) == ("opened", booking["id"])
    assert item["item"]["person"] == {"role": "customer", "id": "c-1"}
    done = await agent.next_where("item:updated", lambda u: u["item"]["id"] == item["item"]["id"])
    assert (done["action"], done["item"]["state"]) == ("resolved", "resolved")


async def paid_booking(card: Setup) -> tuple[dict[str, Any], dict[str, Any]]:
    booking = await book(card.hub)
    payment = await pay_by_card(card.hub, booking)
    await card.sandbox_post(f"/sandbox/pay/{payment['out_trade_no']}")
    await wait_until(lambda: _is(card.hub, booking["id"], "dispatching"))
    return booking, payment


async def refunds_of(hub: RunningHub, booking_id: str) -> list[dict[str, Any]]:
    status, body = await hub.http(
        "GET", f"/api/v1/bookings/{booking_id}/refunds", hub.token("customer", "c-1")
    )
    assert status == 200, body
    return list(body["items"])


async def test_a_cancelled_paid_booking_is_refunded_through_the_card_provider(card: Setup) -> None:
    hub = card.hub
    booking, payment = await paid_booking(card)
    status, cancelled = await hub.http(
        "POST", f"/api/v1/bookings/{booking['id']}/cancel", hub.token("customer", "c-1"), json={}
    )
    assert status == 200, cancelled
    refunds = await refunds_of(hub, booking["id"])
    assert [(r["amount_cents"], r["status"]) for r in refunds] == [(booking["total_cents"], "succeeded")]
    order = await card.order(payment["out_trade_no"])
    assert order["refunded"] == booking["total_cents"]  # the money left the provider
    pool = hub.app[CONTEXT].pool
    assert await ledger_store.balance(pool, cash("card")) == 0
    # The refund's own webhook comes too: recognised as the same refund, nothing changes.
    await wait_until(lambda: _all_delivered(card, payment["out_trade_no"]))
    assert await ledger_store.balance(pool, cash("card")) == 0


async def test_a_paid_booking_nobody_took_by_its_start_is_cancelled_and_refunded(card: Setup) -> None:
    hub = card.hub
    booking, _ = await paid_booking(card)
    await hub.app[CONTEXT].pool.execute(
        "UPDATE bookings SET slot_start = now() - interval '1 minute' WHERE id = $1", uuid.UUID(booking["id"])
    )
    await wait_until(lambda: _is(hub, booking["id"], "cancelled"))

    async def refunded() -> bool:
        return [r["status"] for r in await refunds_of(hub, booking["id"])] == ["succeeded"]

    await wait_until(refunded)


async def _all_delivered(card: Setup, out_trade_no: str) -> bool:
    order = await card.order(out_trade_no)
    return len(order["notifies"]) >= 2 and all(d["state"] == "delivered" for d in order["notifies"])


async def test_the_console_refunds_over_the_socket_once_per_client_id(card: Setup, peers: list[Peer]) -> None:
    hub = card.hub
    agent = await open_peer(hub, peers, "/support", "support", "agent-1")
    booking, payment = await paid_booking(card)
    half = booking["total_cents"] // 2
    ask = {"booking_id": booking["id"], "client_id": "r-1", "amount_cents": half, "reason": "goodwill"}
    first = await agent.ok("booking:refund", ask)
    assert (first["amount_cents"], first["status"]) == (half, "requested")
    again = await agent.ok("booking:refund", ask)  # the ack was lost: the same refund, not a second
    assert again["id"] == first["id"]
    assert await agent.error("booking:refund", {**ask, "amount_cents": half - 1}) == "idempotency_key_reused"
    too_much = {**ask, "client_id": "r-2", "amount_cents": booking["total_cents"]}
    assert await agent.error("booking:refund", too_much) == "refund_exceeds_paid"
    assert await agent.error("booking:refund", {**ask, "client_id": "r-3", "reason": ""}) == "invalid_payload"
    assert await agent.error(
        "booking:refund", {**ask, "booking_id": str(uuid.uuid4()), "client_id": "r-4"}
    ) == ("booking_not_found")
    customer = await open_peer(hub, peers, "/customer", "customer", "c-1")
    assert (await customer.call("booking:refund", {**ask, "client_id": "r-5"}))["ok"] is False

    async def refunded() -> bool:
        return [(r["amount_cents"], r["status"]) for r in await refunds_of(hub, booking["id"])] == [
            (half, "succeeded")
        ]

    await wait_until(refunded)
    assert (await card.order(payment["out_trade_no"]))["refunded"] == half
