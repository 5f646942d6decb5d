"""WeChat Pay APIv3: the provider against its sandbox, over real HTTP both ways.

The sandbox (bookings/payments/sandbox/wechat.py) plays WeChat: it verifies the hub's request
signatures, signs its answers, and sends encrypted, signed notifies to a receiver that verifies them
with ``provider.verify_notify`` and answers ``accepted()`` or ``refused()``. Notifies the sandbox
would never send (forged, replayed, misaddressed) are written here from the documented format,
independently of both modules.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import os
import secrets
import socket
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from bookings.payments import keys
from bookings.payments.providers.base import (
    NoticeKind,
    NoticeStatus,
    NotifyRejected,
    NotifyRequest,
    PaymentOrder,
    ProviderError,
    RefundOrder,
    RefundStatus,
)
from bookings.payments.providers.wechat import PRODUCTION_URL, WechatConfig, WechatProvider
from bookings.payments.sandbox.wechat import WechatSandboxConfig, create_app
from hub.env import ConfigError
from tests.support.waiting import WAIT, wait_until

MCHID = "1900000109"
APPID = "wx8888888888888888"  # official account: JSAPI and H5
APP_APPID = "wx2421b1c4370ec43b"  # mobile app: APP
MERCHANT_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
PLATFORM_SERIAL = "PUB_KEY_ID_0114232134912410000000000000"
API_V3_KEY = b"Zx9kLmN0pQ2rS4tU6vW8xY1zA3bC5dE7"
MERCHANT, PLATFORM, STRANGER = keys.generate(), keys.generate(), keys.generate()
FAST_RETRIES = (0.05, 0.05, 0.05)  # WeChat's schedule, shortened: four attempts in all
EXAMPLES = int(os.environ.get("HUB_FUZZ_EXAMPLES", "150"))


def sandbox_config() -> WechatSandboxConfig:
    return WechatSandboxConfig(
        mchid=MCHID,
        appids=(APPID, APP_APPID),
        api_v3_key=API_V3_KEY,
        merchant_keys={MERCHANT_SERIAL: MERCHANT.public_pem},
        platform_serial=PLATFORM_SERIAL,
        platform_private_key=PLATFORM.private_pem,
        retry_delays=FAST_RETRIES,
        notify_timeout=WAIT / 2,
    )


def provider_config(base_url: str, **changes: Any) -> WechatConfig:
    config = WechatConfig(
        mchid=MCHID,
        appid=APPID,
        app_appid=APP_APPID,
        merchant_serial=MERCHANT_SERIAL,
        merchant_private_key=MERCHANT.private_pem,
        api_v3_key=API_V3_KEY,
        platform_keys={PLATFORM_SERIAL: PLATFORM.public_pem},
        base_url=base_url,
    )
    return replace(config, **changes)


def base_url(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


class Receiver:
    """The hub's notify route in miniature: verify, then answer as the provider says."""

    def __init__(self, provider: WechatProvider) -> None:
        self.provider = provider
        self.notices: list[Any] = []
        self.rejections: list[str] = []
        self.refuse_next = 0  # answer ``refused`` this many times, as a hub that cannot commit now
        app = web.Application()
        app.router.add_post("/notify/wechat", self._notify)
        self.server = TestServer(app, host="127.0.0.1")

    @property
    def url(self) -> str:
        return str(self.server.make_url("/notify/wechat"))

    async def _notify(self, request: web.Request) -> web.Response:
        headers = {name.lower(): value for name, value in request.headers.items()}
        notify = NotifyRequest(headers, await request.read(), datetime.now(UTC))
        if self.refuse_next > 0:
            self.refuse_next -= 1
            answer = self.provider.refused("busy")
        else:
            try:
                self.notices.append(self.provider.verify_notify(notify))
                answer = self.provider.accepted()
            except NotifyRejected as exc:
                self.rejections.append(exc.reason)
                answer = self.provider.refused(exc.reason)
        return web.Response(status=answer.status, body=answer.body or None, content_type=answer.content_type)


@pytest.fixture
async def sandbox() -> AsyncIterator[TestServer]:
    server = TestServer(create_app(sandbox_config()), host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


@pytest.fixture
async def provider(sandbox: TestServer) -> AsyncIterator[WechatProvider]:
    provider = WechatProvider(provider_config(base_url(sandbox)))
    yield provider
    await provider.aclose()


@pytest.fixture
async def receiver(provider: WechatProvider) -> AsyncIterator[Receiver]:
    receiver = Receiver(provider)
    await receiver.server.start_server()
    yield receiver
    await receiver.server.close()


@pytest.fixture
async def payer(sandbox: TestServer) -> AsyncIterator[httpx.AsyncClient]:
    """Plays the payer (and the tests' eyes) through the sandbox's control endpoints."""
    async with httpx.AsyncClient(base_url=base_url(sandbox), timeout=WAIT) as client:
        yield client


@pytest.fixture
async def offline() -> AsyncIterator[WechatProvider]:
    """For what needs no network: ``verify_notify`` is pure."""
    provider = WechatProvider(provider_config("http://127.0.0.1:9"))
    yield provider
    await provider.aclose()


def payment(
    channel: str = "jsapi", *, amount: int = 12_345, notify_url: str = "http://127.0.0.1:9/n", **payer: str
) -> PaymentOrder:
    defaults = {"jsapi": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}, "h5": {"client_ip": "203.0.113.7"}}
    return PaymentOrder(
        out_trade_no=f"T{uuid.uuid4().hex[:20]}",
        amount_cents=amount,
        currency="CNY",
        description="Deep cleaning, 3 hours",
        channel=channel,
        notify_url=notify_url,
        expires_at=datetime.now(UTC) + timedelta(minutes=30),
        payer=payer or defaults.get(channel, {}),
    )


async def pay(payer: httpx.AsyncClient, out_trade_no: str, outcome: str = "success") -> dict[str, Any]:
    response = await payer.post(f"/sandbox/pay/{out_trade_no}", json={"outcome": outcome})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def sandbox_view(payer: httpx.AsyncClient, out_trade_no: str) -> dict[str, Any]:
    response = await payer.get(f"/sandbox/orders/{out_trade_no}")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def notifies_finished(payer: httpx.AsyncClient, out_trade_no: str, count: int) -> list[dict[str, Any]]:
    async def finished() -> list[dict[str, Any]] | None:
        notifies: list[dict[str, Any]] = (await sandbox_view(payer, out_trade_no))["notifies"]
        done = len(notifies) == count and all(n["finished"] for n in notifies)
        return notifies if done else None

    result: list[dict[str, Any]] = await wait_until(finished)
    return result


# WeChat's side, written from the documentation, for notifies the sandbox would never send.


@functools.cache
def private_key(pem: str) -> rsa.RSAPrivateKey:
    return keys.load_private(pem)  # parsing a PEM costs more than signing with it


def signed_headers(
    body: bytes, *, key: str = PLATFORM.private_pem, serial: str = PLATFORM_SERIAL, at: float | None = None
) -> dict[str, str]:
    stamp, nonce = str(int(time.time() if at is None else at)), secrets.token_hex(16)
    signature = keys.sign(private_key(key), f"{stamp}\n{nonce}\n".encode() + body + b"\n")
    return {
        "wechatpay-timestamp": stamp,
        "wechatpay-nonce": nonce,
        "wechatpay-serial": serial,
        "wechatpay-signature": signature,
        "wechatpay-signature-type": "WECHATPAY2-SHA256-RSA2048",
    }


def envelope(
    resource: Mapping[str, Any] | bytes,
    *,
    event_type: str = "TRANSACTION.SUCCESS",
    original_type: str = "transaction",
    api_v3_key: bytes = API_V3_KEY,
) -> bytes:
    plain = resource if isinstance(resource, bytes) else json.dumps(resource).encode()
    nonce = secrets.token_hex(6)
    sealed = AESGCM(api_v3_key).encrypt(nonce.encode(), plain, original_type.encode())
    return json.dumps(
        {
            "id": str(uuid.uuid4()),
            "create_time": "2026-01-05T13:29:35+08:00",
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": "支付成功",
            "resource": {
                "original_type": original_type,
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": base64.b64encode(sealed).decode(),
                "associated_data": original_type,
                "nonce": nonce,
            },
        }
    ).encode()


def transaction(**changes: Any) -> dict[str, Any]:
    return {
        "appid": APPID,
        "mchid": MCHID,
        "out_trade_no": "T20260105abcdef",
        "transaction_id": "4200000000000000000000000001",
        "trade_type": "JSAPI",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "success_time": "2026-01-05T13:29:35+08:00",
        "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
        "amount": {"total": 100, "payer_total": 100, "currency": "CNY", "payer_currency": "CNY"},
        **changes,
    }


def arrived(body: bytes, headers: dict[str, str] | None = None) -> NotifyRequest:
    return NotifyRequest(signed_headers(body) if headers is None else headers, body, datetime.now(UTC))


# Payments


async def test_a_paid_jsapi_order_is_notified_once_and_verifies_into_its_notice(
    provider: WechatProvider, receiver: Receiver, payer: httpx.AsyncClient
) -> None:
    order = payment(notify_url=receiver.url)
    prepared = await provider.prepare(order)

    client = prepared.client
    assert prepared.provider_ref
    assert client["package"] == f"prepay_id={prepared.provider_ref}"
    assert (client["appId"], client["signType"]) == (APPID, "RSA")
    signed = f"{APPID}\n{client['timeStamp']}\n{client['nonceStr']}\n{client['package']}\n".encode()
    assert keys.verify(keys.load_public(MERCHANT.public_pem), signed, client["paySign"])

    paid = await pay(payer, order.out_trade_no)
    [notice] = await wait_until(lambda: receiver.notices)
    assert notice.kind is NoticeKind.PAYMENT
    assert notice.status is NoticeStatus.SUCCEEDED
    assert (notice.out_trade_no, notice.amount_cents, notice.currency) == (order.out_trade_no, 12_345, "CNY")
    assert (notice.merchant, notice.provider_ref) == (MCHID, paid["transaction_id"])
    assert notice.occurred_at is not None
    assert notice.occurred_at.utcoffset() == timedelta(hours=8)
    [notify] = await notifies_finished(payer, order.out_trade_no, 1)
    assert notify["event_type"] == "TRANSACTION.SUCCESS"
    assert notify["delivered"]
    assert [a["status"] for a in notify["attempts"]] == [204]  # accepted: no retry is left scheduled
    assert receiver.rejections == []


async def test_app_and_h5_orders_get_what_their_clients_invoke(provider: WechatProvider) -> None:
    app_order = payment("app")
    prepared = await provider.prepare(app_order)
    client = prepared.client
    assert (client["appid"], client["partnerid"], client["package"]) == (APP_APPID, MCHID, "Sign=WXPay")
    assert client["prepayid"] == prepared.provider_ref
    signed = f"{APP_APPID}\n{client['timestamp']}\n{client['noncestr']}\n{client['prepayid']}\n".encode()
    assert keys.verify(keys.load_public(MERCHANT.public_pem), signed, client["sign"])

    h5 = await provider.prepare(payment("h5"))
    assert h5.provider_ref is None
    assert h5.client["h5_url"].startswith("https://wx.tenpay.com/")


async def test_preparing_the_same_order_again_gets_the_same_prepay_id(provider: WechatProvider) -> None:
    order = payment()
    first, again = await provider.prepare(order), await provider.prepare(order)
    assert first.provider_ref == again.provider_ref
    with pytest.raises(ProviderError) as raised:
        await provider.prepare(replace(order, amount_cents=order.amount_cents + 1))
    assert (raised.value.code, raised.value.retryable) == ("OUT_TRADE_NO_USED", False)


@pytest.mark.parametrize(
    "order",
    [
        replace(payment("jsapi"), payer={}),  # JSAPI needs the payer's openid
        replace(payment("h5"), payer={}),  # H5 needs the payer's IP
        replace(payment(), currency="USD"),
        replace(payment(), channel="native"),
    ],
    ids=["jsapi-no-openid", "h5-no-ip", "usd", "unknown-channel"],
)
async def test_an_order_wechat_would_refuse_is_refused_before_it_is_sent(
    provider: WechatProvider, payer: httpx.AsyncClient, order: PaymentOrder
) -> None:
    with pytest.raises(ProviderError) as raised:
        await provider.prepare(order)
    assert (raised.value.code, raised.value.retryable) == ("PARAM_ERROR", False)
    assert (await payer.get(f"/sandbox/orders/{order.out_trade_no}")).status_code == 404


async def test_a_receiver_that_refuses_is_notified_again_until_it_accepts(
    provider: WechatProvider, receiver: Receiver, payer: httpx.AsyncClient
) -> None:
    order = payment(notify_url=receiver.url)
    await provider.prepare(order)
    receiver.refuse_next = 2
    await pay(payer, order.out_trade_no)
    [notify] = await notifies_finished(payer, order.out_trade_no, 1)
    assert [a["status"] for a in notify["attempts"]] == [500, 500, 204]
    assert json.loads(notify["attempts"][0]["body"]) == {"code": "FAIL", "message": "busy"}
    assert notify["delivered"]
    assert len(receiver.notices) == 1


async def test_a_receiver_that_never_accepts_is_notified_on_the_schedule_and_then_no_more(
    provider: WechatProvider, receiver: Receiver, payer: httpx.AsyncClient
) -> None:
    order = payment(notify_url=receiver.url)
    await provider.prepare(order)
    receiver.refuse_next = 1_000
    await pay(payer, order.out_trade_no)
    [notify] = await notifies_finished(payer, order.out_trade_no, 1)
    assert [a["status"] for a in notify["attempts"]] == [500] * (1 + len(FAST_RETRIES))
    assert not notify["delivered"]


async def test_a_failed_payment_is_not_notified_and_queries_as_failed(
    provider: WechatProvider, receiver: Receiver, payer: httpx.AsyncClient
) -> None:
    order = payment(notify_url=receiver.url)
    await provider.prepare(order)
    assert (await pay(payer, order.out_trade_no, "fail"))["trade_state"] == "PAYERROR"
    assert (await sandbox_view(payer, order.out_trade_no))["notifies"] == []
    assert (await provider.query(order.out_trade_no)).status is NoticeStatus.FAILED


# Query and close


async def test_query_tells_unpaid_from_paid(
    provider: WechatProvider, receiver: Receiver, payer: httpx.AsyncClient
) -> None:
    order = payment(notify_url=receiver.url, amount=880)
    await provider.prepare(order)
    unpaid = await provider.query(order.out_trade_no)
    assert (unpaid.status, unpaid.provider_ref, unpaid.amount_cents) == (NoticeStatus.PENDING, "", 880)

    paid_at = await pay(payer, order.out_trade_no)
    paid = await provider.query(order.out_trade_no)
    assert paid.status is NoticeStatus.SUCCEEDED
    assert (paid.provider_ref, paid.amount_cents, paid.currency) == (paid_at["transaction_id"], 880, "CNY")
    assert paid.occurred_at is not None


async def test_an_order_wechat_does_not_know_is_a_permanent_error(provider: WechatProvider) -> None:
    with pytest.raises(ProviderError) as raised:
        await provider.query("T-never-prepared")
    assert (raised.value.code, raised.value.retryable) == ("ORDER_NOT_EXIST", False)


async def test_a_closed_order_queries_as_closed_and_cannot_be_paid(
    provider: WechatProvider, payer: httpx.AsyncClient
) -> None:
    order = payment()
    await provider.prepare(order)
    await provider.close(order.out_trade_no)
    assert (await provider.query(order.out_trade_no)).status is NoticeStatus.CLOSED
    response = await payer.post(f"/sandbox/pay/{order.out_trade_no}")
    assert response.status_code == 409
    with pytest.raises(ProviderError) as raised:
        await provider.prepare(order)
    assert raised.value.code == "ORDER_CLOSED"


# Refunds


def refund_of(
    order: PaymentOrder, transaction_id: str, out_refund_no: str, cents: int, url: str
) -> RefundOrder:
    return RefundOrder(
        out_trade_no=order.out_trade_no,
        provider_ref=transaction_id,
        out_refund_no=out_refund_no,
        refund_cents=cents,
        total_cents=order.amount_cents,
        currency="CNY",
        reason="The cleaner could not come",
        notify_url=url,
    )


async def test_partial_then_full_refunds_are_notified_and_never_exceed_the_payment(
    provider: WechatProvider, receiver: Receiver, payer: httpx.AsyncClient
) -> None:
    order = payment(notify_url=receiver.url, amount=10_000)
    await provider.prepare(order)
    transaction_id = (await pay(payer, order.out_trade_no))["transaction_id"]
    await wait_until(lambda: receiver.notices)

    first = await provider.refund(refund_of(order, transaction_id, "R1", 3_000, receiver.url))
    assert first.status is RefundStatus.PROCESSING
    assert first.provider_refund_id
    refunded = await wait_until(lambda: [n for n in receiver.notices if n.kind is NoticeKind.REFUND])
    [notice] = refunded
    assert (notice.status, notice.amount_cents, notice.currency) == (NoticeStatus.SUCCEEDED, 3_000, "CNY")
    assert (notice.out_refund_no, notice.out_trade_no, notice.provider_ref) == (
        "R1",
        order.out_trade_no,
        transaction_id,
    )

    # The same out_refund_no is the same refund: no second one, no second notify.
    again = await provider.refund(refund_of(order, transaction_id, "R1", 3_000, receiver.url))
    assert (again.provider_refund_id, again.status) == (first.provider_refund_id, RefundStatus.SUCCEEDED)
    with pytest.raises(ProviderError) as changed:
        await provider.refund(refund_of(order, transaction_id, "R1", 3_001, receiver.url))
    assert (changed.value.code, changed.value.retryable) == ("INVALID_REQUEST", False)

    with pytest.raises(ProviderError) as too_much:
        await provider.refund(refund_of(order, transaction_id, "R2", 7_001, receiver.url))
    assert too_much.value.code == "INVALID_REQUEST"
    by_trade_no = replace(refund_of(order, transaction_id, "R2", 7_000, receiver.url), provider_ref="")
    assert (await provider.refund(by_trade_no)).status is RefundStatus.PROCESSING

    notifies = await notifies_finished(payer, order.out_trade_no, 3)  # the payment's and two refunds'
    assert [n["event_type"] for n in notifies] == ["TRANSACTION.SUCCESS", "REFUND.SUCCESS", "REFUND.SUCCESS"]
    view = await sandbox_view(payer, order.out_trade_no)
    assert (view["trade_state"], view["refunded"], len(view["refunds"])) == ("REFUND", 10_000, 2)
    assert sorted(n.amount_cents for n in receiver.notices if n.kind is NoticeKind.REFUND) == [3_000, 7_000]
    with pytest.raises(ProviderError) as nothing_left:
        await provider.refund(refund_of(order, transaction_id, "R3", 1, receiver.url))
    assert nothing_left.value.code == "INVALID_REQUEST"
    assert (await provider.query(order.out_trade_no)).status is NoticeStatus.SUCCEEDED  # paid, then refunded


async def test_an_unpaid_order_cannot_be_refunded(provider: WechatProvider) -> None:
    order = payment()
    await provider.prepare(order)
    with pytest.raises(ProviderError) as raised:
        await provider.refund(replace(refund_of(order, "", "R1", 100, order.notify_url)))
    assert (raised.value.code, raised.value.retryable) == ("INVALID_REQUEST", False)


# What WeChat refuses, and what the hub must not trust


async def test_requests_not_signed_with_the_registered_merchant_key_are_refused(
    sandbox: TestServer, provider: WechatProvider
) -> None:
    url = base_url(sandbox)
    for config in (
        provider_config(url, merchant_private_key=STRANGER.private_pem),
        provider_config(url, merchant_serial="0000000000000000000000000000000000000000"),
        provider_config(url, mchid="1900000999"),
    ):
        stranger = WechatProvider(config)
        try:
            with pytest.raises(ProviderError) as raised:
                await stranger.prepare(payment())
        finally:
            await stranger.aclose()
        assert (raised.value.code, raised.value.retryable) == ("SIGN_ERROR", False)

    path = "/v3/pay/transactions/out-trade-no/T0000001?mchid=" + MCHID
    signed_body = b'{"mchid":"' + MCHID.encode() + b'"}'
    cases = {
        "stale": provider.authorization("GET", path, b"", timestamp=int(time.time()) - 301),
        "other path": provider.authorization("GET", path.replace("T0000001", "T0000002"), b""),
        "other body": provider.authorization("POST", path, signed_body),
    }
    async with httpx.AsyncClient(base_url=url, timeout=WAIT) as client:
        for case, authorization in cases.items():
            headers = {"Authorization": authorization, "Accept": "application/json"}
            response = await client.get(path, headers=headers)
            assert response.status_code == 401, case
            assert response.json()["code"] == "SIGN_ERROR", case


async def test_an_answer_not_signed_by_the_platform_key_is_not_trusted(sandbox: TestServer) -> None:
    url = base_url(sandbox)
    for platform_keys in ({PLATFORM_SERIAL: STRANGER.public_pem}, {"PUB_KEY_ID_OTHER": PLATFORM.public_pem}):
        deceived = WechatProvider(provider_config(url, platform_keys=platform_keys))
        try:
            with pytest.raises(ProviderError) as raised:
                await deceived.prepare(payment())
        finally:
            await deceived.aclose()
        assert (raised.value.code, raised.value.retryable) == ("RESPONSE_UNVERIFIED", False)


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (500, "SYSTEM_ERROR", True),
        (503, "SYSTEM_ERROR", True),
        (429, "FREQUENCY_LIMITED", True),
        (400, "PARAM_ERROR", False),
        (403, "NO_AUTH", False),
    ],
)
async def test_server_errors_and_throttling_are_worth_retrying_and_refusals_are_not(
    provider: WechatProvider, payer: httpx.AsyncClient, status: int, code: str, retryable: bool
) -> None:
    await payer.post("/sandbox/faults", json={"status": status, "code": code, "count": 1})
    with pytest.raises(ProviderError) as raised:
        await provider.query("T-anything")
    assert (raised.value.code, raised.value.retryable) == (code, retryable)


async def test_no_answer_at_all_is_worth_retrying() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    unreachable = WechatProvider(provider_config(f"http://127.0.0.1:{port}"))
    try:
        with pytest.raises(ProviderError) as raised:
            await unreachable.query("T-anything")
    finally:
        await unreachable.aclose()
    assert raised.value.retryable


NOT_GENUINE: dict[str, tuple[str, Any]] = {
    "bad_signature": ("bad_signature", lambda body: signed_headers(body + b" ")),
    "another_key": ("bad_signature", lambda body: signed_headers(body, key=STRANGER.private_pem)),
    "signature_probe": (
        "bad_signature",
        lambda body: {**signed_headers(body), "wechatpay-signature": "WECHATPAY/SIGNTEST/" + "A" * 340},
    ),
    "stale": ("stale_timestamp", lambda body: signed_headers(body, at=time.time() - 301)),
    "from_the_future": ("stale_timestamp", lambda body: signed_headers(body, at=time.time() + 301)),
    "unknown_serial": ("unknown_serial", lambda body: signed_headers(body, serial="PUB_KEY_ID_UNKNOWN")),
    "no_signature": (
        "malformed",
        lambda body: {k: v for k, v in signed_headers(body).items() if k != "wechatpay-signature"},
    ),
}


@pytest.mark.parametrize("case", list(NOT_GENUINE))
async def test_a_notify_not_genuinely_from_wechat_is_rejected(offline: WechatProvider, case: str) -> None:
    reason, headers_for = NOT_GENUINE[case]
    body = envelope(transaction())
    with pytest.raises(NotifyRejected) as raised:
        offline.verify_notify(arrived(body, headers_for(body)))
    assert raised.value.reason == reason


MISADDRESSED: dict[str, tuple[str, bytes]] = {
    "wrong_merchant": ("wrong_merchant", envelope(transaction(mchid="1900000999"))),
    "wrong_app": ("wrong_app", envelope(transaction(appid="wx0000000000000000"))),
    "refund_to_another_merchant": (
        "wrong_merchant",
        envelope(
            {"mchid": "1900000999", "out_trade_no": "T1", "transaction_id": "42", "out_refund_no": "R1"}
            | {"refund_id": "50", "refund_status": "SUCCESS", "amount": {"total": 100, "refund": 100}},
            event_type="REFUND.SUCCESS",
            original_type="refund",
        ),
    ),
    "another_api_v3_key": ("decrypt_failed", envelope(transaction(), api_v3_key=b"k" * 32)),
    "unsupported_event": ("unsupported_event", envelope(transaction(), event_type="TRANSACTION.FAIL")),
    "usd": ("unsupported_currency", envelope(transaction(amount={"total": 100, "currency": "USD"}))),
    "state_not_paid": ("malformed", envelope(transaction(trade_state="NOTPAY"))),
    "resource_of_another_type": ("malformed", envelope(transaction(), original_type="refund")),
    "not_json": ("malformed", b"<xml><return_code>SUCCESS</return_code></xml>"),
    "plaintext_not_json": ("malformed", envelope(b"not json")),
    "negative_amount": ("malformed", envelope(transaction(amount={"total": -1, "currency": "CNY"}))),
}


@pytest.mark.parametrize("case", list(MISADDRESSED))
async def test_a_signed_notify_that_is_not_for_us_or_not_as_documented_is_rejected(
    offline: WechatProvider, case: str
) -> None:
    reason, body = MISADDRESSED[case]
    with pytest.raises(NotifyRejected) as raised:
        offline.verify_notify(arrived(body))
    assert raised.value.reason == reason


def test_a_payment_to_either_of_our_apps_verifies(offline: WechatProvider) -> None:
    for appid in (APPID, APP_APPID):
        notice = offline.verify_notify(arrived(envelope(transaction(appid=appid))))
        assert (notice.kind, notice.status, notice.amount_cents) == (
            NoticeKind.PAYMENT,
            NoticeStatus.SUCCEEDED,
            100,
        )


@pytest.mark.parametrize(
    ("refund_status", "status"),
    [("SUCCESS", NoticeStatus.SUCCEEDED), ("ABNORMAL", NoticeStatus.FAILED), ("CLOSED", NoticeStatus.FAILED)],
)
def test_each_refund_outcome_verifies_into_its_notice(
    offline: WechatProvider, refund_status: str, status: NoticeStatus
) -> None:
    resource = {
        "mchid": MCHID,
        "out_trade_no": "T20260105abcdef",
        "transaction_id": "4200000000000000000000000001",
        "out_refund_no": "R1",
        "refund_id": "50000000382019052709732678859",
        "refund_status": refund_status,
        "amount": {"total": 100, "refund": 40, "payer_total": 100, "payer_refund": 40},
    }
    body = envelope(resource, event_type=f"REFUND.{refund_status}", original_type="refund")
    notice = offline.verify_notify(arrived(body))
    assert (notice.kind, notice.status, notice.amount_cents, notice.currency) == (
        NoticeKind.REFUND,
        status,
        40,
        "CNY",
    )
    assert (notice.out_refund_no, notice.merchant, notice.occurred_at) == ("R1", MCHID, None)


async def test_a_genuine_notify_altered_in_transit_is_rejected(
    provider: WechatProvider, receiver: Receiver, payer: httpx.AsyncClient
) -> None:
    order = payment(notify_url=receiver.url)
    await provider.prepare(order)
    await pay(payer, order.out_trade_no)
    await wait_until(lambda: receiver.notices)
    body = envelope(transaction(out_trade_no=order.out_trade_no))
    headers = signed_headers(body)
    assert provider.verify_notify(arrived(body, headers)).out_trade_no == order.out_trade_no
    altered = body.replace(b'"summary": "', b'"summary": "x')
    with pytest.raises(NotifyRejected) as raised:
        provider.verify_notify(arrived(altered, headers))
    assert raised.value.reason == "bad_signature"


# Configuration

ENV = {
    "HUB_PAY_WECHAT_MCHID": MCHID,
    "HUB_PAY_WECHAT_APPID": APPID,
    "HUB_PAY_WECHAT_MERCHANT_SERIAL": MERCHANT_SERIAL,
    "HUB_PAY_WECHAT_MERCHANT_KEY": MERCHANT.private_pem,
    "HUB_PAY_WECHAT_API_V3_KEY": API_V3_KEY.decode(),
    "HUB_PAY_WECHAT_PLATFORM_KEYS": f"{PLATFORM_SERIAL}={PLATFORM.public_pem}",
}


def test_wechat_pay_is_off_when_none_of_its_variables_is_set() -> None:
    assert WechatConfig.from_env({}) is None
    assert (
        WechatConfig.from_env({"HUB_PAY_ALIPAY_APP_ID": "2021000000000000", "HUB_PAY_WECHAT_MCHID": " "})
        is None
    )


@pytest.mark.parametrize("missing", list(ENV))
def test_half_a_configuration_names_the_missing_variable(missing: str) -> None:
    with pytest.raises(ConfigError) as raised:
        WechatConfig.from_env({k: v for k, v in ENV.items() if k != missing})
    assert raised.value.variable == missing


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HUB_PAY_WECHAT_API_V3_KEY", "31-bytes-are-not-enough-0123456"),
        (
            "HUB_PAY_WECHAT_MERCHANT_KEY",
            "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----",
        ),
        ("HUB_PAY_WECHAT_MERCHANT_KEY", "/nonexistent/apiclient_key.pem"),
        ("HUB_PAY_WECHAT_PLATFORM_KEYS", "PUB_KEY_ID_0114232134912410000000000000"),
        ("HUB_PAY_WECHAT_PLATFORM_KEYS", "PUB_KEY_ID_0114232134912410000000000000=bm90IGEga2V5"),
        ("HUB_PAY_WECHAT_BASE_URL", "api.mch.weixin.qq.com"),
    ],
)
def test_a_value_that_does_not_parse_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        WechatConfig.from_env({**ENV, variable: value})
    assert raised.value.variable == variable


async def test_keys_come_inline_from_files_or_as_bare_base64(tmp_path: Path) -> None:
    merchant_file, platform_file = tmp_path / "apiclient_key.pem", tmp_path / "pub_key.pem"
    merchant_file.write_text(MERCHANT.private_pem)
    platform_file.write_text(PLATFORM.public_pem)
    bare = "".join(line for line in STRANGER.public_pem.splitlines() if not line.startswith("-----"))
    config = WechatConfig.from_env(
        {
            **ENV,
            "HUB_PAY_WECHAT_MERCHANT_KEY": str(merchant_file),
            "HUB_PAY_WECHAT_PLATFORM_KEYS": f"{PLATFORM_SERIAL}={platform_file}, PUB_KEY_ID_NEXT={bare}",
        }
    )
    assert config is not None
    assert sorted(config.platform_keys) == sorted([PLATFORM_SERIAL, "PUB_KEY_ID_NEXT"])
    assert (config.base_url, config.appids, config.api_v3_key) == (PRODUCTION_URL, {APPID}, API_V3_KEY)
    provider = WechatProvider(config)  # every key loads
    await provider.aclose()


# Whatever arrives, verify_notify answers NotifyRejected or a Notice, nothing else.

HEADER_NAMES = ["wechatpay-timestamp", "wechatpay-nonce", "wechatpay-signature", "wechatpay-serial"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def survives(provider: WechatProvider, request: NotifyRequest) -> None:
    with contextlib.suppress(NotifyRejected):
        provider.verify_notify(request)


@seed(20260105)
@FUZZ
@given(
    headers=st.dictionaries(
        st.sampled_from([*HEADER_NAMES, "wechatpay-signature-type"]) | st.text(max_size=16),
        st.text(max_size=40)
        | st.sampled_from([PLATFORM_SERIAL, str(int(time.time())), "WECHATPAY2-SHA256-RSA2048"]),
        max_size=6,
    ),
    body=st.binary(max_size=400),
)
async def test_arbitrary_headers_and_bodies_are_only_ever_rejected(
    offline: WechatProvider, headers: dict[str, str], body: bytes
) -> None:
    survives(offline, NotifyRequest(headers, body, datetime.now(UTC)))


@seed(20260106)
@FUZZ
@given(body=st.binary(max_size=400) | json_values.map(lambda value: json.dumps(value).encode()))
async def test_signed_bodies_of_any_shape_are_only_ever_rejected(
    offline: WechatProvider, body: bytes
) -> None:
    survives(offline, arrived(body))


@seed(20260107)
@FUZZ
@given(
    data=st.data(),
    event_type=st.sampled_from(["TRANSACTION.SUCCESS", "REFUND.SUCCESS", "REFUND.ABNORMAL", "REFUND.CLOSED"]),
)
async def test_signed_encrypted_resources_of_any_shape_verify_or_are_rejected(
    offline: WechatProvider, data: st.DataObject, event_type: str
) -> None:
    original_type = "transaction" if event_type.startswith("TRANSACTION") else "refund"
    base: dict[str, Any] = (
        transaction()
        if original_type == "transaction"
        else {
            "mchid": MCHID,
            "out_trade_no": "T1",
            "transaction_id": "42",
            "out_refund_no": "R1",
            "refund_id": "50",
            "refund_status": event_type.split(".")[1],
            "amount": {"total": 100, "refund": 100},
        }
    )
    # A few documented fields dropped or replaced by any JSON value (often none: then it verifies),
    # now and then no JSON object at all.
    fields = sorted(base)
    dropped = data.draw(st.sets(st.sampled_from(fields), max_size=2), label="dropped")
    replaced = data.draw(st.dictionaries(st.sampled_from(fields), json_values, max_size=2), label="replaced")
    resource = {name: replaced.get(name, value) for name, value in base.items() if name not in dropped}
    plain = json.dumps(resource).encode()
    if data.draw(st.integers(0, 9), label="garbage") == 0:
        plain = data.draw(st.binary(max_size=60), label="plaintext")
    survives(offline, arrived(envelope(plain, event_type=event_type, original_type=original_type)))
