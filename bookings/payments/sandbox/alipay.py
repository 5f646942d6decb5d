"""A local Alipay Open Platform gateway: Alipay's side of the protocol, for tests and demo mode.

What it plays, written out from Alipay's documentation rather than imported from the provider
module, so the two cannot drift together:

- ``/gateway.do`` (GET query or POST form, both merged as the real gateway does) checks the common
  parameters and the request signature exactly as Alipay does (all parameters but ``sign`` and
  empty ones, sorted, ``k=v&...`` raw values, SHA256withRSA with the app's public key) and refuses
  with Alipay's error shape: ``{"<method>_response": {"code": "40002", "msg": "Invalid
  Arguments", "sub_code": "isv.invalid-signature", "sub_msg": ...}, "sign": ...}``
  (``error_response`` for a missing or unknown method). Every JSON answer is signed with Alipay's
  private key over the exact text of its ``..._response`` value.
- ``alipay.trade.page.pay`` / ``alipay.trade.wap.pay`` opened by the browser create the trade in
  ``WAIT_BUYER_PAY`` and answer a cashier page (HTML, errors too, as Alipay's pages do);
  ``alipay.trade.app.pay`` (what the Alipay app forwards from the order string) is POSTed here and
  answered in JSON (the sandbox's stand-in for the app). The same out_trade_no opened again with
  other terms is ``ACQ.CONTEXT_INCONSISTENT``. A trade exists only once opened (real Alipay creates
  a page-pay trade when the payer signs in, later still).
- ``alipay.trade.query``, ``alipay.trade.refund`` (idempotent by ``out_request_no``: a repeat
  answers ``fund_change=N``; a partial refund keeps ``TRADE_SUCCESS``, the last one closes the
  trade; more than paid is ``ACQ.REASON_TRADE_REFUND_FEE_ERR``; an unpaid trade
  ``ACQ.TRADE_STATUS_ERROR``; a known out_request_no with another amount
  ``ACQ.REFUND_AMT_NOT_EQUAL_TOTAL``, the sandbox's reading of an undocumented case) and
  ``alipay.trade.fastpay.refund.query``.
- Not played: a request ``timestamp`` too far from the gateway's clock (only its format is
  checked), certificate mode, RSA (SHA1) and AES-encrypted requests, ``alipay.trade.close``.
- Notifies (form POST, signed over every field but ``sign`` and ``sign_type``) go to the trade's
  notify_url when its state changes, on the states the product notifies by default: PC page pay
  only ``TRADE_SUCCESS``; wap and app also ``TRADE_CLOSED`` and ``TRADE_FINISHED``. A refund
  re-sends the trade's notify with ``refund_fee`` (total refunded), ``gmt_refund`` and
  ``out_biz_no``. Only the exact body ``success`` stops the retries; Alipay retries 8 times in
  about 25 hours, after 4m, 10m, 10m, 1h, 2h, 6h, 15h (``ALIPAY_RETRY_DELAYS``; tests and demo
  pass shorter ``retry_delays``). A retry carries the first sending's ``notify_time`` and
  ``notify_id`` (the worst case for a receiver's freshness check).

Control endpoints that play the payer and show the sandbox's view:

- ``POST /sandbox/pay/{out_trade_no}`` ``{"outcome": "success" | "fail"}``: pays the trade, or,
  since Alipay has no failed payment, closes it as an expiry would.
- ``GET /sandbox/orders/{out_trade_no}``: status, refunds, notifies and every attempt's answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from bookings.payments import keys

log = logging.getLogger(__name__)

# Alipay's documented resending schedule: 8 sendings in about 25 hours.
ALIPAY_RETRY_DELAYS = (240.0, 600.0, 600.0, 3600.0, 7200.0, 21600.0, 54000.0)
BEIJING = timezone(timedelta(hours=8))  # UTC+8, no daylight saving since 1991
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
PRICE = re.compile(r"(0|[1-9][0-9]{0,10})(?:\.([0-9]{1,2}))?")
TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
MAX_TOTAL_CENTS = 100_000_000 * 100  # "取值范围[0.01,100000000]"
ANSWER_EXCERPT = 200  # characters of a receiver's answer kept per attempt
PRODUCTS = {  # method -> product_code
    "alipay.trade.page.pay": "FAST_INSTANT_TRADE_PAY",
    "alipay.trade.wap.pay": "QUICK_WAP_WAY",
    "alipay.trade.app.pay": "QUICK_MSECURITY_PAY",
}
NOTIFIED_STATES = {  # the trade states each product notifies by default
    "FAST_INSTANT_TRADE_PAY": frozenset({"TRADE_SUCCESS"}),
    "QUICK_WAP_WAY": frozenset({"TRADE_SUCCESS", "TRADE_CLOSED", "TRADE_FINISHED"}),
    "QUICK_MSECURITY_PAY": frozenset({"TRADE_SUCCESS", "TRADE_CLOSED", "TRADE_FINISHED"}),
}
REQUIRED = ("app_id", "method", "charset", "sign_type", "sign", "timestamp", "version")


@dataclass(frozen=True, slots=True)
class AlipaySandboxConfig:
    app_id: str
    app_public_key: str  # the hub's app public key (应用公钥): checks its requests
    alipay_private_key: str = field(repr=False)  # plays Alipay's key: signs notifies and answers
    seller_id: str = "2088000000000001"
    buyer_id: str = "2088000000000002"
    retry_delays: tuple[float, ...] = ALIPAY_RETRY_DELAYS
    notify_timeout: float = 5.0  # seconds a receiver has to answer one sending


class GatewayError(Exception):
    """An answer in Alipay's error shape."""

    def __init__(self, code: str, sub_code: str, sub_msg: str) -> None:
        super().__init__(f"{code} {sub_code}: {sub_msg}")
        self.node = {"code": code, "msg": _MESSAGES[code], "sub_code": sub_code, "sub_msg": sub_msg}


_MESSAGES = {
    "40001": "Missing Required Arguments",
    "40002": "Invalid Arguments",
    "40004": "Business Failed",
}


def _missing(name: str) -> GatewayError:
    return GatewayError("40001", f"isv.missing-{name.replace('_', '-')}", f"缺少参数 {name}")


def _invalid(sub_code: str, sub_msg: str) -> GatewayError:
    return GatewayError("40002", sub_code, sub_msg)


def _business(sub_code: str, sub_msg: str) -> GatewayError:
    return GatewayError("40004", sub_code, sub_msg)


def yuan(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def price_cents(text: object) -> int | None:
    match = PRICE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        return None
    return int(match.group(1)) * 100 + int((match.group(2) or "").ljust(2, "0"))


def beijing_now() -> str:
    return datetime.now(BEIJING).strftime(TIME_FORMAT)


def sign_notify(params: Mapping[str, str], alipay_key: rsa.RSAPrivateKey) -> dict[str, str]:
    """``params`` with ``sign_type`` RSA2 and the ``sign`` Alipay puts on a notify: over every field
    but ``sign`` and ``sign_type``, sorted, ``k=v`` joined by ``&``, values as they are."""
    unsigned = {k: v for k, v in params.items() if k not in ("sign", "sign_type")}
    content = "&".join(f"{k}={v}" for k, v in sorted(unsigned.items()))
    return {**unsigned, "sign_type": "RSA2", "sign": keys.sign(alipay_key, content.encode())}


@dataclass
class Attempt:
    at: str
    status: int | None
    answer: str
    error: str | None = None


@dataclass
class Notify:
    notify_id: str
    trade_status: str
    params: dict[str, str]
    attempts: list[Attempt] = field(default_factory=list)
    acknowledged: bool = False
    given_up: bool = False

    def view(self) -> dict[str, Any]:
        return {
            "notify_id": self.notify_id,
            "trade_status": self.trade_status,
            "out_biz_no": self.params.get("out_biz_no"),
            "acknowledged": self.acknowledged,
            "given_up": self.given_up,
            "attempts": [vars(attempt) for attempt in self.attempts],
        }


@dataclass
class Trade:
    out_trade_no: str
    trade_no: str
    product_code: str
    total_cents: int
    subject: str
    notify_url: str | None
    created_at: str
    status: str = "WAIT_BUYER_PAY"
    paid_at: str | None = None
    closed_at: str | None = None
    refunds: dict[str, tuple[int, str]] = field(default_factory=dict)  # out_request_no -> (fen, time)
    notifies: list[Notify] = field(default_factory=list)

    @property
    def refunded_cents(self) -> int:
        return sum(cents for cents, _ in self.refunds.values())

    def view(self) -> dict[str, Any]:
        return {
            "out_trade_no": self.out_trade_no,
            "trade_no": self.trade_no,
            "product_code": self.product_code,
            "status": self.status,
            "total_amount": yuan(self.total_cents),
            "refunded_amount": yuan(self.refunded_cents),
            "refunds": [
                {"out_request_no": n, "refund_amount": yuan(c)} for n, (c, _) in self.refunds.items()
            ],
            "notifies": [notify.view() for notify in self.notifies],
        }


class Sandbox:
    def __init__(self, config: AlipaySandboxConfig) -> None:
        self.config = config
        self.app_key = keys.load_public(config.app_public_key)
        self.alipay_key = keys.load_private(config.alipay_private_key)
        self.trades: dict[str, Trade] = {}
        self.session: aiohttp.ClientSession | None = None
        self.deliveries: set[asyncio.Task[None]] = set()

    # --- the gateway -------------------------------------------------------------------------

    def checked(self, params: Mapping[str, str]) -> dict[str, Any]:
        """The request's biz_content once its common parameters and signature pass."""
        for name in REQUIRED:
            if not params.get(name):
                raise _missing("signature" if name == "sign" else name)
        if params["app_id"] != self.config.app_id:
            raise _invalid("isv.invalid-app-id", "无效的AppID参数")
        if params["sign_type"] != "RSA2":
            raise _invalid("isv.invalid-signature-type", "无效的签名类型")
        if params["charset"].lower() != "utf-8":
            raise _invalid("isv.invalid-charset", "字符集错误")
        if params.get("format", "JSON").upper() != "JSON":
            raise _invalid("isv.invalid-format", "无效的数据格式")
        if params["version"] != "1.0":
            raise _invalid("isv.invalid-version", "无效的版本号")
        if not TIMESTAMP.fullmatch(params["timestamp"]):
            raise _invalid("isv.invalid-timestamp", "非法的时间戳参数")
        content = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "sign" and v)
        if not keys.verify(self.app_key, content.encode(), params["sign"]):
            raise _invalid("isv.invalid-signature", f"验签出错, 网关生成的验签字符串为: {content}")
        try:
            biz = json.loads(params.get("biz_content") or "{}")
        except ValueError:
            biz = None
        if not isinstance(biz, dict):
            raise _invalid("isv.invalid-parameter", "biz_content 不是 JSON 对象")
        return biz

    def signed_answer(self, name: str, node: Mapping[str, Any]) -> web.Response:
        raw = json.dumps(node, ensure_ascii=False, separators=(",", ":"))
        sign = keys.sign(self.alipay_key, raw.encode())
        text = f'{{"{name}":{raw},"sign":"{sign}"}}'
        return web.Response(text=text, content_type="application/json", charset="utf-8")

    def open_trade(self, method: str, params: Mapping[str, str], biz: Mapping[str, Any]) -> Trade:
        out_trade_no, subject = biz.get("out_trade_no"), biz.get("subject")
        total = price_cents(biz.get("total_amount"))
        if not isinstance(out_trade_no, str) or not 0 < len(out_trade_no) <= 64:
            raise _business("ACQ.INVALID_PARAMETER", "out_trade_no 无效")
        if total is None or not 0 < total <= MAX_TOTAL_CENTS:
            raise _business("ACQ.INVALID_PARAMETER", f"total_amount {biz.get('total_amount')!r} 无效")
        if not isinstance(subject, str) or not subject or any(c in subject for c in "/=&"):
            raise _business("ACQ.INVALID_PARAMETER", "subject 无效")
        if biz.get("product_code") != PRODUCTS[method]:
            raise _business("ACQ.INVALID_PARAMETER", f"product_code 应为 {PRODUCTS[method]}")
        existing = self.trades.get(out_trade_no)
        if existing is not None:
            if (existing.total_cents, existing.product_code) != (total, PRODUCTS[method]):
                raise _business("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
            if existing.status != "WAIT_BUYER_PAY":
                raise _business("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
            return existing
        trade = Trade(
            out_trade_no,
            datetime.now(BEIJING).strftime("%Y%m%d") + "22001" + uuid.uuid4().hex[:16],
            PRODUCTS[method],
            total,
            subject,
            params.get("notify_url") or None,
            beijing_now(),
        )
        self.trades[out_trade_no] = trade
        return trade

    def find(self, biz: Mapping[str, Any]) -> Trade:
        trade_no, out_trade_no = biz.get("trade_no"), biz.get("out_trade_no")
        if not trade_no and not out_trade_no:
            raise _invalid("isv.invalid-parameter", "out_trade_no 和 trade_no 不能同时为空")
        for trade in self.trades.values():
            if trade.trade_no == trade_no or (not trade_no and trade.out_trade_no == out_trade_no):
                return trade
        raise _business("ACQ.TRADE_NOT_EXIST", "交易不存在")

    def query(self, biz: Mapping[str, Any]) -> dict[str, Any]:
        trade = self.find(biz)
        node: dict[str, Any] = {
            "code": "10000",
            "msg": "Success",
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "buyer_logon_id": "sandbox***@example.com",
            "trade_status": trade.status,
            "total_amount": yuan(trade.total_cents),
        }
        if trade.paid_at is not None:
            paid = yuan(trade.total_cents)
            node.update(buyer_pay_amount=paid, receipt_amount=paid, send_pay_date=trade.paid_at)
            node["buyer_user_id"] = self.config.buyer_id
        return node

    def refund(self, biz: Mapping[str, Any]) -> dict[str, Any]:
        trade = self.find(biz)
        cents = price_cents(biz.get("refund_amount"))
        if cents is None or cents <= 0:
            raise _business("ACQ.INVALID_PARAMETER", f"refund_amount {biz.get('refund_amount')!r} 无效")
        request_no = str(biz.get("out_request_no") or trade.out_trade_no)
        earlier = trade.refunds.get(request_no)
        if earlier is not None:
            if earlier[0] != cents:
                raise _business("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额与该退款请求号之前的不一致")
            return self.refund_answer(trade, "N")
        if trade.status != "TRADE_SUCCESS":
            raise _business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        if not biz.get("out_request_no") and cents != trade.total_cents:
            raise _business("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "撤销或退款金额与订单金额不一致")
        if trade.refunded_cents + cents > trade.total_cents:
            raise _business("ACQ.REASON_TRADE_REFUND_FEE_ERR", "退款金额无效")
        now = datetime.now(BEIJING)
        trade.refunds[request_no] = (cents, now.strftime(TIME_FORMAT) + f".{now.microsecond // 1000:03d}")
        if trade.refunded_cents == trade.total_cents:
            trade.status, trade.closed_at = "TRADE_CLOSED", now.strftime(TIME_FORMAT)
        self.notify(trade, refund=request_no)
        return self.refund_answer(trade, "Y")

    def refund_answer(self, trade: Trade, fund_change: str) -> dict[str, Any]:
        return {
            "code": "10000",
            "msg": "Success",
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "buyer_logon_id": "sandbox***@example.com",
            "fund_change": fund_change,
            "refund_fee": yuan(trade.refunded_cents),
            "gmt_refund_pay": beijing_now(),
            "buyer_user_id": self.config.buyer_id,
            "send_back_fee": "0.00",
        }

    def refund_query(self, biz: Mapping[str, Any]) -> dict[str, Any]:
        trade = self.find(biz)
        request_no = str(biz.get("out_request_no") or trade.out_trade_no)
        node: dict[str, Any] = {"code": "10000", "msg": "Success"}
        if request_no in trade.refunds:  # no refund_status: "退款请求未收到或者退款失败"
            node.update(
                trade_no=trade.trade_no,
                out_trade_no=trade.out_trade_no,
                out_request_no=request_no,
                total_amount=yuan(trade.total_cents),
                refund_amount=yuan(trade.refunds[request_no][0]),
                refund_status="REFUND_SUCCESS",
            )
        return node

    # --- the payer and the notifies ----------------------------------------------------------

    def pay(self, trade: Trade, outcome: str) -> None:
        if outcome == "success":
            trade.status, trade.paid_at = "TRADE_SUCCESS", beijing_now()
        else:
            trade.status, trade.closed_at = "TRADE_CLOSED", beijing_now()
        self.notify(trade)

    def notify(self, trade: Trade, refund: str | None = None) -> None:
        if trade.notify_url is None or trade.status not in NOTIFIED_STATES[trade.product_code]:
            return
        params = {
            "notify_time": beijing_now(),
            "notify_type": "trade_status_sync",
            "notify_id": uuid.uuid4().hex + "h",
            "app_id": self.config.app_id,
            "charset": "utf-8",
            "version": "1.0",
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "trade_status": trade.status,
            "total_amount": yuan(trade.total_cents),
            "seller_id": self.config.seller_id,
            "subject": trade.subject,
            "gmt_create": trade.created_at,
        }
        if trade.paid_at is not None:
            paid = yuan(trade.total_cents)
            params.update(
                receipt_amount=paid, buyer_pay_amount=paid, invoice_amount=paid, point_amount="0.00"
            )
            params.update(gmt_payment=trade.paid_at, buyer_id=self.config.buyer_id)
        if trade.closed_at is not None:
            params["gmt_close"] = trade.closed_at
        if refund is not None:
            params["refund_fee"] = yuan(trade.refunded_cents)
            params["gmt_refund"] = trade.refunds[refund][1]
            params["out_biz_no"] = refund
        notify = Notify(params["notify_id"], trade.status, sign_notify(params, self.alipay_key))
        trade.notifies.append(notify)
        task = asyncio.get_running_loop().create_task(self.deliver(trade.notify_url, notify))
        self.deliveries.add(task)
        task.add_done_callback(self.deliveries.discard)

    async def deliver(self, url: str, notify: Notify) -> None:
        """Send until the answer is exactly ``success``, on Alipay's schedule."""
        for delay in (0.0, *self.config.retry_delays):
            if delay:
                await asyncio.sleep(delay)  # the resending schedule itself, not a wait for something
            if await self.send(url, notify):
                notify.acknowledged = True
                return
        notify.given_up = True
        log.info("alipay sandbox: notify %s to %s never acknowledged", notify.notify_id, url)

    async def send(self, url: str, notify: Notify) -> bool:
        assert self.session is not None, "the sandbox app is not running"
        at = datetime.now(BEIJING).isoformat()
        try:
            async with self.session.post(
                url,
                data=urlencode(notify.params),
                headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
                timeout=aiohttp.ClientTimeout(total=self.config.notify_timeout),
            ) as response:
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            notify.attempts.append(Attempt(at, None, "", f"{type(exc).__name__}: {exc}"))
            return False
        answer = body[:ANSWER_EXCERPT].decode("utf-8", "replace")
        notify.attempts.append(Attempt(at, response.status, answer))
        return body == b"success"  # "必须打印输出 success 这 7 个字符", nothing around it


SANDBOX = web.AppKey("alipay_sandbox", Sandbox)
API: dict[str, Callable[[Sandbox, Mapping[str, Any]], dict[str, Any]]] = {
    "alipay.trade.query": Sandbox.query,
    "alipay.trade.refund": Sandbox.refund,
    "alipay.trade.fastpay.refund.query": Sandbox.refund_query,
}


def create_app(config: AlipaySandboxConfig) -> web.Application:
    app = web.Application()
    app[SANDBOX] = Sandbox(config)
    app.router.add_route("GET", "/gateway.do", _gateway)
    app.router.add_route("POST", "/gateway.do", _gateway)
    app.router.add_post("/sandbox/pay/{out_trade_no}", _pay)
    app.router.add_get("/sandbox/orders/{out_trade_no}", _order)
    app.cleanup_ctx.append(_notify_client)
    return app


async def _notify_client(app: web.Application) -> AsyncIterator[None]:
    sandbox = app[SANDBOX]
    sandbox.session = aiohttp.ClientSession()
    yield
    for task in list(sandbox.deliveries):
        task.cancel()
    for task in list(sandbox.deliveries):
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await sandbox.session.close()


async def _gateway(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    params = dict(request.query)
    if request.method == "POST":
        params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
    method = params.get("method", "")
    if method in PRODUCTS:
        return _cashier(sandbox, method, params)
    name = f"{method.replace('.', '_')}_response" if method in API else "error_response"
    try:
        if method not in API:
            raise _missing("method") if not method else _invalid("isv.invalid-method", "不存在的方法名")
        node = API[method](sandbox, sandbox.checked(params))
    except GatewayError as exc:
        node = exc.node
    return sandbox.signed_answer(name, node)


def _cashier(sandbox: Sandbox, method: str, params: Mapping[str, str]) -> web.Response:
    """The page the payer's browser (or the Alipay app) lands on."""
    try:
        trade = sandbox.open_trade(method, params, sandbox.checked(params))
    except GatewayError as exc:
        if method == "alipay.trade.app.pay":
            return sandbox.signed_answer("alipay_trade_app_pay_response", exc.node)
        code = html.escape(str(exc.node["sub_code"]))
        page = f"<h1>支付宝 sandbox</h1><p>错误代码 {code}</p><p>{html.escape(str(exc.node['sub_msg']))}</p>"
        return web.Response(text=page, content_type="text/html")
    if method == "alipay.trade.app.pay":
        node = {
            "code": "10000",
            "msg": "Success",
            "out_trade_no": trade.out_trade_no,
            "trade_no": trade.trade_no,
        }
        node["total_amount"] = yuan(trade.total_cents)
        return sandbox.signed_answer("alipay_trade_app_pay_response", node)
    page = (
        f"<h1>支付宝 sandbox cashier</h1><p>{html.escape(trade.subject)}: ¥{yuan(trade.total_cents)}</p>"
        # Relative: the page is .../gateway.do, served alone or under a prefix on the hub.
        f"<form method='post' action='sandbox/pay/{html.escape(trade.out_trade_no)}'>"
        "<button>Pay</button></form>"
    )
    return web.Response(text=page, content_type="text/html")


async def _pay(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    trade = sandbox.trades.get(request.match_info["out_trade_no"])
    if trade is None:
        return web.json_response({"error": "no_such_order"}, status=404)
    try:
        body = await request.json() if request.can_read_body else {}
    except ValueError:
        body = None
    outcome = body.get("outcome", "success") if isinstance(body, dict) else None
    if outcome not in ("success", "fail"):
        return web.json_response({"error": "outcome is success or fail"}, status=400)
    if trade.status != "WAIT_BUYER_PAY":
        return web.json_response({"error": "not_payable", "status": trade.status}, status=409)
    sandbox.pay(trade, outcome)
    return web.json_response(trade.view())


async def _order(request: web.Request) -> web.Response:
    trade = request.app[SANDBOX].trades.get(request.match_info["out_trade_no"])
    if trade is None:
        return web.json_response({"error": "no_such_order"}, status=404)
    return web.json_response(trade.view())
