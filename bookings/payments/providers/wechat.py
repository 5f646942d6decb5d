"""WeChat Pay API v3 (微信支付 APIv3), direct merchant mode (直连商户): JSAPI, APP and H5 payments,
query, close and refund, in CNY fen.

Documented rules implemented (pay.weixin.qq.com, "APIv3 接口规则" and the basic-payment pages):

- Request signature (签名生成): ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid="..",nonce_str="..",
  signature="..",timestamp="..",serial_no=".."``, the signature being SHA256withRSA with the merchant
  API key over ``METHOD\\nPATH[?QUERY]\\nTIMESTAMP\\nNONCE\\nBODY\\n`` (BODY empty for GET), the path
  being the absolute path of the URL actually requested. ``Accept: application/json``, a User-Agent.
- Signature verification (签名验证) of responses and notifies: ``Wechatpay-Timestamp``, ``-Nonce``,
  ``-Signature``, ``-Serial``; SHA256withRSA by the platform key the serial names (a platform
  certificate's serial, or a "WeChat Pay public key" id ``PUB_KEY_ID_...``) over
  ``TIMESTAMP\\nNONCE\\nBODY\\n``. A 2xx response without a valid signature is taken as forged; a
  timestamp more than 5 minutes from now is refused as a replay. The probe notifies WeChat sends with
  a ``WECHATPAY/SIGNTEST/`` signature fail verification, as they are meant to.
- Notify decryption (回调报文解密): ``resource`` is AEAD_AES_256_GCM under the 32-byte API v3 key,
  with ``resource.nonce`` and ``resource.associated_data`` (may be empty); the base64 ciphertext
  carries the 16-byte tag at its end. ``original_type`` is ``transaction`` for TRANSACTION.* and
  ``refund`` for REFUND.*. ``mchid`` (and, for payments, ``appid``) must be ours.
- Notify answer: HTTP 204 without a body is success. Anything else (``refused`` answers 500 with
  ``{"code":"FAIL","message":...}``) makes WeChat notify again, at 15s/15s/30s/3m/10m/20m/30m/30m/
  30m/60m/3h/3h/3h/6h/6h (24h4m in all); WeChat looks at the status, not the body.
- Prepay: ``POST /v3/pay/transactions/{jsapi,app,h5}`` with appid, mchid, description (≤127),
  out_trade_no, time_expire (RFC 3339, sent in +08:00), notify_url, ``amount {total, currency}``;
  JSAPI needs ``payer.openid``, H5 ``scene_info.payer_client_ip`` and ``h5_info.type``. What the
  client gets: JSAPI ``appId, timeStamp, nonceStr, package="prepay_id=..", signType="RSA", paySign``
  (paySign over ``appId\\ntimeStamp\\nnonceStr\\npackage\\n``); APP ``appid, partnerid, prepayid,
  package="Sign=WXPay", noncestr, timestamp, sign`` (sign over ``appid\\ntimestamp\\nnoncestr\\n
  prepayid\\n``); H5 the ``h5_url``.
- Query ``GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=..`` (trade_state SUCCESS and
  REFUND are paid; NOTPAY, USERPAYING pending; CLOSED, REVOKED closed; PAYERROR failed); close
  ``POST .../{out_trade_no}/close`` (204); refund ``POST /v3/refund/domestic/refunds`` by
  transaction_id (else out_trade_no), idempotent by out_refund_no, answered SUCCESS, PROCESSING,
  CLOSED or ABNORMAL; its outcome comes as a REFUND.SUCCESS / REFUND.ABNORMAL / REFUND.CLOSED notify.
- Errors are ``{"code","message"}`` with 4xx/5xx; network errors, 429 and 5xx are worth retrying.

Not implemented: fetching platform certificates (``GET /v3/certificates``): the platform keys are
configured, so a rotation means adding the new serial before WeChat switches; refund query
(``GET /v3/refund/domestic/refunds/{out_refund_no}``); Native (QR code) payments; encrypting
sensitive request fields (none of the calls here carries any); the backup domain
api2.mch.weixin.qq.com; partner (服务商) and combined (合单) payments.

Settings, all ``HUB_PAY_WECHAT_*`` (none set: WeChat Pay is off; some set: every required one must be):
``MCHID``, ``APPID`` (official account or mini program, for JSAPI and H5), ``APP_APPID`` (mobile
app, for APP; default ``APPID``), ``MERCHANT_SERIAL`` (merchant API certificate serial),
``MERCHANT_KEY`` (its private key: PEM or a path), ``API_V3_KEY`` (32 bytes), ``PLATFORM_KEYS``
(``SERIAL=KEY[,SERIAL=KEY...]``, each KEY a PEM public key, a path to one, or its bare base64 body),
``BASE_URL`` (default ``https://api.mch.weixin.qq.com``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

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

PRODUCTION_URL = "https://api.mch.weixin.qq.com"
AUTH_SCHEMA = "WECHATPAY2-SHA256-RSA2048"
USER_AGENT = "homeservices-hub (WeChat Pay APIv3)"
CURRENCY = "CNY"  # the only currency of domestic WeChat Pay
# Notifies and responses whose timestamp is further than this from our clock are replays.
MAX_CLOCK_SKEW_SECONDS = 300
CHINA_TIME = timezone(timedelta(hours=8))  # WeChat writes its times in +08:00; so do we
CHANNELS = ("jsapi", "app", "h5")
H5_TYPES = ("iOS", "Android", "Wap")
REFUND_REASON_MAX = 80  # characters WeChat keeps of a refund reason

# event_type -> (kind, original_type of its resource, status the resource must state)
EVENTS: dict[str, tuple[NoticeKind, str, str]] = {
    "TRANSACTION.SUCCESS": (NoticeKind.PAYMENT, "transaction", "SUCCESS"),
    "REFUND.SUCCESS": (NoticeKind.REFUND, "refund", "SUCCESS"),
    "REFUND.ABNORMAL": (NoticeKind.REFUND, "refund", "ABNORMAL"),
    "REFUND.CLOSED": (NoticeKind.REFUND, "refund", "CLOSED"),
}
TRADE_STATES = {
    "SUCCESS": NoticeStatus.SUCCEEDED,
    "REFUND": NoticeStatus.SUCCEEDED,  # paid, then (partly) refunded: the payment did happen
    "NOTPAY": NoticeStatus.PENDING,
    "USERPAYING": NoticeStatus.PENDING,
    "CLOSED": NoticeStatus.CLOSED,
    "REVOKED": NoticeStatus.CLOSED,
    "PAYERROR": NoticeStatus.FAILED,
}
REFUND_NOTICE_STATUS = {
    "SUCCESS": NoticeStatus.SUCCEEDED,
    "ABNORMAL": NoticeStatus.FAILED,
    "CLOSED": NoticeStatus.FAILED,
}
REFUND_STATUS = {
    "SUCCESS": RefundStatus.SUCCEEDED,
    "PROCESSING": RefundStatus.PROCESSING,
    "CLOSED": RefundStatus.FAILED,
    "ABNORMAL": RefundStatus.FAILED,
}

ENV_MCHID = "HUB_PAY_WECHAT_MCHID"
ENV_APPID = "HUB_PAY_WECHAT_APPID"
ENV_APP_APPID = "HUB_PAY_WECHAT_APP_APPID"
ENV_MERCHANT_SERIAL = "HUB_PAY_WECHAT_MERCHANT_SERIAL"
ENV_MERCHANT_KEY = "HUB_PAY_WECHAT_MERCHANT_KEY"
ENV_API_V3_KEY = "HUB_PAY_WECHAT_API_V3_KEY"
ENV_PLATFORM_KEYS = "HUB_PAY_WECHAT_PLATFORM_KEYS"
ENV_BASE_URL = "HUB_PAY_WECHAT_BASE_URL"
REQUIRED_ENV = (
    ENV_MCHID,
    ENV_APPID,
    ENV_MERCHANT_SERIAL,
    ENV_MERCHANT_KEY,
    ENV_API_V3_KEY,
    ENV_PLATFORM_KEYS,
)
OPTIONAL_ENV = (ENV_APP_APPID, ENV_BASE_URL)

_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII digits only: str.isdigit() takes "²" too


@dataclass(frozen=True, slots=True)
class WechatConfig:
    mchid: str
    appid: str  # official account or mini program: JSAPI and H5
    merchant_serial: str  # serial of the merchant API certificate, named in every request
    merchant_private_key: str  # PEM
    api_v3_key: bytes  # 32 bytes: decrypts notifies
    platform_keys: Mapping[str, str]  # Wechatpay-Serial -> platform public key (PEM or bare base64)
    app_appid: str = ""  # mobile app: APP payments; empty means ``appid``
    base_url: str = PRODUCTION_URL

    @property
    def appids(self) -> frozenset[str]:
        return frozenset({self.appid, self.app_appid or self.appid})

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WechatConfig | None:
        reader = EnvReader(env)
        if not any(reader.text(name) for name in REQUIRED_ENV + OPTIONAL_ENV):
            return None
        for name in REQUIRED_ENV:
            if reader.text(name) is None:
                raise ConfigError(name, "required once any HUB_PAY_WECHAT_* variable is set")
        merchant_key = reader.pem(ENV_MERCHANT_KEY) or ""
        try:
            keys.load_private(merchant_key)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise ConfigError(ENV_MERCHANT_KEY, "not an RSA private key in PEM") from None
        api_v3_key = (reader.text(ENV_API_V3_KEY) or "").encode()
        if len(api_v3_key) != 32:
            raise ConfigError(ENV_API_V3_KEY, f"must be 32 bytes, got {len(api_v3_key)}")
        return cls(
            mchid=reader.text(ENV_MCHID) or "",
            appid=reader.text(ENV_APPID) or "",
            app_appid=reader.text(ENV_APP_APPID) or "",
            merchant_serial=reader.text(ENV_MERCHANT_SERIAL) or "",
            merchant_private_key=merchant_key,
            api_v3_key=api_v3_key,
            platform_keys=_platform_keys(reader.text(ENV_PLATFORM_KEYS) or ""),
            base_url=(reader.url(ENV_BASE_URL, ("https", "http")) or PRODUCTION_URL).rstrip("/"),
        )


def _platform_keys(value: str) -> dict[str, str]:
    """``SERIAL=KEY,...``: several during a platform key rotation, when WeChat signs with either."""
    found: dict[str, str] = {}
    for entry in value.split(","):
        serial, _, key = (part.strip() for part in entry.partition("="))
        if not serial or not key:
            raise ConfigError(ENV_PLATFORM_KEYS, "expected SERIAL=KEY entries separated by commas")
        pem = _key_text(key)
        try:
            keys.load_public(pem)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise ConfigError(ENV_PLATFORM_KEYS, f"the key for {serial} is not an RSA public key") from None
        found[serial] = pem
    return found


def _key_text(value: str) -> str:
    """A PEM as is, the content of the file a path names, or else a bare base64 body."""
    if value.startswith("-----BEGIN"):
        return value
    try:
        path = Path(value).expanduser()
        if path.is_file():
            return path.read_text()
    except OSError:  # a base64 body can be no valid path at all (a part longer than NAME_MAX)
        pass
    return value


class WechatProvider:
    method = Method.WECHAT

    def __init__(self, config: WechatConfig) -> None:
        self._config = config
        self._merchant_key = keys.load_private(config.merchant_private_key)
        self._platform_keys = {serial: keys.load_public(pem) for serial, pem in config.platform_keys.items()}
        self._aead = AESGCM(config.api_v3_key)
        self._client = httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False)

    async def aclose(self) -> None:
        await self._client.aclose()

    # Payments

    async def prepare(self, order: PaymentOrder) -> Prepared:
        if order.channel not in CHANNELS:
            raise _refused_here(f"channel {order.channel!r} is not one of {', '.join(CHANNELS)}")
        if order.currency != CURRENCY:
            raise _refused_here(f"WeChat Pay collects CNY only, not {order.currency}")
        appid = (
            (self._config.app_appid or self._config.appid) if order.channel == "app" else self._config.appid
        )
        body: dict[str, Any] = {
            "appid": appid,
            "mchid": self._config.mchid,
            "description": order.description,
            "out_trade_no": order.out_trade_no,
            "time_expire": rfc3339(order.expires_at),
            "notify_url": order.notify_url,
            "amount": {"total": order.amount_cents, "currency": CURRENCY},
        }
        if order.channel == "jsapi":
            body["payer"] = {"openid": _payer_field(order, "openid")}
        elif order.channel == "h5":
            h5_type = order.payer.get("h5_type", "Wap")
            if h5_type not in H5_TYPES:
                raise _refused_here(f"payer h5_type {h5_type!r} is not one of {', '.join(H5_TYPES)}")
            body["scene_info"] = {
                "payer_client_ip": _payer_field(order, "client_ip"),
                "h5_info": {"type": h5_type},
            }
        answer = await self._call_json("POST", f"/v3/pay/transactions/{order.channel}", body)
        if order.channel == "h5":
            return Prepared(None, {"h5_url": _answer_text(answer, "h5_url")})
        prepay_id = _answer_text(answer, "prepay_id")
        if order.channel == "jsapi":
            return Prepared(prepay_id, self.jsapi_invoke(appid, prepay_id))
        return Prepared(prepay_id, self.app_invoke(appid, prepay_id))

    def jsapi_invoke(self, appid: str, prepay_id: str) -> dict[str, Any]:
        """What ``WeixinJSBridge.invoke('getBrandWCPayRequest', ...)`` (``wx.requestPayment``) takes."""
        timestamp, nonce, package = str(int(time.time())), _nonce(), f"prepay_id={prepay_id}"
        signed = f"{appid}\n{timestamp}\n{nonce}\n{package}\n".encode()
        return {
            "appId": appid,
            "timeStamp": timestamp,
            "nonceStr": nonce,
            "package": package,
            "signType": "RSA",
            "paySign": keys.sign(self._merchant_key, signed),
        }

    def app_invoke(self, appid: str, prepay_id: str) -> dict[str, Any]:
        """The fields of the mobile SDK's ``PayReq``."""
        timestamp, nonce = str(int(time.time())), _nonce()
        signed = f"{appid}\n{timestamp}\n{nonce}\n{prepay_id}\n".encode()
        return {
            "appid": appid,
            "partnerid": self._config.mchid,
            "prepayid": prepay_id,
            "package": "Sign=WXPay",
            "noncestr": nonce,
            "timestamp": timestamp,
            "sign": keys.sign(self._merchant_key, signed),
        }

    async def query(self, out_trade_no: str) -> Notice:
        path = f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no, safe='')}"
        answer = await self._call_json("GET", f"{path}?mchid={quote(self._config.mchid, safe='')}")
        try:
            self._addressed_to_us(answer, payment=True)
            if _text(answer, "out_trade_no") != out_trade_no:
                raise NotifyRejected("malformed", "answer about another order")
            state = _text(answer, "trade_state")
            if state not in TRADE_STATES:
                raise NotifyRejected("malformed", f"trade_state {state!r}")
            status = TRADE_STATES[state]
            amount = _object(answer, "amount")
            currency = amount.get("currency", CURRENCY)
            if currency != CURRENCY:
                raise NotifyRejected("unsupported_currency", repr(currency))
            paid = status is NoticeStatus.SUCCEEDED
            return Notice(
                kind=NoticeKind.PAYMENT,
                status=status,
                out_trade_no=out_trade_no,
                provider_ref=_text(answer, "transaction_id") if paid else "",
                amount_cents=_fen(amount, "total"),
                currency=CURRENCY,
                merchant=self._config.mchid,
                occurred_at=_time(answer.get("success_time")) if paid else None,
                raw=answer,
            )
        except NotifyRejected as exc:
            raise ProviderError(
                f"wechat query answer: {exc}", retryable=False, code="MALFORMED_RESPONSE"
            ) from None

    async def close(self, out_trade_no: str) -> None:
        """Close an unpaid order so it can no longer be paid (WeChat answers 204)."""
        path = f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no, safe='')}/close"
        await self._call("POST", path, {"mchid": self._config.mchid})

    async def refund(self, order: RefundOrder) -> RefundResult:
        body: dict[str, Any] = {
            "out_refund_no": order.out_refund_no,
            "notify_url": order.notify_url,
            "amount": {"refund": order.refund_cents, "total": order.total_cents, "currency": order.currency},
        }
        # WeChat takes either id and prefers transaction_id when both are given.
        if order.provider_ref:
            body["transaction_id"] = order.provider_ref
        else:
            body["out_trade_no"] = order.out_trade_no
        if order.reason:
            body["reason"] = order.reason[:REFUND_REASON_MAX]
        answer = await self._call_json("POST", "/v3/refund/domestic/refunds", body)
        status = answer.get("status")
        if not isinstance(status, str) or status not in REFUND_STATUS:
            raise ProviderError(
                f"wechat refund status {status!r}", retryable=False, code="MALFORMED_RESPONSE"
            )
        refund_id = answer.get("refund_id")
        return RefundResult(
            REFUND_STATUS[status],
            provider_refund_id=refund_id if isinstance(refund_id, str) else None,
            error=None if REFUND_STATUS[status] is not RefundStatus.FAILED else status,
        )

    # Notifies

    def verify_notify(self, request: NotifyRequest) -> Notice:
        self.verify_signature(request.headers, request.body, request.received_at.timestamp())
        envelope = _json_object(request.body)
        event_type = envelope.get("event_type")
        if not isinstance(event_type, str):
            raise NotifyRejected("malformed", "no event_type")
        if event_type not in EVENTS:
            raise NotifyRejected("unsupported_event", event_type[:64])
        kind, original_type, resource_status = EVENTS[event_type]
        if envelope.get("resource_type") != "encrypt-resource":
            raise NotifyRejected("malformed", "resource_type is not encrypt-resource")
        resource = _object(envelope, "resource")
        if resource.get("original_type") != original_type:
            raise NotifyRejected("malformed", f"{event_type} carries no {original_type}")
        payload = _json_object(self._decrypt(resource))
        if kind is NoticeKind.PAYMENT:
            return self._payment_notice(payload, resource_status)
        return self._refund_notice(payload, resource_status)

    def accepted(self) -> Answer:
        return Answer(204, b"", "application/json")

    def refused(self, reason: str) -> Answer:
        body = json.dumps({"code": "FAIL", "message": reason}, ensure_ascii=False).encode()
        return Answer(500, body, "application/json")

    def verify_signature(self, headers: Mapping[str, str], body: bytes, now: float) -> None:
        """Check a notify's or a response's platform signature and freshness; raise ``NotifyRejected``.
        ``headers`` has lower-case keys."""
        fields = {}
        for name in ("timestamp", "nonce", "signature", "serial"):
            value = headers.get(f"wechatpay-{name}")
            if not isinstance(value, str) or not value:
                raise NotifyRejected("malformed", f"no Wechatpay-{name.title()} header")
            fields[name] = value
        signature_type = headers.get("wechatpay-signature-type", AUTH_SCHEMA)
        if signature_type != AUTH_SCHEMA:
            raise NotifyRejected("malformed", "unknown Wechatpay-Signature-Type")
        key = self._platform_keys.get(fields["serial"])
        if key is None:
            raise NotifyRejected("unknown_serial", fields["serial"][:64])
        if not _TIMESTAMP.fullmatch(fields["timestamp"]):
            raise NotifyRejected("malformed", "Wechatpay-Timestamp is not a number of seconds")
        if abs(now - int(fields["timestamp"])) > MAX_CLOCK_SKEW_SECONDS:
            raise NotifyRejected("stale_timestamp", fields["timestamp"])
        signed = _header_bytes(fields["timestamp"]) + b"\n" + _header_bytes(fields["nonce"]) + b"\n"
        if not keys.verify(key, signed + body + b"\n", fields["signature"]):
            raise NotifyRejected("bad_signature")

    def _decrypt(self, resource: Mapping[str, Any]) -> bytes:
        if resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise NotifyRejected("malformed", "resource algorithm is not AEAD_AES_256_GCM")
        ciphertext, nonce = resource.get("ciphertext"), resource.get("nonce")
        associated_data = resource.get("associated_data") or ""
        if (
            not isinstance(ciphertext, str)
            or not isinstance(nonce, str)
            or not isinstance(associated_data, str)
        ):
            raise NotifyRejected("malformed", "resource lacks ciphertext or nonce")
        try:
            sealed = base64.b64decode(ciphertext, validate=True)
            return self._aead.decrypt(nonce.encode(), sealed, associated_data.encode())
        except (InvalidTag, ValueError, binascii.Error):  # wrong key or altered; a nonce AES-GCM refuses
            raise NotifyRejected("decrypt_failed") from None

    def _payment_notice(self, payload: Mapping[str, Any], expected_state: str) -> Notice:
        self._addressed_to_us(payload, payment=True)
        if payload.get("trade_state") != expected_state:
            raise NotifyRejected("malformed", "trade_state does not match event_type")
        amount = _object(payload, "amount")
        currency = _text(amount, "currency")
        if currency != CURRENCY:
            raise NotifyRejected("unsupported_currency", currency[:16])
        return Notice(
            kind=NoticeKind.PAYMENT,
            status=NoticeStatus.SUCCEEDED,
            out_trade_no=_text(payload, "out_trade_no"),
            provider_ref=_text(payload, "transaction_id"),
            amount_cents=_fen(amount, "total"),
            currency=currency,
            merchant=self._config.mchid,
            occurred_at=_time(payload.get("success_time")),
            raw=payload,
        )

    def _refund_notice(self, payload: Mapping[str, Any], expected_status: str) -> Notice:
        self._addressed_to_us(payload, payment=False)
        refund_status = payload.get("refund_status")
        if refund_status != expected_status:
            raise NotifyRejected("malformed", "refund_status does not match event_type")
        amount = _object(payload, "amount")
        # A domestic refund's amount names no currency; it is the payment's, always CNY.
        currency = amount.get("currency", CURRENCY)
        if currency != CURRENCY:
            raise NotifyRejected("unsupported_currency", str(currency)[:16])
        success_time = payload.get("success_time")
        return Notice(
            kind=NoticeKind.REFUND,
            status=REFUND_NOTICE_STATUS[expected_status],
            out_trade_no=_text(payload, "out_trade_no"),
            provider_ref=_text(payload, "transaction_id"),
            amount_cents=_fen(amount, "refund"),
            currency=CURRENCY,
            merchant=self._config.mchid,
            out_refund_no=_text(payload, "out_refund_no"),
            occurred_at=_time(success_time) if success_time is not None else None,
            raw=payload,
        )

    def _addressed_to_us(self, payload: Mapping[str, Any], *, payment: bool) -> None:
        if _text(payload, "mchid") != self._config.mchid:
            raise NotifyRejected("wrong_merchant", str(payload.get("mchid"))[:32])
        # A refund notify names no appid; a payment's must be one of ours.
        if payment and _text(payload, "appid") not in self._config.appids:
            raise NotifyRejected("wrong_app", str(payload.get("appid"))[:32])

    # HTTP

    def authorization(self, method: str, path: str, body: bytes, *, timestamp: int | None = None) -> str:
        """The ``Authorization`` header for a request to ``path`` (absolute path and query)."""
        stamp, nonce = str(int(time.time()) if timestamp is None else timestamp), _nonce()
        signed = f"{method}\n{path}\n{stamp}\n{nonce}\n".encode() + body + b"\n"
        signature = keys.sign(self._merchant_key, signed)
        return (
            f'{AUTH_SCHEMA} mchid="{self._config.mchid}",nonce_str="{nonce}",signature="{signature}",'
            f'timestamp="{stamp}",serial_no="{self._config.merchant_serial}"'
        )

    async def _call_json(
        self, method: str, path: str, payload: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        response = await self._call(method, path, payload)
        try:
            answer = json.loads(response.content)
        except (ValueError, RecursionError):
            answer = None
        if not isinstance(answer, dict):
            raise ProviderError(
                f"wechat {method} {path}: not a JSON object", retryable=False, code="MALFORMED_RESPONSE"
            )
        return answer

    async def _call(self, method: str, path: str, payload: Mapping[str, Any] | None = None) -> httpx.Response:
        url = self._config.base_url + path
        split = urlsplit(url)
        signed_path = split.path + (f"?{split.query}" if split.query else "")
        body = (
            b""
            if payload is None
            else json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        )
        headers = {
            "Authorization": self.authorization(method, signed_path, body),
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = await self._client.request(method, url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ProviderError(
                f"wechat {method} {path}: {type(exc).__name__}: {exc}", retryable=True
            ) from exc
        if response.is_success:
            lowered = {name.lower(): value for name, value in response.headers.items()}
            try:
                self.verify_signature(lowered, response.content, time.time())
            except NotifyRejected as exc:
                # A success we cannot prove came from WeChat may be forged: act on none of it.
                raise ProviderError(
                    f"wechat {method} {path}: unverified answer ({exc})",
                    retryable=False,
                    code="RESPONSE_UNVERIFIED",
                ) from None
            return response
        code, message = _error_of(response)
        retryable = response.status_code == 429 or response.status_code >= 500
        raise ProviderError(
            f"wechat {response.status_code} {code}: {message}", retryable=retryable, code=code
        )


def rfc3339(moment: datetime) -> str:
    """``yyyy-MM-DDTHH:mm:ss+08:00``; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(CHINA_TIME).isoformat(timespec="seconds")


def _nonce() -> str:
    return secrets.token_hex(16).upper()  # 32 characters, WeChat's maximum


def _refused_here(message: str) -> ProviderError:
    """A request WeChat would refuse with PARAM_ERROR, refused before it is sent."""
    return ProviderError(f"wechat: {message}", retryable=False, code="PARAM_ERROR")


def _payer_field(order: PaymentOrder, name: str) -> str:
    value = order.payer.get(name)
    if not value:
        raise _refused_here(f"a {order.channel} payment needs payer {name}")
    return value


def _answer_text(answer: Mapping[str, Any], name: str) -> str:
    value = answer.get(name)
    if not isinstance(value, str) or not value:
        raise ProviderError(f"wechat answer without {name}", retryable=False, code="MALFORMED_RESPONSE")
    return value


def _error_of(response: httpx.Response) -> tuple[str | None, str]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return None, response.reason_phrase
    code, message = body.get("code"), body.get("message")
    return (code if isinstance(code, str) else None), (message if isinstance(message, str) else "")


def _header_bytes(value: str) -> bytes:
    """The header's bytes as they arrived (aiohttp keeps undecodable bytes as surrogate escapes)."""
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise NotifyRejected("malformed", "header is not text") from None


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise NotifyRejected("malformed", "not JSON") from None
    if not isinstance(value, dict):
        raise NotifyRejected("malformed", "not a JSON object")
    return value


def _object(container: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = container.get(name)
    if not isinstance(value, dict):
        raise NotifyRejected("malformed", f"{name} is not an object")
    return value


def _text(container: Mapping[str, Any], name: str) -> str:
    value = container.get(name)
    if not isinstance(value, str) or not value:
        raise NotifyRejected("malformed", f"{name} is missing")
    return value


def _fen(container: Mapping[str, Any], name: str) -> int:
    value = container.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise NotifyRejected("malformed", f"{name} is not an amount in fen")
    return value


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise NotifyRejected("malformed", "time missing")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise NotifyRejected("malformed", "time is not RFC 3339") from None
