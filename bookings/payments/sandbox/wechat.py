"""WeChat Pay API v3's side of a direct-merchant integration, played locally (aiohttp).

It keeps orders in memory and does what WeChat documents, written out here from the documentation
rather than imported from ``bookings.payments.providers.wechat``, so the two cannot drift together:

- Every ``/v3/`` request must carry ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid=..,nonce_str=..,
  signature=..,timestamp=..,serial_no=..`` for our mchid and a registered merchant certificate serial,
  a timestamp within 5 minutes, and a SHA256withRSA signature over
  ``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n``; otherwise 401 ``SIGN_ERROR``. It must accept
  ``application/json`` (else 400 ``INVALID_REQUEST``); a POST body must be a JSON object (400
  ``PARAM_ERROR``).
- Every ``/v3/`` answer, errors included, is signed with the platform key: ``Wechatpay-Timestamp``,
  ``-Nonce``, ``-Serial``, ``-Signature-Type`` and ``-Signature`` over ``TIMESTAMP\\nNONCE\\nBODY\\n``.
  Errors are ``{"code", "message"}``.
- ``POST /v3/pay/transactions/{jsapi|app|h5}`` checks appid (400 ``APPID_MCHID_NOT_MATCH``), mchid,
  description (1-127), out_trade_no (6-32 of ``[0-9A-Za-z_*-]``), notify_url (no query), time_expire,
  ``amount {total, currency: CNY}``, JSAPI's ``payer.openid``, H5's ``scene_info``; answers
  ``{"prepay_id"}`` or H5's ``{"h5_url"}``. The same out_trade_no again with the same body gets the
  same prepay_id; with another body 403 ``OUT_TRADE_NO_USED``; once closed 400 ``ORDER_CLOSED``.
- ``GET /v3/pay/transactions/out-trade-no/{no}?mchid=`` answers the transaction (404
  ``ORDER_NOT_EXIST``); ``POST .../{no}/close`` closes an unpaid order (204).
- ``POST /v3/refund/domestic/refunds`` (by transaction_id or out_trade_no) answers PROCESSING, then
  the refund succeeds and a REFUND.SUCCESS notify goes to its notify_url. The same out_refund_no
  again with the same amounts is the same refund (no second one, no second notify); with other
  amounts, a refund of more than remains, or a total that is not the order's: 400 ``INVALID_REQUEST``.
- Notifies are encrypted AEAD_AES_256_GCM with the API v3 key (associated_data = original_type,
  a 12-character nonce), signed like answers and re-signed at each attempt (a retry hours later must
  pass the receiver's 5-minute window), and retried until the receiver answers 200 or 204 - WeChat
  looks at the status, not the body. WeChat's schedule after the first attempt is 15s/15s/30s/3m/
  10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h (``REAL_RETRY_DELAYS``); ``retry_delays`` replaces it so
  tests and the demo run it fast. WeChat does not document how long it waits for an answer;
  ``notify_timeout`` sets it. Only successful payments are notified, as WeChat does.

Controls that play the payer, for tests and demo mode (not signed, not WeChat's):
``POST /sandbox/pay/{out_trade_no}`` with an optional ``{"outcome": "success" | "fail"}``;
``GET /sandbox/orders/{out_trade_no}``: status, refunds, and each notify's attempts and the answers
they got; ``POST /sandbox/faults`` ``{"status", "code", "count"}``: answer the next ``count`` signed
requests with that error.

Left out: refunds that fail or stay PROCESSING, refund query, orders closing by themselves at
time_expire (they only refuse to be paid), USERPAYING, refund notifies to a merchant-configured
URL when the request names none.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import string
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bookings.payments import keys

AUTH_SCHEMA = "WECHATPAY2-SHA256-RSA2048"
MAX_CLOCK_SKEW_SECONDS = 300  # WeChat refuses a request signed further than 5 minutes from now
REAL_RETRY_DELAYS: tuple[float, ...] = (
    15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600,
)  # fmt: skip
CHINA_TIME = timezone(timedelta(hours=8))
TRADE_TYPES = {"jsapi": "JSAPI", "app": "APP", "h5": "MWEB"}
TRADE_STATE_DESC = {
    "NOTPAY": "订单未支付",
    "SUCCESS": "支付成功",
    "REFUND": "转入退款",
    "CLOSED": "已关闭",
    "PAYERROR": "支付失败",
}
PAID = ("SUCCESS", "REFUND")
_AUTH_FIELD = re.compile(r'(\w+)="([^"]*)"')
_OUT_TRADE_NO = re.compile(r"[0-9A-Za-z_*-]{6,32}")
_OUT_REFUND_NO = re.compile(r"[0-9A-Za-z_*|@-]{1,64}")


@dataclass(frozen=True, slots=True)
class WechatSandboxConfig:
    mchid: str
    appids: tuple[str, ...]
    api_v3_key: bytes
    merchant_keys: Mapping[str, str]  # merchant API certificate serial -> its public key (PEM)
    platform_serial: str  # Wechatpay-Serial of every answer and notify
    platform_private_key: str  # PEM
    retry_delays: tuple[float, ...] = REAL_RETRY_DELAYS
    notify_timeout: float = 5.0
    h5_pay_url: str = "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb"


class Refusal(Exception):
    """An error answer in WeChat's shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


@dataclass
class Attempt:
    status: int | None  # None when no answer came
    body: str
    error: str | None = None


@dataclass
class NotifyLog:
    id: str
    event_type: str
    url: str
    attempts: list[Attempt] = field(default_factory=list)
    delivered: bool = False
    finished: bool = False  # no attempt is running or scheduled any more


@dataclass
class Refund:
    out_refund_no: str
    refund_id: str
    refund: int
    total: int
    notify_url: str
    create_time: str
    status: str = "PROCESSING"
    success_time: str = ""


@dataclass
class Order:
    channel: str
    request: dict[str, Any]  # the prepay body as received: a repeat must match it
    prepay_id: str
    trade_state: str = "NOTPAY"
    transaction_id: str = ""
    success_time: str = ""
    refunds: dict[str, Refund] = field(default_factory=dict)
    notifies: list[NotifyLog] = field(default_factory=list)

    @property
    def total(self) -> int:
        total: int = self.request["amount"]["total"]
        return total

    @property
    def refunded(self) -> int:
        return sum(r.refund for r in self.refunds.values() if r.status != "CLOSED")


class WechatSandbox:
    def __init__(self, config: WechatSandboxConfig) -> None:
        self.config = config
        self.orders: dict[str, Order] = {}
        self._merchant_keys = {serial: keys.load_public(pem) for serial, pem in config.merchant_keys.items()}
        self._platform_key = keys.load_private(config.platform_private_key)
        self._aead = AESGCM(config.api_v3_key)
        self._faults: list[Refusal] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    async def lifetime(self, app: web.Application) -> AsyncIterator[None]:
        self._session = aiohttp.ClientSession()
        yield
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._session.close()

    # Requests from the merchant, and the answers

    async def v3_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if "/v3/" not in request.path:  # the API, whether served alone or under a prefix
            return await handler(request)
        try:
            await self._authenticate(request)
            if self._faults:
                raise self._faults.pop(0)
            response = await handler(request)
        except Refusal as refusal:
            response = web.json_response(
                {"code": refusal.code, "message": refusal.message}, status=refusal.status
            )
        if isinstance(response, web.Response):
            self._sign(response)
        return response

    async def _authenticate(self, request: web.Request) -> None:
        schema, _, params = request.headers.get("Authorization", "").partition(" ")
        if schema != AUTH_SCHEMA:
            raise Refusal(401, "SIGN_ERROR", "错误的签名认证方式")
        fields = dict(_AUTH_FIELD.findall(params))
        missing = {"mchid", "nonce_str", "signature", "timestamp", "serial_no"} - fields.keys()
        if missing:
            raise Refusal(401, "SIGN_ERROR", f"Authorization 缺少 {', '.join(sorted(missing))}")
        if fields["mchid"] != self.config.mchid:
            raise Refusal(401, "SIGN_ERROR", "商户号不存在")
        key = self._merchant_keys.get(fields["serial_no"])
        if key is None:
            raise Refusal(401, "SIGN_ERROR", "商户证书序列号有误")
        stamp = fields["timestamp"]
        if not re.fullmatch(r"[0-9]{1,12}", stamp) or abs(time.time() - int(stamp)) > MAX_CLOCK_SKEW_SECONDS:
            raise Refusal(401, "SIGN_ERROR", "Http头Authorization中的timestamp与发起请求的时间不得超过5分钟")
        body = await request.read()
        signed = f"{request.method}\n{request.raw_path}\n{stamp}\n{fields['nonce_str']}\n".encode()
        if not keys.verify(key, signed + body + b"\n", fields["signature"]):
            raise Refusal(401, "SIGN_ERROR", "签名错误")
        if "application/json" not in request.headers.get("Accept", ""):
            raise Refusal(400, "INVALID_REQUEST", "Accept 必须为 application/json")

    def _sign(self, response: web.Response) -> None:
        body = response.body if isinstance(response.body, bytes) else b""
        response.headers.update(self._signature_headers(body))
        response.headers["Request-ID"] = uuid.uuid4().hex

    def _signature_headers(self, body: bytes) -> dict[str, str]:
        stamp, nonce = str(int(time.time())), secrets.token_hex(16)
        signature = keys.sign(self._platform_key, f"{stamp}\n{nonce}\n".encode() + body + b"\n")
        return {
            "Wechatpay-Timestamp": stamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Serial": self.config.platform_serial,
            "Wechatpay-Signature-Type": AUTH_SCHEMA,
            "Wechatpay-Signature": signature,
        }

    async def prepay(self, request: web.Request) -> web.Response:
        channel = request.match_info["channel"]
        body = await _json_body(request)
        self._check_prepay(channel, body)
        out_trade_no = body["out_trade_no"]
        order = self.orders.get(out_trade_no)
        if order is not None and order.trade_state == "CLOSED":
            raise Refusal(400, "ORDER_CLOSED", "订单已关闭")
        if order is not None and (
            order.request != body or order.channel != channel or order.trade_state != "NOTPAY"
        ):
            raise Refusal(403, "OUT_TRADE_NO_USED", "商户订单号重复")
        if order is None:
            prepay_id = f"wx{datetime.now(CHINA_TIME):%d%H%M%S}{secrets.token_hex(12)}"
            order = self.orders[out_trade_no] = Order(channel, body, prepay_id)
        if channel == "h5":
            return web.json_response({"h5_url": f"{self.config.h5_pay_url}?prepay_id={order.prepay_id}"})
        return web.json_response({"prepay_id": order.prepay_id})

    def _check_prepay(self, channel: str, body: dict[str, Any]) -> None:
        if body.get("appid") not in self.config.appids:
            raise Refusal(400, "APPID_MCHID_NOT_MATCH", "AppID和mch_id不匹配")
        if body.get("mchid") != self.config.mchid:
            raise Refusal(400, "MCH_NOT_EXISTS", "商户号不存在")
        description = body.get("description")
        if not isinstance(description, str) or not 1 <= len(description) <= 127:
            raise Refusal(400, "PARAM_ERROR", "description 长度应为 1-127")
        if not isinstance(body.get("out_trade_no"), str) or not _OUT_TRADE_NO.fullmatch(body["out_trade_no"]):
            raise Refusal(400, "PARAM_ERROR", "out_trade_no 只能是6-32位数字、大小写字母_-*")
        notify_url = body.get("notify_url")
        if not isinstance(notify_url, str) or not re.fullmatch(r"https?://[^?#]{1,247}", notify_url):
            raise Refusal(400, "PARAM_ERROR", "notify_url 格式错误(不能携带参数)")
        if "time_expire" in body:
            _rfc3339(body["time_expire"], "time_expire")
        amount = body.get("amount")
        total = amount.get("total") if isinstance(amount, dict) else None
        if not isinstance(total, int) or isinstance(total, bool) or total < 1:
            raise Refusal(400, "PARAM_ERROR", "amount.total 必须为正整数(分)")
        if isinstance(amount, dict) and amount.get("currency", "CNY") != "CNY":
            raise Refusal(400, "PARAM_ERROR", "amount.currency 只支持 CNY")
        if channel == "jsapi":
            payer = body.get("payer")
            if not isinstance(payer, dict) or not isinstance(payer.get("openid"), str) or not payer["openid"]:
                raise Refusal(400, "PARAM_ERROR", "JSAPI 下单缺少 payer.openid")
        if channel == "h5":
            scene = body.get("scene_info")
            h5_info = scene.get("h5_info") if isinstance(scene, dict) else None
            if (
                not isinstance(scene, dict)
                or not isinstance(scene.get("payer_client_ip"), str)
                or not isinstance(h5_info, dict)
                or h5_info.get("type") not in ("iOS", "Android", "Wap")
            ):
                raise Refusal(400, "PARAM_ERROR", "H5 下单缺少 scene_info.payer_client_ip 或 h5_info.type")

    async def query(self, request: web.Request) -> web.Response:
        if request.query.get("mchid") != self.config.mchid:
            raise Refusal(400, "PARAM_ERROR", "mchid 错误")
        return web.json_response(self._transaction(self._order(request)))

    async def close(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if body.get("mchid") != self.config.mchid:
            raise Refusal(400, "PARAM_ERROR", "mchid 错误")
        order = self._order(request)
        if order.trade_state in PAID:
            raise Refusal(400, "INVALID_REQUEST", "订单已支付")
        order.trade_state = "CLOSED"
        return web.Response(status=204)

    async def refund(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        out_refund_no, amount = body.get("out_refund_no"), body.get("amount")
        if not isinstance(out_refund_no, str) or not _OUT_REFUND_NO.fullmatch(out_refund_no):
            raise Refusal(400, "PARAM_ERROR", "out_refund_no 格式错误")
        refund, total = _fen(amount, "refund"), _fen(amount, "total")
        if isinstance(amount, dict) and amount.get("currency", "CNY") != "CNY":
            raise Refusal(400, "PARAM_ERROR", "amount.currency 只支持 CNY")
        order = self._refunded_order(body)
        existing = order.refunds.get(out_refund_no)
        if existing is not None:
            if (existing.refund, existing.total) != (refund, total):
                raise Refusal(400, "INVALID_REQUEST", "订单金额或退款金额与之前请求不一致,请核实后再试")
            return web.json_response(self._refund_answer(order, existing))
        if total != order.total:
            raise Refusal(400, "INVALID_REQUEST", "订单金额或退款金额与之前请求不一致,请核实后再试")
        if refund > order.total - order.refunded:
            raise Refusal(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
        notify_url = body.get("notify_url")
        created = Refund(
            out_refund_no=out_refund_no,
            refund_id=f"50{int(time.time() * 1000)}{secrets.randbelow(10**12):012d}",
            refund=refund,
            total=total,
            notify_url=notify_url if isinstance(notify_url, str) else "",
            create_time=_now(),
        )
        order.refunds[out_refund_no] = created
        order.trade_state = "REFUND"  # WeChat's state once any refund is asked for
        answer = self._refund_answer(order, created)
        self._spawn(self._settle(order, created))
        return web.json_response(answer)

    def _refunded_order(self, body: dict[str, Any]) -> Order:
        transaction_id, out_trade_no = body.get("transaction_id"), body.get("out_trade_no")
        if isinstance(transaction_id, str) and transaction_id:
            found = [o for o in self.orders.values() if o.transaction_id == transaction_id]
            order = found[0] if found else None
        elif isinstance(out_trade_no, str) and out_trade_no:
            order = self.orders.get(out_trade_no)
        else:
            raise Refusal(400, "PARAM_ERROR", "transaction_id 与 out_trade_no 必须二选一")
        if order is None:
            raise Refusal(404, "RESOURCE_NOT_EXISTS", "订单不存在")
        if order.trade_state not in PAID:
            raise Refusal(400, "INVALID_REQUEST", "订单未支付")
        return order

    async def _settle(self, order: Order, refund: Refund) -> None:
        refund.status, refund.success_time = "SUCCESS", _now()
        if refund.notify_url:
            resource = {
                "mchid": self.config.mchid,
                "out_trade_no": order.request["out_trade_no"],
                "transaction_id": order.transaction_id,
                "out_refund_no": refund.out_refund_no,
                "refund_id": refund.refund_id,
                "refund_status": "SUCCESS",
                "success_time": refund.success_time,
                "user_received_account": "支付用户零钱",
                "amount": {
                    "total": order.total,
                    "refund": refund.refund,
                    "payer_total": order.total,
                    "payer_refund": refund.refund,
                },
            }
            await self._notify(order, refund.notify_url, "REFUND.SUCCESS", "refund", "退款成功", resource)

    def _order(self, request: web.Request) -> Order:
        order = self.orders.get(request.match_info["out_trade_no"])
        if order is None:
            raise Refusal(404, "ORDER_NOT_EXIST", "订单不存在")
        return order

    def _transaction(self, order: Order) -> dict[str, Any]:
        request = order.request
        answer: dict[str, Any] = {
            "appid": request["appid"],
            "mchid": self.config.mchid,
            "out_trade_no": request["out_trade_no"],
            "trade_type": TRADE_TYPES[order.channel],
            "trade_state": order.trade_state,
            "trade_state_desc": TRADE_STATE_DESC[order.trade_state],
            "amount": {"total": order.total, "currency": "CNY"},
        }
        if order.trade_state in PAID:
            answer.update(
                transaction_id=order.transaction_id,
                bank_type="OTHERS",
                success_time=order.success_time,
                payer={"openid": request.get("payer", {}).get("openid", "oSandboxPayer")},
            )
            answer["amount"].update(payer_total=order.total, payer_currency="CNY")
        return answer

    def _refund_answer(self, order: Order, refund: Refund) -> dict[str, Any]:
        return {
            "refund_id": refund.refund_id,
            "out_refund_no": refund.out_refund_no,
            "transaction_id": order.transaction_id,
            "out_trade_no": order.request["out_trade_no"],
            "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱",
            "create_time": refund.create_time,
            "status": refund.status,
            "amount": {
                "total": refund.total,
                "refund": refund.refund,
                "payer_total": refund.total,
                "payer_refund": refund.refund,
                "settlement_refund": refund.refund,
                "settlement_total": refund.total,
                "discount_refund": 0,
                "currency": "CNY",
            },
        }

    # The payer, and the notifies

    async def pay(self, request: web.Request) -> web.Response:
        order = self.orders.get(request.match_info["out_trade_no"])
        if order is None:
            return web.json_response({"code": "ORDER_NOT_EXIST", "message": "订单不存在"}, status=404)
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else {}
        except (ValueError, RecursionError):
            body = None
        outcome = body.get("outcome", "success") if isinstance(body, dict) else None
        if outcome not in ("success", "fail"):
            return web.json_response(
                {"code": "PARAM_ERROR", "message": "outcome: success | fail"}, status=400
            )
        if order.trade_state == "NOTPAY" and _expired(order):
            order.trade_state = "CLOSED"
        if order.trade_state != "NOTPAY":
            message = f"the order is {order.trade_state}, it cannot be paid"
            return web.json_response({"code": "INVALID_REQUEST", "message": message}, status=409)
        if outcome == "fail":
            order.trade_state = "PAYERROR"  # WeChat notifies successes only
        else:
            order.trade_state, order.success_time = "SUCCESS", _now()
            order.transaction_id = f"4200{secrets.randbelow(10**24):024d}"
            resource = self._transaction(order)
            url = order.request["notify_url"]
            self._spawn(self._notify(order, url, "TRANSACTION.SUCCESS", "transaction", "支付成功", resource))
        return web.json_response(self.view(order))

    async def faults(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
            status, code, count = (
                int(body["status"]),
                str(body.get("code", "SYSTEM_ERROR")),
                int(body.get("count", 1)),
            )
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            return web.json_response(
                {"code": "PARAM_ERROR", "message": "{status, code?, count?}"}, status=400
            )
        self._faults.extend([Refusal(status, code, "系统异常,请稍后重试")] * count)
        return web.json_response({"pending_faults": len(self._faults)})

    async def show(self, request: web.Request) -> web.Response:
        order = self.orders.get(request.match_info["out_trade_no"])
        if order is None:
            return web.json_response({"code": "ORDER_NOT_EXIST", "message": "订单不存在"}, status=404)
        return web.json_response(self.view(order))

    def view(self, order: Order) -> dict[str, Any]:
        return {
            "out_trade_no": order.request["out_trade_no"],
            "channel": order.channel,
            "trade_state": order.trade_state,
            "transaction_id": order.transaction_id,
            "total": order.total,
            "refunded": order.refunded,
            "refunds": [
                {
                    "out_refund_no": r.out_refund_no,
                    "refund_id": r.refund_id,
                    "refund": r.refund,
                    "status": r.status,
                }
                for r in order.refunds.values()
            ],
            "notifies": [
                {
                    "id": n.id,
                    "event_type": n.event_type,
                    "url": n.url,
                    "delivered": n.delivered,
                    "finished": n.finished,
                    "attempts": [{"status": a.status, "body": a.body, "error": a.error} for a in n.attempts],
                }
                for n in order.notifies
            ],
        }

    async def _notify(
        self,
        order: Order,
        url: str,
        event_type: str,
        original_type: str,
        summary: str,
        resource: dict[str, Any],
    ) -> None:
        nonce = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(12))
        sealed = self._aead.encrypt(
            nonce.encode(), json.dumps(resource, ensure_ascii=False).encode(), original_type.encode()
        )
        log = NotifyLog(id=str(uuid.uuid4()), event_type=event_type, url=url)
        order.notifies.append(log)
        envelope = {
            "id": log.id,
            "create_time": _now(),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": summary,
            "resource": {
                "original_type": original_type,
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": base64.b64encode(sealed).decode(),
                "associated_data": original_type,
                "nonce": nonce,
            },
        }
        body = json.dumps(envelope, ensure_ascii=False).encode()
        try:
            for delay in (0.0, *self.config.retry_delays):
                if delay:
                    await asyncio.sleep(delay)  # WeChat's schedule (or the test's), not a wait for a result
                attempt = await self._attempt(url, body)
                log.attempts.append(attempt)
                if attempt.status in (200, 204):
                    log.delivered = True
                    return
        finally:
            log.finished = True

    async def _attempt(self, url: str, body: bytes) -> Attempt:
        assert self._session is not None, "the sandbox app is not running"
        headers = {"Content-Type": "application/json", **self._signature_headers(body)}
        try:
            async with self._session.post(
                url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.config.notify_timeout),
            ) as response:
                answer = await response.read()
                return Attempt(response.status, answer[:2000].decode(errors="replace"))
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Attempt(None, "", f"{type(exc).__name__}: {exc}")

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.create_task(work)
        self._tasks.add(task)  # a reference, so the task is not collected mid-flight
        task.add_done_callback(self._tasks.discard)


SANDBOX = web.AppKey("wechat_sandbox", WechatSandbox)


def create_app(config: WechatSandboxConfig) -> web.Application:
    sandbox = WechatSandbox(config)

    @web.middleware
    async def v3(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await sandbox.v3_middleware(request, handler)

    app = web.Application(middlewares=[v3])
    app[SANDBOX] = sandbox
    app.cleanup_ctx.append(sandbox.lifetime)
    app.router.add_post(r"/v3/pay/transactions/{channel:jsapi|app|h5}", sandbox.prepay)
    app.router.add_get("/v3/pay/transactions/out-trade-no/{out_trade_no}", sandbox.query)
    app.router.add_post("/v3/pay/transactions/out-trade-no/{out_trade_no}/close", sandbox.close)
    app.router.add_post("/v3/refund/domestic/refunds", sandbox.refund)
    app.router.add_post("/sandbox/pay/{out_trade_no}", sandbox.pay)
    app.router.add_get("/sandbox/orders/{out_trade_no}", sandbox.show)
    app.router.add_post("/sandbox/faults", sandbox.faults)
    return app


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read())
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict):
        raise Refusal(400, "PARAM_ERROR", "请求体必须为 JSON 对象")
    return body


def _fen(amount: Any, name: str) -> int:
    value = amount.get(name) if isinstance(amount, dict) else None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise Refusal(400, "PARAM_ERROR", f"amount.{name} 必须为正整数(分)")
    return value


def _rfc3339(value: Any, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise Refusal(400, "PARAM_ERROR", f"{name} 应为 rfc3339 格式")
    return moment


def _expired(order: Order) -> bool:
    expires = order.request.get("time_expire")
    return expires is not None and _rfc3339(expires, "time_expire") <= datetime.now(CHINA_TIME)


def _now() -> str:
    return datetime.now(CHINA_TIME).isoformat(timespec="seconds")
