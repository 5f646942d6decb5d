"""Alipay Open Platform (支付宝开放平台), public-key mode, RSA2 keys.

Documented rules this module implements:

- Requests go to the gateway (``https://openapi.alipay.com/gateway.do``) with the common parameters
  ``app_id, method, format=JSON, charset=utf-8, sign_type=RSA2, timestamp, version=1.0`` (plus
  ``notify_url``/``return_url`` where the API takes them) and the API's own parameters as a JSON
  ``biz_content``. ``timestamp`` is "yyyy-MM-dd HH:mm:ss" in Beijing time.
- Request signature: every parameter but ``sign`` and those with an empty value, sorted by name
  (ASCII), joined ``k=v&k=v`` with raw (not URL-encoded) values, SHA256withRSA with the app's
  private key (应用私钥), base64.
- Paying: ``alipay.trade.page.pay`` (PC web, ``FAST_INSTANT_TRADE_PAY``) and ``alipay.trade.wap.pay``
  (mobile web, ``QUICK_WAP_WAY``) are signed URLs the payer's browser opens (``client["url"]``);
  ``alipay.trade.app.pay`` (``QUICK_MSECURITY_PAY``) is the signed, URL-encoded order string the
  Alipay app SDK takes (``client["order_string"]``). No call to Alipay is made at prepare time, so
  ``Prepared.provider_ref`` is None: the trade_no comes with the notify. Amounts are yuan strings
  with two decimals ("128.00"), converted from fen with integer arithmetic only. ``subject`` may
  not hold ``/``, ``=`` or ``&``: they become spaces.
- Async notify (异步通知): a form POST (``notify_type=trade_status_sync``). Verified by dropping
  ``sign`` and ``sign_type``, sorting the rest, joining ``k=v&k=v`` with URL-decoded values (empty
  values included) and checking SHA256withRSA with Alipay's public key (支付宝公钥); only
  ``sign_type=RSA2`` is accepted. ``app_id`` must be ours (``wrong_app``), ``seller_id`` too when
  configured (``wrong_merchant``). The answer that stops Alipay's retries is exactly ``success``;
  anything else (``refused`` answers ``fail``) is retried 8 times over about 25 hours (after 4m,
  10m, 10m, 1h, 2h, 6h, 15h).
- ``trade_status``: ``TRADE_SUCCESS`` and ``TRADE_FINISHED`` are a payment SUCCEEDED;
  ``TRADE_CLOSED`` (unpaid and expired, or closed) is CLOSED; ``WAIT_BUYER_PAY`` is not a payment
  and is rejected as ``unsupported_event`` (Alipay does not send it by default for these products).
- Refunds (``alipay.trade.refund``) have no notify of their own: Alipay re-sends the trade's notify
  to the payment's notify_url, carrying ``refund_fee`` (the total refunded so far), ``gmt_refund``
  and ``out_biz_no`` (the refund's ``out_request_no``): a partial refund keeps ``TRADE_SUCCESS``, a
  full one gives ``TRADE_CLOSED``. A notify with ``gmt_refund`` and one of those two statuses is
  read as a REFUND notice SUCCEEDED with ``out_refund_no = out_biz_no`` and ``amount_cents =
  refund_fee``: the payment's total refunded so far, which is this refund's amount only for the
  first refund of a payment. ``TRADE_FINISHED`` is always read as the payment.
- Refund result: ``code=10000`` with ``fund_change=Y`` is SUCCEEDED. ``fund_change=N`` (a repeated
  ``out_request_no``, or a refund Alipay has not settled yet) is confirmed with
  ``alipay.trade.fastpay.refund.query``: ``refund_status=REFUND_SUCCESS`` is SUCCEEDED, anything
  else PROCESSING (asking again with the same out_refund_no is safe). A business refusal
  (``code=40004``, e.g. ``ACQ.REASON_TRADE_REFUND_FEE_ERR``, ``ACQ.TRADE_STATUS_ERROR``) is FAILED
  with the ``sub_code`` as error. Alipay has no refund id of its own (a refund is trade_no plus
  out_request_no), so ``provider_refund_id`` is None. ``RefundOrder.notify_url`` is not sent: the
  refund API takes none.
- Answers (同步返回) are JSON ``{"<method>_response": {...}, "sign": "..."}`` (``error_response``
  for a gateway-level error); the signature covers the exact text of the ``..._response`` value as
  it appears in the body, which is cut out of the body, never re-serialised. A success
  (``code=10000``) must carry a valid signature; an error answer without one is still read as the
  error it states. ``code`` 10000 is success; 20000 (service unavailable) and ``ACQ.SYSTEM_ERROR``
  are retryable; 40001/40002/40004/40006 are not, and ``ProviderError.code`` is the ``sub_code``.
- Query: ``alipay.trade.query``; ``40004 ACQ.TRADE_NOT_EXIST`` (the payer never opened the order)
  and ``WAIT_BUYER_PAY`` are PENDING (with provider_ref "" and amount 0 when the trade does not
  exist). A trade closed by a full refund is queried as ``TRADE_CLOSED``, i.e. CLOSED.

Choices where the documentation leaves room:

- Freshness: Alipay signs ``notify_time`` but does not say whether a retry carries a new one, and
  retries end about 25 hours after the first sending; a notify older than 26 hours, or more than
  five minutes ahead of our clock, is ``stale_timestamp``. Replays inside the window are handled
  by the hub's idempotency anyway.
- Only CNY (a notify naming another ``trans_currency`` is ``unsupported_currency``) and UTF-8
  (a notify whose ``charset`` is another is ``malformed``).

Not implemented: certificate mode (公钥证书, ``app_cert_sn``/``alipay_root_cert_sn``; so there is no
certificate serial to check and ``unknown_serial`` never applies), the older RSA (SHA1) signatures,
AES content encryption, ``app_auth_token`` (acting for another merchant), ``alipay.trade.close``,
the synchronous ``return_url`` parameters (never trusted; the notify or a query decides).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa

from bookings.payments import keys
from bookings.payments.providers.base import (
    HTTP_TIMEOUT,
    Answer,
    Method,
    Notice,
    NoticeKind,
    NoticeStatus,
    NotifyRejected,
    NotifyRequest,
    PaymentOrder,
    Prepared,
    ProviderError,
    RefundOrder,
    RefundResult,
    RefundStatus,
)
from hub.env import ConfigError, EnvReader

log = logging.getLogger(__name__)

PRODUCTION_GATEWAY = "https://openapi.alipay.com/gateway.do"
# Beijing time without tzdata: China has kept UTC+8, with no daylight saving, since 1991.
CHINA_TIME = timezone(timedelta(hours=8), "Asia/Shanghai")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
CURRENCY = "CNY"
# channel -> (API, product_code)
CHANNELS = {
    "page": ("alipay.trade.page.pay", "FAST_INSTANT_TRADE_PAY"),
    "wap": ("alipay.trade.wap.pay", "QUICK_WAP_WAY"),
    "app": ("alipay.trade.app.pay", "QUICK_MSECURITY_PAY"),
}
SUCCESS_CODE = "10000"
BUSINESS_FAILED = "40004"
RETRYABLE_CODES = frozenset({"20000"})  # "服务不可用"
RETRYABLE_SUB_CODES = frozenset({"ACQ.SYSTEM_ERROR"})  # "系统错误, 请使用相同的参数再次调用"
NOTIFY_MAX_AGE = timedelta(hours=26)  # the last retry comes about 25 h after the first sending
NOTIFY_MAX_AHEAD = timedelta(minutes=5)  # a sender's clock a little ahead of ours
MAX_NOTIFY_BYTES = 64 * 1024  # a real notify is about 2 KB
MAX_NOTIFY_FIELDS = 100
FORM = "application/x-www-form-urlencoded"
MAX_SUBJECT = 256
MAX_REFUND_REASON = 256
OUT_TRADE_NO = re.compile(r"[A-Za-z0-9_-]{6,32}")
SELLER_ID = re.compile(r"2088[0-9]{12}")  # Alipay's PID: 16 digits starting 2088
# Alipay's "Price": yuan with at most two decimals, no sign, no exponent, no leading zeros.
YUAN = re.compile(r"(0|[1-9][0-9]{0,10})(?:\.([0-9]{1,2}))?")
# gmt_refund carries milliseconds ("2015-04-28 15:45:57.320"), the other times do not.
CHINA_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,3})?")
BASE64_KEY = re.compile(r"[A-Za-z0-9+/=\s]{100,}")  # a key's bare body, as Alipay's tools show it
PEM_LABELS = ("PRIVATE KEY", "RSA PRIVATE KEY")  # PKCS#8, PKCS#1

ENV_APP_ID = "HUB_PAY_ALIPAY_APP_ID"
ENV_PRIVATE_KEY = "HUB_PAY_ALIPAY_PRIVATE_KEY"
ENV_PUBLIC_KEY = "HUB_PAY_ALIPAY_PUBLIC_KEY"
ENV_SELLER_ID = "HUB_PAY_ALIPAY_SELLER_ID"
ENV_GATEWAY_URL = "HUB_PAY_ALIPAY_GATEWAY_URL"
ENV_VARIABLES = (ENV_APP_ID, ENV_PRIVATE_KEY, ENV_PUBLIC_KEY, ENV_SELLER_ID, ENV_GATEWAY_URL)

_PAID = frozenset({"TRADE_SUCCESS", "TRADE_FINISHED"})
_REFUNDABLE_STATES = frozenset({"TRADE_SUCCESS", "TRADE_CLOSED"})  # the states a refund leaves
_QUERY_STATUSES = {
    "WAIT_BUYER_PAY": NoticeStatus.PENDING,
    "TRADE_SUCCESS": NoticeStatus.SUCCEEDED,
    "TRADE_FINISHED": NoticeStatus.SUCCEEDED,
    "TRADE_CLOSED": NoticeStatus.CLOSED,
}


@dataclass(frozen=True, slots=True)
class AlipayConfig:
    app_id: str
    private_key: str = field(repr=False)  # the app's private key (应用私钥), PEM
    alipay_public_key: str  # Alipay's public key (支付宝公钥), PEM: verifies notifies and answers
    seller_id: str | None = None  # the PID (2088...) notifies must be addressed to, when set
    gateway_url: str = PRODUCTION_GATEWAY

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AlipayConfig | None:
        """None when no ``HUB_PAY_ALIPAY_*`` variable is set; ``ConfigError`` when some are."""
        reader = EnvReader(env)
        if not any(reader.text(name) for name in ENV_VARIABLES):
            return None
        app_id = _required(reader, ENV_APP_ID)
        if not app_id.isascii() or not app_id.isdigit():
            raise ConfigError(ENV_APP_ID, "an Alipay app id is digits only")
        private_key = _private_key(reader, _required(reader, ENV_PRIVATE_KEY))
        public_key = _public_key(reader, _required(reader, ENV_PUBLIC_KEY))
        seller_id = reader.text(ENV_SELLER_ID)
        if seller_id is not None and not SELLER_ID.fullmatch(seller_id):
            raise ConfigError(ENV_SELLER_ID, "a seller id (PID) is 16 digits starting 2088")
        gateway = reader.url(ENV_GATEWAY_URL, ("https", "http")) or PRODUCTION_GATEWAY
        return cls(app_id, private_key, public_key, seller_id, gateway)


def _required(reader: EnvReader, name: str) -> str:
    value = reader.text(name)
    if value is None:
        raise ConfigError(name, "required when any HUB_PAY_ALIPAY_* variable is set")
    return value


def _private_key(reader: EnvReader, value: str) -> str:
    """PEM text of the app's private key given as PEM, a file, or the bare base64 body Alipay's key
    tool writes (PKCS#8 for Java, PKCS#1 for the other languages)."""
    candidates = [f"-----BEGIN {label}-----\n{value}\n-----END {label}-----\n" for label in PEM_LABELS]
    if not BASE64_KEY.fullmatch(value):
        candidates = [reader.pem(ENV_PRIVATE_KEY) or value]
    for pem in candidates:
        try:
            keys.load_private(pem)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
        return pem
    raise ConfigError(ENV_PRIVATE_KEY, "not an RSA private key (PEM, a PEM file or base64)")


def _public_key(reader: EnvReader, value: str) -> str:
    pem = value if BASE64_KEY.fullmatch(value) else reader.pem(ENV_PUBLIC_KEY) or value
    try:
        keys.load_public(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigError(ENV_PUBLIC_KEY, "not an RSA public key (PEM, a PEM file or base64)") from None
    return pem


def yuan(cents: int) -> str:
    """Fen as Alipay's yuan string, "128.00": integer arithmetic, never a float."""
    if cents < 0:
        raise ValueError("a negative amount")
    return f"{cents // 100}.{cents % 100:02d}"


def cents_of(text: object) -> int | None:
    """Alipay's yuan string as fen, or None when it is not one."""
    if not isinstance(text, str):
        return None
    match = YUAN.fullmatch(text)
    if match is None:
        return None
    whole, fraction = match.groups()
    return int(whole) * 100 + int((fraction or "").ljust(2, "0"))


def china_time(moment: datetime) -> str:
    """A moment as Alipay writes it: Beijing wall time, "yyyy-MM-dd HH:mm:ss"."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime: its time zone is unknown")
    return moment.astimezone(CHINA_TIME).strftime(TIME_FORMAT)


def parse_china_time(text: object) -> datetime | None:
    if not isinstance(text, str) or not CHINA_DATETIME.fullmatch(text):
        return None
    try:
        wall = datetime.strptime(text[:19], TIME_FORMAT)
    except ValueError:
        return None
    millis = int(text[20:].ljust(3, "0")) if len(text) > 19 else 0
    return wall.replace(tzinfo=CHINA_TIME, microsecond=millis * 1000)


def request_content(params: Mapping[str, str]) -> str:
    """What a request's ``sign`` covers: sorted, without ``sign`` and empty values, raw values."""
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "sign" and v != "")


def notify_content(params: Mapping[str, str]) -> str:
    """What a notify's ``sign`` covers: sorted, without ``sign`` and ``sign_type``, decoded values."""
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in ("sign", "sign_type"))


def signed_answer(body: bytes, api: str) -> tuple[dict[str, Any], str, object]:
    """The ``<api>_response`` (or ``error_response``) object of an answer, its exact text as it
    appears in the body (what Alipay signed) and the ``sign`` beside it; ValueError if none."""
    text = body.decode("utf-8")
    document = json.loads(text)
    if not isinstance(document, dict):
        raise ValueError("the answer is not a JSON object")
    name = api.replace(".", "_") + "_response"
    if name not in document:
        name = "error_response"
    node = document.get(name)
    if not isinstance(node, dict):
        raise ValueError(f"the answer has no {api.replace('.', '_')}_response object")
    decoder = json.JSONDecoder()
    for match in re.finditer(re.escape(json.dumps(name)) + r"\s*:\s*", text):
        try:
            value, end = decoder.raw_decode(text, match.end())
        except ValueError:
            continue
        if value == node:  # the top-level member, not the same words inside some string
            return node, text[match.end() : end], document.get("sign")
    raise ValueError(f"cannot find the text of {name} in the answer")


class AlipayProvider:
    method = Method.ALIPAY

    def __init__(self, config: AlipayConfig) -> None:
        self._config = config
        self._private_key: rsa.RSAPrivateKey = keys.load_private(config.private_key)
        self._alipay_key: rsa.RSAPublicKey = keys.load_public(config.alipay_public_key)
        self._client = httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def prepare(self, order: PaymentOrder) -> Prepared:
        api, product_code = _checked_channel(order)
        biz = {
            "out_trade_no": order.out_trade_no,
            "total_amount": yuan(order.amount_cents),
            "subject": _subject(order.description),
            "product_code": product_code,
            "time_expire": china_time(order.expires_at),
        }
        extra = {"notify_url": order.notify_url}
        if order.channel == "app":
            return Prepared(None, {"order_string": urlencode(self.signed(api, biz, extra))})
        if order.return_url:
            extra["return_url"] = order.return_url
        url = f"{self._config.gateway_url}?{urlencode(self.signed(api, biz, extra))}"
        return Prepared(None, {"url": url, "return_url": order.return_url})

    def signed(
        self, api: str, biz: Mapping[str, Any], extra: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The common parameters, ``biz_content`` and ``sign`` of a request to ``api``."""
        params = {
            "app_id": self._config.app_id,
            "method": api,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": china_time(datetime.now(UTC)),
            "version": "1.0",
            "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
            **(extra or {}),
        }
        params["sign"] = keys.sign(self._private_key, request_content(params).encode())
        return params

    def verify_notify(self, request: NotifyRequest) -> Notice:
        params = _notify_params(request)
        self._check_signature(params)
        if params.get("app_id") != self._config.app_id:
            raise NotifyRejected("wrong_app", f"app_id {params.get('app_id')!r}")
        if self._config.seller_id is not None and params.get("seller_id") != self._config.seller_id:
            raise NotifyRejected("wrong_merchant", f"seller_id {params.get('seller_id')!r}")
        if params.get("notify_type") != "trade_status_sync":
            raise NotifyRejected("unsupported_event", f"notify_type {params.get('notify_type')!r}")
        _check_fresh(params, request.received_at)
        currency = params.get("trans_currency", CURRENCY)
        if currency != CURRENCY:
            raise NotifyRejected("unsupported_currency", currency)
        return _notice(params, self._config.app_id)

    def accepted(self) -> Answer:
        return Answer(200, b"success", "text/plain")

    def refused(self, reason: str) -> Answer:
        # Alipay retries on any body but "success"; "fail" is what its own samples answer.
        return Answer(200, b"fail", "text/plain")

    async def query(self, out_trade_no: str) -> Notice:
        api = "alipay.trade.query"
        node = await self._call(api, {"out_trade_no": out_trade_no})
        code, sub_code = node.get("code"), node.get("sub_code")
        if code == BUSINESS_FAILED and sub_code == "ACQ.TRADE_NOT_EXIST":
            return self._notice(NoticeStatus.PENDING, out_trade_no, "", 0, node)
        if code != SUCCESS_CODE:
            raise _failure(api, node)
        status = _QUERY_STATUSES.get(str(node.get("trade_status")))
        total = cents_of(node.get("total_amount"))
        trade_no = node.get("trade_no")
        if status is None or total is None or not isinstance(trade_no, str):
            raise ProviderError(f"alipay {api}: unexpected answer {node}", retryable=False, code="malformed")
        if node.get("out_trade_no") != out_trade_no:
            raise ProviderError(f"alipay {api}: answer about {node.get('out_trade_no')!r}", retryable=False)
        return self._notice(status, out_trade_no, trade_no, total, node)

    async def refund(self, order: RefundOrder) -> RefundResult:
        _check_refund(order)
        api = "alipay.trade.refund"
        biz = {
            "out_trade_no": order.out_trade_no,
            "refund_amount": yuan(order.refund_cents),
            "out_request_no": order.out_refund_no,
            "refund_reason": order.reason[:MAX_REFUND_REASON],
        }
        if order.provider_ref:
            biz["trade_no"] = order.provider_ref
        node = await self._call(api, biz)
        if node.get("code") != SUCCESS_CODE:
            error = _failure(api, node)
            if node.get("code") == BUSINESS_FAILED and not error.retryable:
                return RefundResult(RefundStatus.FAILED, error=error.code)
            raise error
        if node.get("fund_change") == "Y":
            return RefundResult(RefundStatus.SUCCEEDED)
        return await self._refund_outcome(order)

    async def _refund_outcome(self, order: RefundOrder) -> RefundResult:
        """``fund_change=N``: the refund was made before (same out_request_no) or is not settled."""
        api = "alipay.trade.fastpay.refund.query"
        biz = {"out_trade_no": order.out_trade_no, "out_request_no": order.out_refund_no}
        try:
            node = await self._call(api, biz)
        except ProviderError as exc:
            log.warning("alipay refund %s accepted, its query failed: %s", order.out_refund_no, exc)
            return RefundResult(RefundStatus.PROCESSING)
        if node.get("code") == SUCCESS_CODE and node.get("refund_status") == "REFUND_SUCCESS":
            return RefundResult(RefundStatus.SUCCEEDED)
        return RefundResult(RefundStatus.PROCESSING)

    async def _call(self, api: str, biz: Mapping[str, Any]) -> dict[str, Any]:
        """POST a signed request; the verified ``<api>_response`` object, or ``ProviderError``."""
        try:
            response = await self._client.post(
                self._config.gateway_url,
                content=urlencode(self.signed(api, biz)).encode(),
                headers={"Content-Type": f"{FORM};charset=utf-8", "Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise ProviderError(f"alipay {api}: {type(exc).__name__}: {exc}", retryable=True) from exc
        status = response.status_code
        if status != 200:
            retryable = status == 429 or status >= 500
            raise ProviderError(f"alipay {api}: HTTP {status}", retryable=retryable, code=f"http_{status}")
        try:
            node, signed_text, sign = signed_answer(response.content, api)
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise ProviderError(f"alipay {api}: {exc}", retryable=False, code="malformed") from None
        if sign is None and node.get("code") != SUCCESS_CODE:
            return node  # gateway errors may come unsigned; they move no money
        if not isinstance(sign, str) or not keys.verify(self._alipay_key, signed_text.encode(), sign):
            raise ProviderError(
                f"alipay {api}: the answer's signature does not verify with Alipay's public key",
                retryable=False,
                code="bad_response_signature",
            )
        return node

    def _notice(
        self, status: NoticeStatus, out_trade_no: str, trade_no: str, total: int, node: dict[str, Any]
    ) -> Notice:
        return Notice(
            NoticeKind.PAYMENT,
            status,
            out_trade_no,
            trade_no,
            total,
            CURRENCY,
            self._config.app_id,
            occurred_at=parse_china_time(node.get("send_pay_date")),
            raw=node,
        )

    def _check_signature(self, params: Mapping[str, str]) -> None:
        sign = params.get("sign")
        if not sign:
            raise NotifyRejected("malformed", "no sign")
        if params.get("sign_type") != "RSA2":
            raise NotifyRejected("bad_signature", f"sign_type {params.get('sign_type')!r}")
        if not keys.verify(self._alipay_key, notify_content(params).encode(), sign):
            raise NotifyRejected("bad_signature", "does not verify with Alipay's public key")


def _checked_channel(order: PaymentOrder) -> tuple[str, str]:
    def invalid(code: str, message: str) -> ProviderError:
        return ProviderError(f"alipay: {message}", retryable=False, code=code)

    if order.channel not in CHANNELS:
        raise invalid("unsupported_channel", f"channel {order.channel!r}: one of {', '.join(CHANNELS)}")
    if order.currency != CURRENCY:
        raise invalid("unsupported_currency", f"currency {order.currency!r}: Alipay takes CNY only")
    if order.amount_cents <= 0:
        raise invalid("invalid_order", f"amount {order.amount_cents} fen")
    if not OUT_TRADE_NO.fullmatch(order.out_trade_no):
        raise invalid("invalid_order", f"out_trade_no {order.out_trade_no!r}")
    if order.expires_at.tzinfo is None:
        raise invalid("invalid_order", "expires_at has no time zone")
    return CHANNELS[order.channel]


def _check_refund(order: RefundOrder) -> None:
    if order.currency != CURRENCY:
        raise ProviderError(
            f"alipay: currency {order.currency!r}", retryable=False, code="unsupported_currency"
        )
    if not 0 < order.refund_cents <= order.total_cents:
        raise ProviderError(
            f"alipay: refund {order.refund_cents} of {order.total_cents} fen",
            retryable=False,
            code="invalid_refund",
        )


def _subject(description: str) -> str:
    # Alipay's subject "不可使用特殊字符, 如 /, =, & 等".
    text = re.sub(r"[/=&]", " ", description).strip()
    return text[:MAX_SUBJECT] or "order"


def _failure(api: str, node: Mapping[str, Any]) -> ProviderError:
    code, sub_code = str(node.get("code")), node.get("sub_code")
    retryable = code in RETRYABLE_CODES or sub_code in RETRYABLE_SUB_CODES
    detail = " ".join(str(node[k]) for k in ("code", "msg", "sub_code", "sub_msg") if node.get(k))
    return ProviderError(f"alipay {api}: {detail}", retryable=retryable, code=str(sub_code or code))


def _notify_params(request: NotifyRequest) -> dict[str, str]:
    content_type = str(request.headers.get("content-type", "")).split(";", 1)[0].strip().lower()
    if content_type != FORM:
        raise NotifyRejected("malformed", f"content type {content_type!r}")
    if len(request.body) > MAX_NOTIFY_BYTES:
        raise NotifyRejected("malformed", f"{len(request.body)} bytes")
    try:
        pairs = parse_qsl(
            request.body.decode("ascii"),  # a form body is percent-encoded ASCII
            keep_blank_values=True,
            strict_parsing=True,
            errors="strict",
            max_num_fields=MAX_NOTIFY_FIELDS,
        )
    except ValueError as exc:  # UnicodeDecodeError is a ValueError
        raise NotifyRejected("malformed", f"not a form: {exc}") from None
    params = dict(pairs)
    if len(params) != len(pairs):
        raise NotifyRejected("malformed", "a field given twice")
    if params.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
        raise NotifyRejected("malformed", f"charset {params.get('charset')!r}")
    return params


def _check_fresh(params: Mapping[str, str], received_at: datetime) -> None:
    sent = parse_china_time(params.get("notify_time"))
    if sent is None:
        raise NotifyRejected("malformed", f"notify_time {params.get('notify_time')!r}")
    now = received_at if received_at.tzinfo is not None else received_at.replace(tzinfo=UTC)
    age = now - sent
    if age > NOTIFY_MAX_AGE or age < -NOTIFY_MAX_AHEAD:
        raise NotifyRejected("stale_timestamp", f"notify_time {params['notify_time']}")


def _notice(params: Mapping[str, str], app_id: str) -> Notice:
    status = params.get("trade_status")
    out_trade_no, trade_no = params.get("out_trade_no"), params.get("trade_no")
    total = cents_of(params.get("total_amount"))
    if not out_trade_no or not trade_no or not total:  # Alipay's smallest total is 0.01
        raise NotifyRejected("malformed", "out_trade_no, trade_no or total_amount missing or invalid")
    raw = {k: v for k, v in params.items() if k != "sign"}

    def notice(kind: NoticeKind, state: NoticeStatus, amount: int, at: str, **more: Any) -> Notice:
        occurred = parse_china_time(params.get(at))
        return Notice(
            kind,
            state,
            out_trade_no,
            trade_no,
            amount,
            CURRENCY,
            app_id,
            occurred_at=occurred,
            raw=raw,
            **more,
        )

    if status in _REFUNDABLE_STATES and params.get("gmt_refund"):
        refunded = cents_of(params.get("refund_fee"))
        if not refunded or parse_china_time(params.get("gmt_refund")) is None:
            raise NotifyRejected("malformed", "refund_fee or gmt_refund invalid")
        out_refund_no = params.get("out_biz_no") or None
        return notice(
            NoticeKind.REFUND, NoticeStatus.SUCCEEDED, refunded, "gmt_refund", out_refund_no=out_refund_no
        )
    if status in _PAID:
        return notice(NoticeKind.PAYMENT, NoticeStatus.SUCCEEDED, total, "gmt_payment")
    if status == "TRADE_CLOSED":
        return notice(NoticeKind.PAYMENT, NoticeStatus.CLOSED, total, "gmt_close")
    raise NotifyRejected("unsupported_event", f"trade_status {status!r}")
