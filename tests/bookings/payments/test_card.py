"""The card provider against its sandbox, real HTTP both ways: the provider calls the sandbox's
Stripe API; the sandbox signs webhooks and posts them to a receiver that verifies them with the
provider and answers what the provider says Stripe counts as success or failure."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bookings.payments.providers.base import (
    Notice,
    NoticeKind,
    NoticeStatus,
    NotifyRejected,
    NotifyRequest,
    PaymentOrder,
    ProviderError,
    RefundOrder,
    RefundStatus,
)
from bookings.payments.providers.card import CardConfig, CardProvider
from bookings.payments.sandbox.card import CardSandboxConfig, create_app, stripe_signature
from hub.env import ConfigError
from tests.support.waiting import WAIT, wait_until

SECRET_KEY = "sk_test_" + secrets.token_hex(16)
WEBHOOK_SECRET = "whsec_" + secrets.token_hex(16)
ACCOUNT = "acct_1SandboxAccount"
FAST_RETRIES = (0.05, 0.05, 0.05)  # four attempts at most, in moments
RETURN_URL = "https://app.example.com/orders/42?tab=pay"
FUZZ_EXAMPLES = int(os.environ.get("HUB_FUZZ_EXAMPLES", "300"))


@dataclass
class Receiver:
    """The hub's side of the webhook: verify with the provider, answer as it says."""

    provider: CardProvider | None = None
    refuse_next: int = 0  # genuine notifies to refuse anyway, as a hub that cannot store them yet
    notices: asyncio.Queue[Notice] = field(default_factory=asyncio.Queue)
    rejected: list[str] = field(default_factory=list)
    raw: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        assert self.provider is not None
        body = await request.read()
        headers = {name.lower(): value for name, value in request.headers.items()}
        self.raw.append((headers, body))
        try:
            notice = self.provider.verify_notify(NotifyRequest(headers, body, datetime.now(UTC)))
        except NotifyRejected as exc:
            self.rejected.append(exc.reason)
            answer = self.provider.refused(exc.reason)
        else:
            if self.refuse_next > 0:
                self.refuse_next -= 1
                answer = self.provider.refused("busy")
            else:
                await self.notices.put(notice)
                answer = self.provider.accepted()
        return web.Response(status=answer.status, body=answer.body, content_type=answer.content_type)

    async def next(self) -> Notice:
        return await asyncio.wait_for(self.notices.get(), WAIT)


@dataclass
class Card:
    provider: CardProvider
    receiver: Receiver
    sandbox_url: str
    http: httpx.AsyncClient  # for the payer and the sandbox's controls

    async def pay(self, out_trade_no: str, outcome: str = "success") -> dict[str, Any]:
        response = await self.http.post(f"/sandbox/pay/{out_trade_no}", json={"outcome": outcome})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def view(self, out_trade_no: str) -> dict[str, Any]:
        response = await self.http.get(f"/sandbox/orders/{out_trade_no}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def settled(self, out_trade_no: str, count: int) -> list[dict[str, Any]]:
        """The order's notifies once ``count`` of them exist and none is still being delivered."""

        async def done() -> list[dict[str, Any]] | None:
            notifies: list[dict[str, Any]] = (await self.view(out_trade_no))["notifies"]
            finished = len(notifies) == count and all(n["state"] != "delivering" for n in notifies)
            return notifies if finished else None

        result: list[dict[str, Any]] = await wait_until(done)
        return result


def make_order(out_trade_no: str | None = None, **changes: Any) -> PaymentOrder:
    order = PaymentOrder(
        out_trade_no=out_trade_no or f"pay_{secrets.token_hex(8)}",
        amount_cents=12345,
        currency="CNY",
        description="Deep clean, 3 hours",
        channel="hosted",
        notify_url="https://hub.example.com/payments/notify/card",
        expires_at=datetime.now(UTC) + timedelta(hours=2),
        return_url=RETURN_URL,
    )
    return replace(order, **changes)


def refund_order(order: PaymentOrder, provider_ref: str, cents: int, out_refund_no: str) -> RefundOrder:
    return RefundOrder(
        out_trade_no=order.out_trade_no,
        provider_ref=provider_ref,
        out_refund_no=out_refund_no,
        refund_cents=cents,
        total_cents=order.amount_cents,
        currency="CNY",
        reason="cancelled by the customer",
        notify_url=order.notify_url,
    )


def card_config(api_base: str, **changes: Any) -> CardConfig:
    config = CardConfig(
        secret_key=SECRET_KEY, webhook_secrets=(WEBHOOK_SECRET,), account=ACCOUNT, api_base=api_base
    )
    return replace(config, **changes)


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    return {}


@pytest.fixture
async def card(sandbox_options: dict[str, Any]) -> AsyncIterator[Card]:
    receiver = Receiver()
    hook_app = web.Application()
    hook_app.router.add_post("/payments/notify/card", receiver.handle)
    hook_server = TestServer(hook_app, host="127.0.0.1")
    await hook_server.start_server()
    config = CardSandboxConfig(
        secret_key=SECRET_KEY,
        webhook_secret=WEBHOOK_SECRET,
        webhook_url=str(hook_server.make_url("/payments/notify/card")),
        account=ACCOUNT,
        retry_delays=FAST_RETRIES,
        **sandbox_options,
    )
    sandbox_server = TestServer(create_app(config), host="127.0.0.1")
    await sandbox_server.start_server()
    sandbox_url = str(sandbox_server.make_url("")).rstrip("/")
    receiver.provider = CardProvider(card_config(sandbox_url))
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=WAIT) as http:
        yield Card(receiver.provider, receiver, sandbox_url, http)
    await receiver.provider.aclose()
    await sandbox_server.close()
    await hook_server.close()


async def paid(card: Card, **changes: Any) -> tuple[PaymentOrder, Notice]:
    order = make_order(**changes)
    await card.provider.prepare(order)
    await card.pay(order.out_trade_no)
    return order, await card.receiver.next()


# Paying, and the notify that says so.


async def test_a_paid_order_is_notified_once_and_verifies_into_its_notice(card: Card) -> None:
    order = make_order()
    prepared = await card.provider.prepare(order)
    assert prepared.provider_ref is not None
    assert prepared.provider_ref.startswith("cs_test_")
    assert prepared.client == {"url": f"{card.sandbox_url}/pay/{prepared.provider_ref}"}

    view = await card.pay(order.out_trade_no)
    notice = await card.receiver.next()

    assert notice.kind is NoticeKind.PAYMENT
    assert notice.status is NoticeStatus.SUCCEEDED
    assert notice.out_trade_no == order.out_trade_no
    assert notice.amount_cents == 12345
    assert notice.currency == "CNY"
    assert notice.merchant == ACCOUNT
    assert notice.provider_ref == view["payment_intent"]["id"]
    assert notice.provider_ref.startswith("pi_test_")
    assert notice.raw["type"] == "checkout.session.completed"
    (delivered,) = await card.settled(order.out_trade_no, 1)
    assert delivered["state"] == "delivered"
    assert [a["status"] for a in delivered["attempts"]] == [200]


async def test_the_session_carries_the_order_as_stripe_documents_it(card: Card) -> None:
    order = make_order(description="<b>Deep clean</b> & windows")
    prepared = await card.provider.prepare(order)
    session = (await card.view(order.out_trade_no))["session"]
    assert session["id"] == prepared.provider_ref
    assert session["amount_total"] == 12345
    assert session["currency"] == "cny"
    assert session["client_reference_id"] == order.out_trade_no
    assert session["metadata"] == {"out_trade_no": order.out_trade_no}
    assert session["success_url"] == RETURN_URL + "&checkout=success"
    assert session["cancel_url"] == RETURN_URL + "&checkout=cancel"
    assert session["expires_at"] == int(order.expires_at.timestamp())


async def test_preparing_again_returns_the_same_session(card: Card) -> None:
    order = make_order()
    first = await card.provider.prepare(order)
    again = await card.provider.prepare(order)
    assert again == first


@pytest.mark.parametrize("ahead", [timedelta(minutes=1), timedelta(days=3)])
async def test_an_expiry_outside_stripes_window_is_clamped_into_it(card: Card, ahead: timedelta) -> None:
    order = make_order(expires_at=datetime.now(UTC) + ahead)
    await card.provider.prepare(order)
    expires_at = (await card.view(order.out_trade_no))["session"]["expires_at"]
    assert time.time() + 30 * 60 <= expires_at <= time.time() + 24 * 3600
    assert await card.provider.prepare(order)  # a retry sends the same rounded value


async def test_the_hosted_page_pays_and_goes_back_to_the_return_url(card: Card) -> None:
    order = make_order(description="<script>alert(1)</script> & co")
    prepared = await card.provider.prepare(order)
    page = await card.http.get(prepared.client["url"])
    assert page.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page.text
    assert "<script>" not in page.text
    assert "CNY 123.45" in page.text

    answer = await card.http.post(prepared.client["url"], data={"outcome": "success"})
    assert answer.status_code == 303
    assert answer.headers["location"] == RETURN_URL + "&checkout=success"
    notice = await card.receiver.next()
    assert (notice.status, notice.out_trade_no) == (NoticeStatus.SUCCEEDED, order.out_trade_no)


async def test_a_declined_card_is_a_failed_notice_and_goes_back_to_the_cancel_url(card: Card) -> None:
    order = make_order()
    prepared = await card.provider.prepare(order)
    answer = await card.http.post(prepared.client["url"], data={"outcome": "fail"})
    assert answer.status_code == 303
    assert answer.headers["location"] == RETURN_URL + "&checkout=cancel"
    notice = await card.receiver.next()
    assert notice.status is NoticeStatus.FAILED
    assert notice.raw["type"] == "checkout.session.async_payment_failed"
    assert (await card.provider.query(order.out_trade_no)).status is NoticeStatus.FAILED


async def test_an_expired_session_is_a_closed_notice(card: Card) -> None:
    order = make_order()
    prepared = await card.provider.prepare(order)
    expired = await card.http.post(
        f"/v1/checkout/sessions/{prepared.provider_ref}/expire",
        headers={"Authorization": f"Bearer {SECRET_KEY}"},
    )
    assert expired.status_code == 200, expired.text
    notice = await card.receiver.next()
    assert (notice.status, notice.out_trade_no) == (NoticeStatus.CLOSED, order.out_trade_no)
    assert notice.provider_ref == prepared.provider_ref  # no payment was ever attempted
    again = await card.http.post(f"/sandbox/pay/{order.out_trade_no}", json={})
    assert again.status_code == 409


# Retries.


async def test_a_refused_notify_is_retried_until_it_is_accepted(card: Card) -> None:
    card.receiver.refuse_next = 2
    order, notice = await paid(card)
    assert notice.status is NoticeStatus.SUCCEEDED
    (delivery,) = await card.settled(order.out_trade_no, 1)
    assert delivery["state"] == "delivered"
    assert [a["status"] for a in delivery["attempts"]] == [400, 400, 200]


async def test_a_receiver_that_always_refuses_is_retried_on_schedule_then_given_up(card: Card) -> None:
    card.receiver.refuse_next = 100
    order = make_order()
    await card.provider.prepare(order)
    await card.pay(order.out_trade_no)
    (delivery,) = await card.settled(order.out_trade_no, 1)
    assert delivery["state"] == "gave_up"
    assert [a["status"] for a in delivery["attempts"]] == [400] * (1 + len(FAST_RETRIES))
    assert all(json.loads(a["answer"])["reason"] == "busy" for a in delivery["attempts"])


# Forged, stale and misaddressed notifies.


def resigned(body: bytes, *, timestamp: int | None = None, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    when = int(time.time()) if timestamp is None else timestamp
    return {"stripe-signature": stripe_signature(secret, body, when)}


def edited(body: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    event = json.loads(body)
    change(event)
    return json.dumps(event).encode()


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(event: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = event
        for key in parents:
            target = target[key]
        if value is _DROP:
            del target[last]
        else:
            target[last] = value

    return change


_DROP = object()
FORGERIES: dict[str, tuple[str, Callable[[dict[str, str], bytes], tuple[dict[str, str], bytes]]]] = {
    "tampered body": (
        "bad_signature",
        lambda h, b: (h, edited(b, _set("data.object.amount_total", 1))),
    ),
    "wrong signature": (
        "bad_signature",
        lambda h, b: ({"stripe-signature": f"t={int(time.time())},v1={'0' * 64}"}, b),
    ),
    "signed with another secret": (
        "bad_signature",
        lambda h, b: (resigned(b, secret="whsec_" + secrets.token_hex(16)), b),
    ),
    "only a v0 signature": (
        "bad_signature",
        lambda h, b: ({"stripe-signature": h["stripe-signature"].replace("v1=", "v0=")}, b),
    ),
    "no signature header": ("bad_signature", lambda h, b: ({}, b)),
    "no timestamp": (
        "malformed",
        lambda h, b: ({"stripe-signature": h["stripe-signature"].split(",", 1)[1]}, b),
    ),
    "stale timestamp": ("stale_timestamp", lambda h, b: (resigned(b, timestamp=int(time.time()) - 301), b)),
    "future timestamp": ("stale_timestamp", lambda h, b: (resigned(b, timestamp=int(time.time()) + 301), b)),
    "another account": (
        "wrong_merchant",
        lambda h, b: (resigned(nb := edited(b, _set("account", "acct_1Other"))), nb),
    ),
    "no account": ("wrong_merchant", lambda h, b: (resigned(nb := edited(b, _set("account", _DROP))), nb)),
    "live mode": ("wrong_app", lambda h, b: (resigned(nb := edited(b, _set("livemode", True))), nb)),
    "unhandled event": (
        "unsupported_event",
        lambda h, b: (resigned(nb := edited(b, _set("type", "payment_intent.succeeded"))), nb),
    ),
    "charge.refunded": (
        "unsupported_event",
        lambda h, b: (resigned(nb := edited(b, _set("type", "charge.refunded"))), nb),
    ),
    "another currency": (
        "unsupported_currency",
        lambda h, b: (resigned(nb := edited(b, _set("data.object.currency", "usd"))), nb),
    ),
    "amount not in fen": (
        "malformed",
        lambda h, b: (resigned(nb := edited(b, _set("data.object.amount_total", "123.45"))), nb),
    ),
    "paid without a payment intent": (
        "malformed",
        lambda h, b: (resigned(nb := edited(b, _set("data.object.payment_intent", None))), nb),
    ),
    "not JSON": ("malformed", lambda h, b: (resigned(b[:-1]), b[:-1])),
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
async def test_a_notify_that_is_not_genuine_is_rejected_with_its_reason(card: Card, forgery: str) -> None:
    await paid(card)
    headers, body = card.receiver.raw[-1]
    reason, forge = FORGERIES[forgery]
    forged_headers, forged_body = forge(headers, body)
    with pytest.raises(NotifyRejected) as caught:
        card.provider.verify_notify(NotifyRequest(forged_headers, forged_body, datetime.now(UTC)))
    assert caught.value.reason == reason


async def test_the_genuine_notify_still_verifies_among_the_forgeries(card: Card) -> None:
    _, notice = await paid(card)
    headers, body = card.receiver.raw[-1]
    again = card.provider.verify_notify(NotifyRequest(headers, body, datetime.now(UTC)))
    assert again.out_trade_no == notice.out_trade_no


async def test_a_secret_being_rolled_verifies_with_either_secret(card: Card) -> None:
    await paid(card)
    headers, body = card.receiver.raw[-1]
    old = "whsec_" + secrets.token_hex(16)
    rolling = CardProvider(card_config(card.sandbox_url, webhook_secrets=(old, WEBHOOK_SECRET)))
    try:
        # Stripe signs with both while a secret rolls: one v1 per secret, the unknown one first.
        both = (
            resigned(body, secret=old)["stripe-signature"] + "," + headers["stripe-signature"].split(",")[1]
        )
        for signed in (headers, resigned(body, secret=old), {"stripe-signature": both}):
            assert rolling.verify_notify(NotifyRequest(signed, body, datetime.now(UTC)))
        with pytest.raises(NotifyRejected, match="bad_signature"):
            card.provider.verify_notify(NotifyRequest(resigned(body, secret=old), body, datetime.now(UTC)))
    finally:
        await rolling.aclose()


# Query.


async def test_query_tells_an_unpaid_order_from_a_paid_one(card: Card) -> None:
    order = make_order()
    await card.provider.prepare(order)
    unpaid = await card.provider.query(order.out_trade_no)
    assert (unpaid.status, unpaid.out_trade_no) == (NoticeStatus.PENDING, order.out_trade_no)

    view = await card.pay(order.out_trade_no)
    await card.receiver.next()
    answer = await card.provider.query(order.out_trade_no)
    assert answer.status is NoticeStatus.SUCCEEDED
    assert answer.provider_ref == view["payment_intent"]["id"]
    assert (answer.amount_cents, answer.currency, answer.merchant) == (12345, "CNY", ACCOUNT)


async def test_query_of_an_order_the_provider_never_saw_is_pending(card: Card) -> None:
    answer = await card.provider.query("pay_never_prepared")
    assert answer.status is NoticeStatus.PENDING


# Refunds.


async def test_partial_and_full_refunds_are_notified_and_idempotent(card: Card) -> None:
    order, payment = await paid(card)
    first = refund_order(order, payment.provider_ref, 3000, "refund_one")
    result = await card.provider.refund(first)
    assert result.status is RefundStatus.SUCCEEDED
    assert result.provider_refund_id is not None
    assert result.provider_refund_id.startswith("re_test_")

    notice = await card.receiver.next()
    assert notice.kind is NoticeKind.REFUND
    assert notice.status is NoticeStatus.SUCCEEDED
    assert (notice.out_trade_no, notice.out_refund_no) == (order.out_trade_no, "refund_one")
    assert (notice.amount_cents, notice.currency, notice.merchant) == (3000, "CNY", ACCOUNT)
    assert notice.provider_ref == payment.provider_ref

    assert await card.provider.refund(first) == result  # the same refund, not a second one
    view = await card.view(order.out_trade_no)
    assert (len(view["refunds"]), view["refunded"]) == (1, 3000)

    with pytest.raises(ProviderError) as reused:
        await card.provider.refund(replace(first, refund_cents=100))
    assert (reused.value.code, reused.value.retryable) == ("idempotency_error", False)

    rest = await card.provider.refund(refund_order(order, payment.provider_ref, 9345, "refund_two"))
    assert rest.status is RefundStatus.SUCCEEDED
    assert (await card.receiver.next()).amount_cents == 9345
    assert (await card.view(order.out_trade_no))["refunded"] == 12345

    with pytest.raises(ProviderError) as again:
        await card.provider.refund(refund_order(order, payment.provider_ref, 1, "refund_three"))
    assert (again.value.code, again.value.retryable) == ("charge_already_refunded", False)
    await card.settled(order.out_trade_no, 3)  # the payment's notify and two refunds', nothing else


async def test_a_refund_larger_than_what_remains_is_refused(card: Card) -> None:
    order, payment = await paid(card)
    with pytest.raises(ProviderError) as caught:
        await card.provider.refund(refund_order(order, payment.provider_ref, 12346, "refund_big"))
    assert (caught.value.code, caught.value.retryable) == ("amount_too_large", False)


@pytest.mark.parametrize("sandbox_options", [{"refunds_pending": True}])
@pytest.mark.parametrize("settles", ["succeeded", "failed"])
async def test_a_pending_refund_is_processing_until_refund_updated_settles_it(
    card: Card, settles: str
) -> None:
    order, payment = await paid(card)
    result = await card.provider.refund(refund_order(order, payment.provider_ref, 500, "refund_slow"))
    assert result.status is RefundStatus.PROCESSING
    pending = await card.receiver.next()
    assert (pending.kind, pending.status) == (NoticeKind.REFUND, NoticeStatus.PENDING)

    settle = await card.http.post(f"/sandbox/refunds/{result.provider_refund_id}", json={"status": settles})
    assert settle.status_code == 200, settle.text
    final = await card.receiver.next()
    assert final.raw["type"] == "refund.updated"
    assert final.status is NoticeStatus(settles)
    assert final.out_refund_no == "refund_slow"


# The sandbox refuses what Stripe refuses.


@pytest.mark.parametrize(
    "authorization", [None, "Bearer sk_test_not_the_key", f"Basic {SECRET_KEY}", f"bearer {SECRET_KEY}"]
)
async def test_the_sandbox_refuses_a_request_without_the_secret_key(
    card: Card, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    answer = await card.http.get("/v1/payment_intents/search?query=metadata['a']:'b'", headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"]["type"] == "invalid_request_error"
    assert SECRET_KEY not in answer.text


async def test_a_provider_with_another_key_gets_stripes_refusal(card: Card) -> None:
    stranger = CardProvider(card_config(card.sandbox_url, secret_key="sk_test_" + secrets.token_hex(16)))
    try:
        with pytest.raises(ProviderError) as caught:
            await stranger.prepare(make_order())
    finally:
        await stranger.aclose()
    assert (caught.value.retryable, caught.value.code) == (False, "invalid_request_error")


async def test_the_sandbox_refuses_an_expiry_stripe_would_refuse(card: Card) -> None:
    form = {
        "mode": "payment",
        "line_items[0][price_data][currency]": "cny",
        "line_items[0][price_data][unit_amount]": "100",
        "line_items[0][price_data][product_data][name]": "x",
        "line_items[0][quantity]": "1",
        "expires_at": str(int(time.time()) + 60),
    }
    answer = await card.http.post(
        "/v1/checkout/sessions", data=form, headers={"Authorization": f"Bearer {SECRET_KEY}"}
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "expires_at"
    answer = await card.http.post(
        "/v1/checkout/sessions",
        data={**form, "expires_at": str(int(time.time()) + 3600), "shipping": "yes"},
        headers={"Authorization": f"Bearer {SECRET_KEY}"},
    )
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "parameter_unknown")


# Failures of the API itself.


@pytest.mark.parametrize(
    ("status", "error", "retryable", "code"),
    [
        (500, {"type": "api_error", "message": "boom"}, True, "api_error"),
        (503, None, True, None),
        (429, {"type": "rate_limit_error", "code": "rate_limit", "message": "slow"}, True, "rate_limit"),
        (402, {"type": "card_error", "code": "card_declined", "message": "no"}, False, "card_declined"),
        (404, {"type": "invalid_request_error", "code": "resource_missing"}, False, "resource_missing"),
    ],
)
async def test_api_failures_are_retryable_only_when_asking_again_can_help(
    status: int, error: dict[str, str] | None, retryable: bool, code: str | None
) -> None:
    async def answer(request: web.Request) -> web.Response:
        if error is None:
            return web.Response(status=status, text="<html>unavailable</html>", content_type="text/html")
        return web.json_response({"error": error}, status=status)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    async with TestServer(app, host="127.0.0.1") as server:
        provider = CardProvider(card_config(str(server.make_url("")).rstrip("/")))
        try:
            with pytest.raises(ProviderError) as caught:
                await provider.prepare(make_order())
        finally:
            await provider.aclose()
    assert (caught.value.retryable, caught.value.code) == (retryable, code)


async def test_an_api_that_cannot_be_reached_is_retryable() -> None:
    async with TestServer(web.Application(), host="127.0.0.1") as server:
        url = str(server.make_url("")).rstrip("/")
    provider = CardProvider(card_config(url))  # the server has closed: nothing listens there now
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.query("pay_0123456789")
    finally:
        await provider.aclose()
    assert caught.value.retryable


# Configuration.

FULL_ENV = {
    "HUB_PAY_CARD_SECRET_KEY": SECRET_KEY,
    "HUB_PAY_CARD_WEBHOOK_SECRET": WEBHOOK_SECRET,
}


def test_an_unset_provider_is_not_configured() -> None:
    assert CardConfig.from_env({}) is None
    assert CardConfig.from_env({"HUB_PAY_WECHAT_MCHID": "1900000109", "HUB_PAY_CARD_ACCOUNT": " "}) is None


def test_a_configured_provider_reads_its_variables_with_stripes_defaults() -> None:
    config = CardConfig.from_env(FULL_ENV)
    assert config == CardConfig(secret_key=SECRET_KEY, webhook_secrets=(WEBHOOK_SECRET,))
    assert config.api_base == "https://api.stripe.com"
    assert not config.livemode
    full = CardConfig.from_env(
        {
            "HUB_PAY_CARD_SECRET_KEY": "sk_live_abc123",
            "HUB_PAY_CARD_WEBHOOK_SECRET": f"{WEBHOOK_SECRET}, whsec_old",
            "HUB_PAY_CARD_ACCOUNT": ACCOUNT,
            "HUB_PAY_CARD_API_BASE": "http://127.0.0.1:9/",
            "HUB_PAY_CARD_RETURN_URL": "https://app.example.com/paid",
        }
    )
    assert full is not None
    assert full.livemode
    assert full.webhook_secrets == (WEBHOOK_SECRET, "whsec_old")
    assert (full.account, full.api_base) == (ACCOUNT, "http://127.0.0.1:9")


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"HUB_PAY_CARD_SECRET_KEY": SECRET_KEY}, "HUB_PAY_CARD_WEBHOOK_SECRET"),
        ({"HUB_PAY_CARD_WEBHOOK_SECRET": WEBHOOK_SECRET}, "HUB_PAY_CARD_SECRET_KEY"),
        ({"HUB_PAY_CARD_ACCOUNT": ACCOUNT}, "HUB_PAY_CARD_SECRET_KEY"),
        ({**FULL_ENV, "HUB_PAY_CARD_SECRET_KEY": "pk_test_publishable"}, "HUB_PAY_CARD_SECRET_KEY"),
        ({**FULL_ENV, "HUB_PAY_CARD_WEBHOOK_SECRET": "not-a-secret"}, "HUB_PAY_CARD_WEBHOOK_SECRET"),
        ({**FULL_ENV, "HUB_PAY_CARD_ACCOUNT": "1234"}, "HUB_PAY_CARD_ACCOUNT"),
        ({**FULL_ENV, "HUB_PAY_CARD_API_BASE": "api.stripe.com"}, "HUB_PAY_CARD_API_BASE"),
        ({**FULL_ENV, "HUB_PAY_CARD_RETURN_URL": "ftp://x"}, "HUB_PAY_CARD_RETURN_URL"),
    ],
)
def test_a_half_or_badly_configured_provider_names_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        CardConfig.from_env(env)
    assert caught.value.variable == variable


# Any input at all.

FUZZ_CONFIG = CardConfig(secret_key=SECRET_KEY, webhook_secrets=(WEBHOOK_SECRET,), account=ACCOUNT)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)


def mostly(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``valid`` seven times in eight, anything else otherwise: deep enough to reach a Notice."""
    return st.integers(min_value=0, max_value=7).flatmap(lambda n: valid if n else json_values)


EVENT_TYPES = [
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "refund.created",
    "refund.updated",
    "charge.refunded",
]
event_object = st.fixed_dictionaries(
    {
        "id": mostly(st.just("cs_test_1")),
        "client_reference_id": mostly(st.text(min_size=1, max_size=10)),
        "payment_status": mostly(st.sampled_from(["paid", "unpaid", "no_payment_required"])),
        "payment_intent": mostly(st.just("pi_test_1")),
        "amount_total": mostly(st.integers(min_value=-5, max_value=10**12)),
        "amount": mostly(st.integers(min_value=-5, max_value=10**12)),
        "currency": mostly(st.sampled_from(["cny", "CNY", "usd"])),
        "status": mostly(st.sampled_from(["succeeded", "pending", "failed", "canceled", "requires_action"])),
        "metadata": mostly(
            st.fixed_dictionaries(
                {"out_trade_no": mostly(st.text(max_size=8))}, optional={"out_refund_no": st.text()}
            )
        ),
    }
)
event_like = st.fixed_dictionaries(
    {
        "type": mostly(st.sampled_from(EVENT_TYPES)),
        "livemode": mostly(st.just(False)),
        "account": mostly(st.just(ACCOUNT)),
        "created": mostly(st.integers()),
        "data": mostly(st.fixed_dictionaries({"object": mostly(event_object)})),
    }
)


def run_fuzz(check: Callable[[CardProvider], None]) -> None:
    provider = CardProvider(FUZZ_CONFIG)
    try:
        check(provider)
    finally:
        asyncio.run(provider.aclose())


def test_verify_notify_only_ever_rejects_arbitrary_headers_and_bytes() -> None:
    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        headers=st.dictionaries(st.sampled_from(["stripe-signature", "content-type", "x"]), st.text()),
        body=st.binary(max_size=300),
        skew=st.integers(min_value=-(10**6), max_value=10**6),
    )
    def check(provider: CardProvider, headers: dict[str, str], body: bytes, skew: int) -> None:
        received = datetime.now(UTC) + timedelta(seconds=skew)
        with pytest.raises(NotifyRejected):
            provider.verify_notify(NotifyRequest(headers, body, received))

    run_fuzz(lambda provider: check(provider))


def test_verify_notify_of_any_signed_event_is_a_notice_or_a_rejection() -> None:
    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(event=mostly(event_like))
    def check(provider: CardProvider, event: Any) -> None:
        body = json.dumps(event).encode()
        try:
            notice = provider.verify_notify(NotifyRequest(resigned(body), body, datetime.now(UTC)))
        except NotifyRejected:
            return
        assert notice.currency == "CNY"
        assert notice.amount_cents >= 0
        assert notice.out_trade_no

    run_fuzz(lambda provider: check(provider))
