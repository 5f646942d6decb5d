"""Alipay against the local Alipay sandbox, over real HTTP both ways: the provider signs what the
browser, the app and its own calls send to the sandbox's gateway; the sandbox sends signed
notifies to a small receiver that verifies them with the provider and answers as the hub does.

Also: every way a notify can be wrong maps to its ``NotifyRejected.reason``, the sandbox refuses
what Alipay refuses, configuration from ``HUB_PAY_ALIPAY_*``, and ``verify_notify`` raises
nothing but ``NotifyRejected`` on any input (Hypothesis).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bookings.payments import keys
from bookings.payments.providers.alipay import (
    PRODUCTION_GATEWAY,
    AlipayConfig,
    AlipayProvider,
    cents_of,
    yuan,
)
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
from bookings.payments.sandbox.alipay import AlipaySandboxConfig, create_app, sign_notify
from hub.env import ConfigError
from tests.support.waiting import WAIT, wait_until

APP = keys.generate()  # the hub's app key pair (应用私钥 / 应用公钥)
ALIPAY = keys.generate()  # Alipay's key pair, played by the sandbox
STRANGER = keys.generate()
APP_ID = "2021000000000001"
SELLER_ID = "2088000000000001"
FAST_RETRIES = (0.05, 0.05, 0.05)  # Alipay's 4m, 10m, ... schedule, shrunk
BEIJING = timedelta(hours=8)


class Receiver:
    """The hub's notify route in miniature: verify with the provider, answer what it says."""

    def __init__(self, provider: AlipayProvider) -> None:
        self.provider = provider
        self.notices: list[Notice] = []
        self.rejections: list[str] = []
        self.refusals = 0  # how many of the next genuine notifies to answer as not handled now
        app = web.Application()
        app.router.add_post("/payments/alipay/notify", self.handle)
        self.server = TestServer(app, host="127.0.0.1")

    @property
    def url(self) -> str:
        return str(self.server.make_url("/payments/alipay/notify"))

    async def handle(self, request: web.Request) -> web.Response:
        arrived = NotifyRequest(
            {k.lower(): v for k, v in request.headers.items()}, await request.read(), datetime.now(UTC)
        )
        try:
            notice = self.provider.verify_notify(arrived)
        except NotifyRejected as exc:
            self.rejections.append(exc.reason)
            answer = self.provider.refused(exc.reason)
        else:
            self.notices.append(notice)
            answer = self.provider.refused("busy") if self.refusals > 0 else self.provider.accepted()
            self.refusals -= 1
        return web.Response(status=answer.status, body=answer.body, content_type=answer.content_type)


@dataclass
class World:
    sandbox: TestServer
    provider: AlipayProvider
    receiver: Receiver
    browser: httpx.AsyncClient
    opened: list[str] = field(default_factory=list)

    @property
    def gateway(self) -> str:
        return str(self.sandbox.make_url("/gateway.do"))

    def order(self, channel: str, cents: int, out_trade_no: str) -> PaymentOrder:
        return PaymentOrder(
            out_trade_no=out_trade_no,
            amount_cents=cents,
            currency="CNY",
            description="Deep clean, 3 rooms / 2 baths",
            channel=channel,
            notify_url=self.receiver.url,
            expires_at=datetime.now(UTC) + timedelta(minutes=30),
            return_url="https://shop.example.com/paid" if channel != "app" else None,
        )

    async def open(self, channel: str, cents: int, out_trade_no: str) -> httpx.Response:
        """Prepare the payment and take it where the payer's browser or Alipay app takes it."""
        prepared = await self.provider.prepare(self.order(channel, cents, out_trade_no))
        if channel == "app":
            return await self.browser.post(
                self.gateway,
                content=prepared.client["order_string"].encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        return await self.browser.get(prepared.client["url"])

    async def pay(self, out_trade_no: str, outcome: str = "success") -> dict[str, Any]:
        response = await self.browser.post(
            f"{self.sandbox.make_url('/sandbox/pay/')}{out_trade_no}", json={"outcome": outcome}
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def view(self, out_trade_no: str) -> dict[str, Any]:
        response = await self.browser.get(f"{self.sandbox.make_url('/sandbox/orders/')}{out_trade_no}")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def notice(self, count: int = 1) -> Notice:
        await wait_until(lambda: len(self.receiver.notices) >= count)
        return self.receiver.notices[count - 1]

    async def settled(self, out_trade_no: str, count: int = 1) -> dict[str, Any]:
        """The sandbox's view once its first ``count`` notifies are acknowledged or given up."""

        async def done() -> dict[str, Any] | None:
            view = await self.view(out_trade_no)
            notifies = view["notifies"]
            finished = [n for n in notifies if n["acknowledged"] or n["given_up"]]
            return view if len(notifies) >= count and len(finished) == len(notifies) else None

        result: dict[str, Any] = await wait_until(done)
        return result


def config(**changes: Any) -> AlipayConfig:
    base = AlipayConfig(APP_ID, APP.private_pem, ALIPAY.public_pem, SELLER_ID, PRODUCTION_GATEWAY)
    return replace(base, **changes)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    sandbox = TestServer(
        create_app(
            AlipaySandboxConfig(
                APP_ID, APP.public_pem, ALIPAY.private_pem, SELLER_ID, retry_delays=FAST_RETRIES
            )
        ),
        host="127.0.0.1",
    )
    await sandbox.start_server()
    provider = AlipayProvider(config(gateway_url=str(sandbox.make_url("/gateway.do"))))
    receiver = Receiver(provider)
    await receiver.server.start_server()
    browser = httpx.AsyncClient(timeout=WAIT)
    try:
        yield World(sandbox, provider, receiver, browser)
    finally:
        await browser.aclose()
        await sandbox.close()
        await receiver.server.close()
        await provider.aclose()


# --- paying -------------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["page", "wap", "app"])
async def test_a_paid_order_is_notified_and_the_sandbox_stops_after_success(
    world: World, channel: str
) -> None:
    opened = await world.open(channel, 12_800, f"pay-{channel}-0001")
    assert opened.status_code == 200, opened.text
    assert "ACQ." not in opened.text, opened.text
    assert "isv." not in opened.text, opened.text
    await world.pay(f"pay-{channel}-0001")

    notice = await world.notice()
    assert notice.kind is NoticeKind.PAYMENT
    assert notice.status is NoticeStatus.SUCCEEDED
    assert (notice.out_trade_no, notice.amount_cents, notice.currency) == (
        f"pay-{channel}-0001",
        12_800,
        "CNY",
    )
    assert notice.merchant == APP_ID
    assert notice.occurred_at is not None
    assert notice.occurred_at.utcoffset() == BEIJING
    assert notice.raw["total_amount"] == "128.00"
    assert "sign" not in notice.raw

    view = await world.settled(f"pay-{channel}-0001")
    assert notice.provider_ref == view["trade_no"]
    [notify] = view["notifies"]
    assert notify["acknowledged"]
    assert len(notify["attempts"]) == 1
    assert notify["attempts"][0]["answer"] == "success"
    assert world.receiver.rejections == []


async def test_the_page_url_and_the_order_string_carry_what_alipay_documents(world: World) -> None:
    order = world.order("page", 1, "terms-0001")
    page = await world.provider.prepare(order)
    assert page.provider_ref is None
    assert page.client["return_url"] == "https://shop.example.com/paid"
    url = urlsplit(page.client["url"])
    params = dict(parse_qsl(url.query))
    assert f"{url.scheme}://{url.netloc}{url.path}" == world.gateway
    assert params["method"] == "alipay.trade.page.pay"
    assert params["sign_type"] == "RSA2"
    assert params["notify_url"] == world.receiver.url
    assert params["return_url"] == order.return_url
    assert '"total_amount":"0.01"' in params["biz_content"]
    assert '"product_code":"FAST_INSTANT_TRADE_PAY"' in params["biz_content"]
    assert '"subject":"Deep clean, 3 rooms   2 baths"' in params["biz_content"]  # no "/" in a subject
    expire = (order.expires_at + BEIJING).strftime("%Y-%m-%d %H:%M:%S")
    assert f'"time_expire":"{expire}"' in params["biz_content"]

    app = await world.provider.prepare(world.order("app", 100, "terms-0002"))
    order_string = dict(parse_qsl(app.client["order_string"]))
    assert order_string["method"] == "alipay.trade.app.pay"
    assert '"product_code":"QUICK_MSECURITY_PAY"' in order_string["biz_content"]
    assert "return_url" not in order_string


async def test_a_receiver_that_refuses_gets_every_retry_then_no_more(world: World) -> None:
    world.receiver.refusals = 1 + len(FAST_RETRIES)
    await world.open("wap", 500, "refused-0001")
    await world.pay("refused-0001")

    view = await world.settled("refused-0001")
    [notify] = view["notifies"]
    assert notify["given_up"]
    assert not notify["acknowledged"]
    assert len(notify["attempts"]) == 1 + len(FAST_RETRIES)
    assert {attempt["answer"] for attempt in notify["attempts"]} == {"fail"}
    assert len(world.receiver.notices) == 1 + len(FAST_RETRIES)  # the same notify each time
    assert {n.provider_ref for n in world.receiver.notices} == {world.receiver.notices[0].provider_ref}


async def test_a_receiver_that_recovers_stops_the_retries(world: World) -> None:
    world.receiver.refusals = 2
    await world.open("app", 500, "recover-0001")
    await world.pay("recover-0001")
    view = await world.settled("recover-0001")
    [notify] = view["notifies"]
    assert notify["acknowledged"]
    assert [attempt["answer"] for attempt in notify["attempts"]] == ["fail", "fail", "success"]
    assert len(world.receiver.notices) == 3


async def test_a_failed_payment_closes_the_trade(world: World) -> None:
    await world.open("wap", 900, "closed-0001")
    await world.pay("closed-0001", outcome="fail")
    notice = await world.notice()
    assert (notice.kind, notice.status, notice.amount_cents) == (NoticeKind.PAYMENT, NoticeStatus.CLOSED, 900)

    await world.open("page", 900, "closed-0002")
    await world.pay("closed-0002", outcome="fail")
    assert (await world.view("closed-0002"))["notifies"] == []  # PC page pay notifies TRADE_SUCCESS only
    queried = await world.provider.query("closed-0002")
    assert queried.status is NoticeStatus.CLOSED


# --- query ----------------------------------------------------------------------------------------


async def test_query_tells_unpaid_from_paid(world: World) -> None:
    never = await world.provider.query("never-opened-01")
    assert (never.status, never.provider_ref, never.amount_cents) == (NoticeStatus.PENDING, "", 0)

    await world.open("page", 4_999, "query-0001")
    waiting = await world.provider.query("query-0001")
    assert waiting.status is NoticeStatus.PENDING
    assert waiting.amount_cents == 4_999

    await world.pay("query-0001")
    paid = await world.provider.query("query-0001")
    notice = await world.notice()
    assert (paid.status, paid.amount_cents, paid.currency) == (NoticeStatus.SUCCEEDED, 4_999, "CNY")
    assert paid.provider_ref == notice.provider_ref
    assert paid.out_trade_no == "query-0001"
    assert paid.occurred_at is not None


# --- refunds ------------------------------------------------------------------------------------


def refund_of(notice: Notice, out_refund_no: str, cents: int) -> RefundOrder:
    return RefundOrder(
        out_trade_no=notice.out_trade_no,
        provider_ref=notice.provider_ref,
        out_refund_no=out_refund_no,
        refund_cents=cents,
        total_cents=notice.amount_cents,
        currency="CNY",
        reason="Cleaner cancelled",
        notify_url="https://unused.example.com",
    )


async def test_partial_then_full_refund_each_with_its_notify(world: World) -> None:
    await world.open("wap", 10_000, "refund-0001")
    await world.pay("refund-0001")
    paid = await world.notice()

    first = await world.provider.refund(refund_of(paid, "rf-0001", 3_000))
    assert first.status is RefundStatus.SUCCEEDED
    partial = await world.notice(2)
    assert (partial.kind, partial.status) == (NoticeKind.REFUND, NoticeStatus.SUCCEEDED)
    assert (partial.out_refund_no, partial.amount_cents, partial.provider_ref) == (
        "rf-0001",
        3_000,
        paid.provider_ref,
    )
    assert partial.raw["trade_status"] == "TRADE_SUCCESS"

    again = await world.provider.refund(refund_of(paid, "rf-0001", 3_000))  # fund_change N, then queried
    assert again.status is RefundStatus.SUCCEEDED
    assert [r["out_request_no"] for r in (await world.view("refund-0001"))["refunds"]] == ["rf-0001"]

    rest = await world.provider.refund(refund_of(paid, "rf-0002", 7_000))
    assert rest.status is RefundStatus.SUCCEEDED
    full = await world.notice(3)
    assert (full.kind, full.out_refund_no, full.raw["trade_status"]) == (
        NoticeKind.REFUND,
        "rf-0002",
        "TRADE_CLOSED",
    )
    assert full.amount_cents == 10_000  # refund_fee: the total refunded so far

    view = await world.settled("refund-0001", count=3)
    assert view["status"] == "TRADE_CLOSED"
    assert view["refunded_amount"] == "100.00"
    assert all(n["acknowledged"] for n in view["notifies"])
    assert len(world.receiver.notices) == 3


async def test_refunds_alipay_refuses_are_failed(world: World) -> None:
    await world.open("page", 2_000, "refund-0002")
    unpaid = Notice(NoticeKind.PAYMENT, NoticeStatus.PENDING, "refund-0002", "", 2_000, "CNY", APP_ID)
    refused = await world.provider.refund(refund_of(unpaid, "rf-0003", 2_000))
    assert (refused.status, refused.error) == (RefundStatus.FAILED, "ACQ.TRADE_STATUS_ERROR")

    await world.pay("refund-0002")
    paid = await world.notice()
    await world.provider.refund(refund_of(paid, "rf-0004", 1_500))
    too_much = await world.provider.refund(refund_of(paid, "rf-0005", 1_000))
    assert (too_much.status, too_much.error) == (RefundStatus.FAILED, "ACQ.REASON_TRADE_REFUND_FEE_ERR")
    changed = await world.provider.refund(refund_of(paid, "rf-0004", 500))
    assert (changed.status, changed.error) == (RefundStatus.FAILED, "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL")
    assert (await world.view("refund-0002"))["refunded_amount"] == "15.00"


# --- the sandbox refuses what Alipay refuses -----------------------------------------------------------


async def test_requests_signed_with_another_key_are_refused(world: World) -> None:
    impostor = AlipayProvider(config(private_key=STRANGER.private_pem, gateway_url=world.gateway))
    try:
        with pytest.raises(ProviderError) as refused:
            await impostor.query("never-opened-01")
        assert (refused.value.code, refused.value.retryable) == ("isv.invalid-signature", False)

        page = await impostor.prepare(world.order("page", 100, "impostor-01"))
        shown = await world.browser.get(page.client["url"])
        assert "isv.invalid-signature" in shown.text
        assert (
            await world.browser.get(f"{world.sandbox.make_url('/sandbox/orders/')}impostor-01")
        ).status_code == 404
    finally:
        await impostor.aclose()


async def test_a_tampered_page_url_is_refused(world: World) -> None:
    page = await world.provider.prepare(world.order("page", 100, "tamper-0001"))
    genuine_amount, cheaper = "%22total_amount%22%3A%221.00%22", "%22total_amount%22%3A%220.01%22"
    assert genuine_amount in page.client["url"]
    shown = await world.browser.get(page.client["url"].replace(genuine_amount, cheaper))
    assert "isv.invalid-signature" in shown.text
    other_app = AlipayProvider(config(app_id="2021000000000009", gateway_url=world.gateway))
    try:
        with pytest.raises(ProviderError) as refused:
            await other_app.query("tamper-0001")
        assert refused.value.code == "isv.invalid-app-id"
    finally:
        await other_app.aclose()


async def test_answers_are_checked_against_alipays_key(world: World) -> None:
    fooled = AlipayProvider(config(alipay_public_key=STRANGER.public_pem, gateway_url=world.gateway))
    try:
        await world.open("page", 100, "answer-0001")
        with pytest.raises(ProviderError) as refused:
            await fooled.query("answer-0001")
        assert (refused.value.code, refused.value.retryable) == ("bad_response_signature", False)
    finally:
        await fooled.aclose()


async def test_unreachable_and_failing_gateways_are_retryable(unused_tcp_port: int) -> None:
    down = AlipayProvider(config(gateway_url=f"http://127.0.0.1:{unused_tcp_port}/gateway.do"))

    async def overloaded_gateway(request: web.Request) -> web.Response:
        return web.Response(status=503, text="busy")

    busy_app = web.Application()
    busy_app.router.add_post("/gateway.do", overloaded_gateway)
    busy = TestServer(busy_app, host="127.0.0.1")
    await busy.start_server()
    overloaded = AlipayProvider(config(gateway_url=str(busy.make_url("/gateway.do"))))
    try:
        for provider in (down, overloaded):
            with pytest.raises(ProviderError) as failed:
                await asyncio.wait_for(provider.query("anything-01"), WAIT)
            assert failed.value.retryable, failed.value
    finally:
        await down.aclose()
        await overloaded.aclose()
        await busy.close()


# --- notifies that are not what Alipay sends ----------------------------------------------------


@pytest.fixture(scope="module")
def provider() -> Iterator[AlipayProvider]:
    made = AlipayProvider(config())
    yield made
    asyncio.run(made.aclose())


ALIPAY_KEY = keys.load_private(ALIPAY.private_pem)
STRANGER_KEY = keys.load_private(STRANGER.private_pem)


def beijing(moment: datetime) -> str:
    return (moment.astimezone(UTC) + BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def genuine(**changes: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "notify_time": beijing(datetime.now(UTC)),
        "notify_type": "trade_status_sync",
        "notify_id": "ac05099524730693a8b330c5ecf72da9786",
        "app_id": APP_ID,
        "charset": "utf-8",
        "version": "1.0",
        "trade_no": "2024010122001400001234567890",
        "out_trade_no": "booking-0042",
        "trade_status": "TRADE_SUCCESS",
        "total_amount": "88.80",
        "receipt_amount": "88.80",
        "seller_id": SELLER_ID,
        "subject": "保洁 2 小时",
        "gmt_payment": beijing(datetime.now(UTC)),
        **changes,
    }
    return {k: v for k, v in params.items() if v is not None}


def arrived(params: dict[str, str], key: Any = ALIPAY_KEY, **form: str) -> NotifyRequest:
    signed = {**sign_notify(params, key), **form}
    return NotifyRequest(
        {"content-type": "application/x-www-form-urlencoded; charset=utf-8"},
        urlencode(signed).encode(),
        datetime.now(UTC),
    )


def test_a_genuine_notify_verifies(provider: AlipayProvider) -> None:
    notice = provider.verify_notify(arrived(genuine()))
    assert (notice.kind, notice.status, notice.amount_cents, notice.merchant) == (
        NoticeKind.PAYMENT,
        NoticeStatus.SUCCEEDED,
        8_880,
        APP_ID,
    )
    assert notice.raw["subject"] == "保洁 2 小时"


def tampered(params: dict[str, str]) -> NotifyRequest:
    genuine_request = arrived(params)
    return replace(
        genuine_request, body=genuine_request.body.replace(b"total_amount=88.80", b"total_amount=0.01")
    )


@pytest.mark.parametrize(
    ("request_of", "reason"),
    [
        (lambda: tampered(genuine()), "bad_signature"),
        (lambda: arrived(genuine(), sign="AAAA" * 86 + "AA=="), "bad_signature"),
        (lambda: arrived(genuine(), sign="not base64 at all!"), "bad_signature"),
        (lambda: arrived(genuine(), STRANGER_KEY), "bad_signature"),
        (lambda: arrived(genuine(), sign_type="RSA"), "bad_signature"),
        (
            lambda: arrived(genuine(notify_time=beijing(datetime.now(UTC) - timedelta(hours=27)))),
            "stale_timestamp",
        ),
        (
            lambda: arrived(genuine(notify_time=beijing(datetime.now(UTC) + timedelta(hours=1)))),
            "stale_timestamp",
        ),
        (lambda: arrived(genuine(app_id="2021000000000009")), "wrong_app"),
        (lambda: arrived(genuine(seller_id="2088999999999999")), "wrong_merchant"),
        (lambda: arrived(genuine(seller_id=None)), "wrong_merchant"),
        (lambda: arrived(genuine(trade_status="WAIT_BUYER_PAY")), "unsupported_event"),
        (lambda: arrived(genuine(notify_type="fund_auth_freeze")), "unsupported_event"),
        (lambda: arrived(genuine(trans_currency="USD")), "unsupported_currency"),
        (lambda: arrived(genuine(total_amount="88.8.0")), "malformed"),
        (lambda: arrived(genuine(total_amount="1e3")), "malformed"),
        (lambda: arrived(genuine(notify_time="yesterday")), "malformed"),
        (
            lambda: arrived(
                genuine(
                    trade_status="TRADE_SUCCESS", gmt_refund=beijing(datetime.now(UTC)), refund_fee="0.00"
                )
            ),
            "malformed",
        ),
        (lambda: replace(arrived(genuine()), headers={"content-type": "application/json"}), "malformed"),
        (
            lambda: replace(arrived(genuine()), body=arrived(genuine()).body + b"&app_id=" + APP_ID.encode()),
            "malformed",
        ),
        (lambda: replace(arrived(genuine()), body=b"\xff\xfe"), "malformed"),
        (lambda: replace(arrived(genuine()), body=b""), "malformed"),
    ],
    ids=[
        "tampered-body",
        "wrong-signature",
        "signature-not-base64",
        "signed-by-another-key",
        "rsa1-sign-type",
        "stale",
        "from-the-future",
        "wrong-app",
        "wrong-seller",
        "no-seller",
        "wait-buyer-pay",
        "other-notify-type",
        "foreign-currency",
        "bad-amount",
        "exponent-amount",
        "bad-notify-time",
        "zero-refund",
        "not-a-form",
        "field-twice",
        "not-ascii",
        "empty",
    ],
)
def test_notifies_alipay_would_not_send_are_rejected(
    provider: AlipayProvider, request_of: Any, reason: str
) -> None:
    with pytest.raises(NotifyRejected) as rejected:
        provider.verify_notify(request_of())
    assert rejected.value.reason == reason


def test_a_retry_near_the_end_of_alipays_schedule_still_verifies(provider: AlipayProvider) -> None:
    late = genuine(notify_time=beijing(datetime.now(UTC) - timedelta(hours=25)))
    assert provider.verify_notify(arrived(late)).status is NoticeStatus.SUCCEEDED


def test_refund_and_close_notifies(provider: AlipayProvider) -> None:
    refunded = genuine(
        trade_status="TRADE_CLOSED",
        refund_fee="88.80",
        gmt_refund="2024-01-01 12:00:00.123",
        out_biz_no="rf-9",
    )
    notice = provider.verify_notify(arrived(refunded))
    assert (notice.kind, notice.status, notice.amount_cents, notice.out_refund_no) == (
        NoticeKind.REFUND,
        NoticeStatus.SUCCEEDED,
        8_880,
        "rf-9",
    )
    assert notice.occurred_at is not None
    assert notice.occurred_at.microsecond == 123_000
    expired = provider.verify_notify(arrived(genuine(trade_status="TRADE_CLOSED", gmt_payment=None)))
    assert (expired.kind, expired.status) == (NoticeKind.PAYMENT, NoticeStatus.CLOSED)
    finished = provider.verify_notify(
        arrived(genuine(trade_status="TRADE_FINISHED", refund_fee="1.00", gmt_refund="2024-01-01 12:00:00"))
    )
    assert (finished.kind, finished.status, finished.amount_cents) == (
        NoticeKind.PAYMENT,
        NoticeStatus.SUCCEEDED,
        8_880,
    )


REFUND_FIELDS = ["refund_fee", "gmt_refund", "out_biz_no", "gmt_close", "trans_currency"]
FIELDS = [*sorted(genuine()), "sign", "sign_type", *REFUND_FIELDS]
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(
    headers=st.dictionaries(
        st.sampled_from(["content-type", "x-other"]) | st.text(max_size=20), st.text(max_size=80)
    ),
    body=st.binary(max_size=3000),
)
def test_any_bytes_are_only_ever_rejected(
    provider: AlipayProvider, headers: dict[str, str], body: bytes
) -> None:
    with pytest.raises(NotifyRejected):
        provider.verify_notify(NotifyRequest(headers, body, datetime.now(UTC)))


@PROPERTY
@given(
    fields=st.dictionaries(
        st.sampled_from(FIELDS) | st.text(max_size=10),
        st.text(max_size=40) | st.sampled_from(["TRADE_CLOSED", "0.01", "2024-01-01 00:00:00"]),
        max_size=6,  # a few fields changed at a time, so most examples get past the early checks
    ),
    drop=st.sets(st.sampled_from(sorted(genuine())), max_size=3),
    received_at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1))
    | st.just(datetime.now(UTC)),
)
def test_signed_forms_of_any_content_verify_or_are_rejected(
    provider: AlipayProvider, fields: dict[str, str], drop: set[str], received_at: datetime
) -> None:
    """Signed by Alipay's key, so the checks past the signature see arbitrary content too."""
    params = {**{k: v for k, v in genuine().items() if k not in drop}, **fields}
    request = replace(arrived(params), received_at=received_at)
    try:
        notice = provider.verify_notify(request)
    except NotifyRejected:
        return
    assert notice.amount_cents > 0
    assert notice.merchant == APP_ID


@given(cents=st.integers(min_value=0, max_value=10**12))
def test_yuan_strings_round_trip_exactly(cents: int) -> None:
    assert cents_of(yuan(cents)) == cents


def test_yuan_strings() -> None:
    assert [yuan(c) for c in (1, 10, 100, 12_800, 100_000_000_00)] == [
        "0.01",
        "0.10",
        "1.00",
        "128.00",
        "100000000.00",
    ]
    assert [cents_of(t) for t in ("0.1", "12", "0.05", "01.00", "-1.00", "1.001", " 1.00", "\u0661.00")] == [
        10,
        1_200,
        5,
        None,
        None,
        None,
        None,
        None,
    ]


# --- configuration ------------------------------------------------------------------------------


def full_env(**changes: str) -> dict[str, str]:
    return {
        "HUB_PAY_ALIPAY_APP_ID": APP_ID,
        "HUB_PAY_ALIPAY_PRIVATE_KEY": APP.private_pem,
        "HUB_PAY_ALIPAY_PUBLIC_KEY": ALIPAY.public_pem,
        **changes,
    }


def test_unset_is_not_configured() -> None:
    assert AlipayConfig.from_env({}) is None
    assert AlipayConfig.from_env({"HUB_PAY_ALIPAY_APP_ID": "  ", "HUB_OTHER": "x"}) is None


def test_a_full_configuration(tmp_path: Path) -> None:
    loaded = AlipayConfig.from_env(full_env())
    assert loaded == AlipayConfig(
        APP_ID, APP.private_pem.strip(), ALIPAY.public_pem.strip(), None, PRODUCTION_GATEWAY
    )
    assert APP.private_pem not in repr(loaded)

    key_file = tmp_path / "app_private_key.pem"
    key_file.write_text(APP.private_pem)
    bare_public = "".join(line for line in ALIPAY.public_pem.splitlines() if not line.startswith("-----"))
    other = AlipayConfig.from_env(
        full_env(
            HUB_PAY_ALIPAY_PRIVATE_KEY=str(key_file),
            HUB_PAY_ALIPAY_PUBLIC_KEY=bare_public,  # as Alipay's console shows it
            HUB_PAY_ALIPAY_SELLER_ID=SELLER_ID,
            HUB_PAY_ALIPAY_GATEWAY_URL="http://127.0.0.1:8088/gateway.do",
        )
    )
    assert other is not None
    assert (other.seller_id, other.gateway_url) == (SELLER_ID, "http://127.0.0.1:8088/gateway.do")
    assert (
        keys.load_private(other.private_key).private_numbers()
        == keys.load_private(APP.private_pem).private_numbers()
    )
    assert (
        keys.load_public(other.alipay_public_key).public_numbers()
        == keys.load_public(ALIPAY.public_pem).public_numbers()
    )


@pytest.mark.parametrize("form", [PrivateFormat.PKCS8, PrivateFormat.TraditionalOpenSSL])
def test_a_bare_private_key_as_alipays_tool_writes_it(form: PrivateFormat) -> None:
    pem = keys.load_private(APP.private_pem).private_bytes(Encoding.PEM, form, NoEncryption()).decode()
    bare = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    loaded = AlipayConfig.from_env(full_env(HUB_PAY_ALIPAY_PRIVATE_KEY=bare))
    assert loaded is not None
    expected = keys.load_private(APP.private_pem).private_numbers()
    assert keys.load_private(loaded.private_key).private_numbers() == expected


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"HUB_PAY_ALIPAY_APP_ID": APP_ID}, "HUB_PAY_ALIPAY_PRIVATE_KEY"),
        ({"HUB_PAY_ALIPAY_SELLER_ID": SELLER_ID}, "HUB_PAY_ALIPAY_APP_ID"),
        (full_env(HUB_PAY_ALIPAY_PUBLIC_KEY=""), "HUB_PAY_ALIPAY_PUBLIC_KEY"),
        (
            full_env(HUB_PAY_ALIPAY_PUBLIC_KEY="-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----"),
            "HUB_PAY_ALIPAY_PUBLIC_KEY",
        ),
        (full_env(HUB_PAY_ALIPAY_PUBLIC_KEY="/no/such/alipay_public_key.pem"), "HUB_PAY_ALIPAY_PUBLIC_KEY"),
        (full_env(HUB_PAY_ALIPAY_PRIVATE_KEY=ALIPAY.public_pem), "HUB_PAY_ALIPAY_PRIVATE_KEY"),
        (full_env(HUB_PAY_ALIPAY_PRIVATE_KEY="QUJD" * 40), "HUB_PAY_ALIPAY_PRIVATE_KEY"),
        (full_env(HUB_PAY_ALIPAY_APP_ID="my-app"), "HUB_PAY_ALIPAY_APP_ID"),
        (full_env(HUB_PAY_ALIPAY_SELLER_ID="12345"), "HUB_PAY_ALIPAY_SELLER_ID"),
        (full_env(HUB_PAY_ALIPAY_GATEWAY_URL="openapi.alipay.com/gateway.do"), "HUB_PAY_ALIPAY_GATEWAY_URL"),
    ],
)
def test_a_half_or_wrong_configuration_names_its_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as wrong:
        AlipayConfig.from_env(env)
    assert wrong.value.variable == variable


async def test_orders_alipay_cannot_take_are_refused_before_any_signing(world: World) -> None:
    for order, code in [
        (replace(world.order("page", 100, "bad-order-01"), currency="USD"), "unsupported_currency"),
        (replace(world.order("page", 100, "bad-order-01"), channel="jsapi"), "unsupported_channel"),
        (world.order("page", 0, "bad-order-01"), "invalid_order"),
        (world.order("page", 100, "bad order 01"), "invalid_order"),
        (replace(world.order("page", 100, "bad-order-01"), expires_at=datetime(2030, 1, 1)), "invalid_order"),
    ]:
        with pytest.raises(ProviderError) as refused:
            await world.provider.prepare(order)
        assert (refused.value.code, refused.value.retryable) == (code, False)
