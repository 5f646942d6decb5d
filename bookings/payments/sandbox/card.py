"""Stripe's side of a card payment, in memory: Checkout Sessions, their hosted page, PaymentIntent
search, refunds and signed webhooks, answered the way Stripe's API reference documents them.

It checks what Stripe checks for the calls the card provider makes: the secret key (Bearer, or
Basic with the key as user name; 401 otherwise), form-encoded parameters it knows (an unknown
one is a 400 ``parameter_unknown``), ``expires_at`` between 30 minutes and 24 hours ahead, and
``Idempotency-Key`` (the first answer is replayed for the same parameters, a 400
``idempotency_error`` for different ones). Errors have Stripe's shape
``{"error": {"type", "code", "message", "param"}}``.

Webhooks go to ``webhook_url``, as Stripe sends them to the endpoint configured in its dashboard
(an order's notify_url is not part of Stripe's API), each attempt signed afresh with
``Stripe-Signature: t=<now>,v1=<hex HMAC-SHA256 of "t.body">``. Any 2xx ends the delivery.
Stripe retries in live mode for up to three days with exponential backoff, in test mode three
times over a few hours, and publishes no exact intervals; ``LIVE_RETRY_DELAYS`` approximates the
live schedule and ``retry_delays`` replaces it so tests and the demo run it in moments.

Sent events: ``checkout.session.completed`` (paid) or ``checkout.session.async_payment_failed``
when the payer pays or declines, ``checkout.session.expired`` when a session is expired,
``refund.created`` when a refund is made and ``refund.updated`` when a pending one settles.
A decline is played as ``checkout.session.async_payment_failed`` so the hub sees a failure end to
end; real Stripe keeps a declined card on its page for another try and sends that event only for
delayed payment methods. PaymentIntents are created when the payer submits the page, as Stripe
has done since API version 2022-08-01, so an unpaid order has none to find.

The payer's side: ``GET /pay/{session_id}`` is the hosted page (Pay and Decline, then back to
``success_url``/``cancel_url``); ``POST /sandbox/pay/{out_trade_no}`` with an optional
``{"outcome": "success"|"fail"}`` does the same without a browser; ``POST
/sandbox/refunds/{refund_id}`` with ``{"status": "succeeded"|"failed"}`` settles a pending refund
(with ``refunds_pending``); ``GET /sandbox/orders/{out_trade_no}`` shows the session, its
PaymentIntent, refunds and every webhook attempt with the answer it got.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import hmac
import html
import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

# Roughly Stripe's live schedule: exponential backoff over about three days.
LIVE_RETRY_DELAYS: tuple[float, ...] = (60, 300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 86400)
WEBHOOK_TIMEOUT_SECONDS = 10.0
MIN_SESSION_SECONDS = 30 * 60
MAX_SESSION_SECONDS = 24 * 3600
SESSION_PARAMS = re.compile(
    r"mode|client_reference_id|success_url|cancel_url|expires_at|metadata\[\w+\]"
    r"|payment_intent_data\[metadata\]\[\w+\]|line_items\[0\]\[quantity\]"
    r"|line_items\[0\]\[price_data\]\[(currency|unit_amount|product_data\]\[name)\]"
)
REFUND_PARAMS = re.compile(r"payment_intent|amount|reason|metadata\[\w+\]")
SEARCH_QUERY = re.compile(r"""metadata\[(['"])(\w+)\1\]:(['"])([^'"]*)\3""")
REFUND_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})


@dataclass(frozen=True, slots=True)
class CardSandboxConfig:
    secret_key: str  # what the hub must present; sk_live_... makes events livemode
    webhook_secret: str  # whsec_...: what the webhooks are signed with
    webhook_url: str | None = None  # the account's webhook endpoint: none, no webhooks
    account: str | None = None  # set: events carry "account", as Connect events do
    retry_delays: tuple[float, ...] = LIVE_RETRY_DELAYS
    refunds_pending: bool = False  # refunds start pending until /sandbox/refunds/{id} settles them
    public_url: str | None = None  # base of hosted page URLs; default: the request's own origin


class StripeError(Exception):
    def __init__(
        self, status: int, message: str, *, code: str | None = None, param: str | None = None
    ) -> None:
        super().__init__(message)
        kind = {402: "card_error", 429: "rate_limit_error", 500: "api_error"}.get(status)
        error: dict[str, Any] = {"type": kind or "invalid_request_error", "message": message}
        if code:
            error["code"] = code
        if param:
            error["param"] = param
        self.status = status
        self.body = {"error": error}

    def response(self) -> web.Response:
        return web.json_response(self.body, status=self.status)


@dataclass
class Delivery:
    event_id: str
    type: str
    state: str = "delivering"  # then "delivered" (a 2xx) or "gave_up" (retries exhausted)
    attempts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Order:
    session: dict[str, Any]
    description: str
    intent_metadata: dict[str, str]
    intent: dict[str, Any] | None = None
    refunds: list[dict[str, Any]] = field(default_factory=list)
    notifies: list[Delivery] = field(default_factory=list)

    def refunded(self) -> int:
        return sum(r["amount"] for r in self.refunds if r["status"] not in ("failed", "canceled"))


def stripe_signature(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Stripe-Signature`` header Stripe sends with ``body`` at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def new_id(prefix: str, livemode: bool) -> str:
    return f"{prefix}_{'live' if livemode else 'test'}_{secrets.token_hex(12)}"


class CardSandbox:
    def __init__(self, config: CardSandboxConfig) -> None:
        self.config = config
        self.livemode = "_live_" in config.secret_key
        self.orders: dict[str, Order] = {}  # by out_trade_no
        self.sessions: dict[str, Order] = {}  # by session id
        self.intents: dict[str, Order] = {}  # by PaymentIntent id
        self.refunds: dict[str, Order] = {}  # by refund id
        # Idempotency-Key -> (path, parameters, status, answer) of the request that first used it.
        self.replays: dict[str, tuple[str, list[tuple[str, str]], int, dict[str, Any]]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.http: aiohttp.ClientSession | None = None

    # The API.

    def create_session(self, params: dict[str, str], origin: str) -> dict[str, Any]:
        _only(params, SESSION_PARAMS)
        if params.get("mode") != "payment":
            raise StripeError(400, "This integration supports mode=payment only.", param="mode")
        price = "line_items[0][price_data]"
        amount = _integer(params, f"{price}[unit_amount]", minimum=1)
        quantity = _integer(params, "line_items[0][quantity]", minimum=1)
        currency = params.get(f"{price}[currency]", "")
        if not re.fullmatch(r"[a-z]{3}", currency):
            raise StripeError(400, "Invalid currency.", code="parameter_invalid_string", param="currency")
        name = params.get(f"{price}[product_data][name]", "")
        if not name:
            raise StripeError(400, "Missing required param.", code="parameter_missing", param="name")
        for url_param in ("success_url", "cancel_url"):
            if url_param in params and urlsplit(params[url_param]).scheme not in ("http", "https"):
                raise StripeError(400, "Not a valid URL", code="url_invalid", param=url_param)
        now = int(time.time())
        expires_at = _integer(params, "expires_at", minimum=0) if "expires_at" in params else now + 86400
        if not now + MIN_SESSION_SECONDS <= expires_at <= now + MAX_SESSION_SECONDS:
            raise StripeError(
                400,
                "The `expires_at` timestamp must be between 30 minutes and 24 hours from creation.",
                code="parameter_invalid_integer",
                param="expires_at",
            )
        reference = params.get("client_reference_id")
        if reference is not None and reference in self.orders:
            # Stripe allows it; the sandbox keys its control endpoints by it.
            raise StripeError(400, "The sandbox already has a session for this client_reference_id.")
        session_id = new_id("cs", self.livemode)
        base = (self.config.public_url or origin).rstrip("/")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": "payment",
            "url": f"{base}/pay/{session_id}",
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": amount * quantity,
            "currency": currency,
            "client_reference_id": reference,
            "metadata": _nested(params, "metadata"),
            "payment_intent": None,
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "expires_at": expires_at,
            "created": now,
            "livemode": self.livemode,
        }
        order = Order(session, name, _nested(params, "payment_intent_data[metadata]"))
        self.sessions[session_id] = order
        self.orders[reference or session_id] = order
        return session

    def expire(self, session_id: str) -> dict[str, Any]:
        order = self._session(session_id)
        if order.session["status"] != "open":
            raise StripeError(400, "Only Checkout Sessions with a status in [open] can be expired.")
        order.session["status"] = "expired"
        if order.intent is not None and order.intent["status"] != "succeeded":
            order.intent["status"] = "canceled"
        self.send(order, "checkout.session.expired", order.session)
        return order.session

    def search_intents(self, params: Mapping[str, str]) -> dict[str, Any]:
        _only(dict(params), re.compile(r"query|limit|page"))
        match = SEARCH_QUERY.fullmatch(params.get("query", "").strip())
        if match is None:
            raise StripeError(400, "The search query is malformed.", code="parameter_invalid_string")
        limit = _integer(dict(params), "limit", minimum=1) if "limit" in params else 10
        key, value = match.group(2), match.group(4)
        found = [
            o.intent for o in self.intents.values() if o.intent and o.intent["metadata"].get(key) == value
        ]
        found.sort(key=lambda pi: pi["created"], reverse=True)
        return {
            "object": "search_result",
            "url": "/v1/payment_intents/search",
            "has_more": len(found) > limit,
            "next_page": None,
            "data": found[: min(limit, 100)],
        }

    def create_refund(self, params: dict[str, str]) -> dict[str, Any]:
        _only(params, REFUND_PARAMS)
        order = self.intents.get(params.get("payment_intent", ""))
        if order is None or order.intent is None:
            raise StripeError(404, "No such payment_intent", code="resource_missing", param="payment_intent")
        intent = order.intent
        if intent["status"] != "succeeded":
            raise StripeError(400, "This PaymentIntent has no charge.", code="charge_not_refundable")
        remaining = intent["amount"] - order.refunded()
        if remaining <= 0:
            message = f"Charge {intent['latest_charge']} has already been refunded."
            raise StripeError(400, message, code="charge_already_refunded")
        amount = _integer(params, "amount", minimum=1) if "amount" in params else remaining
        if amount > remaining:
            raise StripeError(
                400,
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
                code="amount_too_large",
                param="amount",
            )
        reason = params.get("reason")
        if reason is not None and reason not in REFUND_REASONS:
            raise StripeError(400, "Invalid reason", code="parameter_invalid_string", param="reason")
        refund = {
            "id": new_id("re", self.livemode),
            "object": "refund",
            "amount": amount,
            "currency": intent["currency"],
            "payment_intent": intent["id"],
            "charge": intent["latest_charge"],
            "metadata": _nested(params, "metadata"),
            "reason": reason,
            "status": "pending" if self.config.refunds_pending else "succeeded",
            "failure_reason": None,
            "created": int(time.time()),
        }
        order.refunds.append(refund)
        self.refunds[refund["id"]] = order
        self.send(order, "refund.created", refund)
        return refund

    # The payer, and the sandbox's own controls.

    def pay(self, order: Order, outcome: str) -> None:
        session = order.session
        if session["status"] != "open":
            raise StripeError(409, f"This Checkout Session is {session['status']}.", code="session_not_open")
        paid = outcome == "success"
        intent = {
            "id": new_id("pi", self.livemode),
            "object": "payment_intent",
            "amount": session["amount_total"],
            "amount_received": session["amount_total"] if paid else 0,
            "currency": session["currency"],
            "status": "succeeded" if paid else "requires_payment_method",
            "metadata": dict(order.intent_metadata),
            "latest_charge": new_id("ch", self.livemode),
            "last_payment_error": None
            if paid
            else {"type": "card_error", "code": "card_declined", "message": "Your card was declined."},
            "created": int(time.time()),
            "livemode": self.livemode,
        }
        order.intent = intent
        self.intents[intent["id"]] = order
        session.update(status="complete", payment_intent=intent["id"])
        session["payment_status"] = "paid" if paid else "unpaid"
        kind = "checkout.session.completed" if paid else "checkout.session.async_payment_failed"
        self.send(order, kind, session)

    def settle_refund(self, refund_id: str, status: str) -> dict[str, Any]:
        order = self.refunds.get(refund_id)
        if order is None:
            raise StripeError(404, f"No such refund: '{refund_id}'", code="resource_missing")
        refund = next(r for r in order.refunds if r["id"] == refund_id)
        if refund["status"] != "pending" or status not in ("succeeded", "failed"):
            raise StripeError(400, f"A {refund['status']} refund cannot become {status}.")
        refund["status"] = status
        if status == "failed":
            refund["failure_reason"] = "expired_or_canceled_card"
        self.send(order, "refund.updated", refund)
        return refund

    def view(self, order: Order) -> dict[str, Any]:
        return {
            "status": order.session["status"],
            "payment_status": order.session["payment_status"],
            "session": order.session,
            "payment_intent": order.intent,
            "refunds": order.refunds,
            "refunded": order.refunded(),
            "notifies": [vars(delivery) for delivery in order.notifies],
        }

    # Webhooks.

    def send(self, order: Order, kind: str, obj: Mapping[str, Any]) -> None:
        event: dict[str, Any] = {
            "id": new_id("evt", self.livemode),
            "object": "event",
            "api_version": "2024-06-20",
            "created": int(time.time()),
            "type": kind,
            "livemode": self.livemode,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": {"object": copy.deepcopy(obj)},
        }
        if self.config.account is not None:
            event["account"] = self.config.account
        if self.config.webhook_url is None:
            return
        delivery = Delivery(event["id"], kind)
        order.notifies.append(delivery)
        task = asyncio.create_task(self._deliver(delivery, json.dumps(event).encode()))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _deliver(self, delivery: Delivery, body: bytes) -> None:
        for delay in (0.0, *self.config.retry_delays):
            if delay:
                await asyncio.sleep(delay)  # the retry schedule itself
            status = await self._attempt(delivery, body)
            if status is not None and 200 <= status < 300:
                delivery.state = "delivered"
                return
        delivery.state = "gave_up"

    async def _attempt(self, delivery: Delivery, body: bytes) -> int | None:
        assert self.http is not None
        assert self.config.webhook_url is not None
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": stripe_signature(self.config.webhook_secret, body, int(time.time())),
        }
        record: dict[str, Any] = {"at": time.time(), "status": None, "answer": None, "error": None}
        delivery.attempts.append(record)
        try:
            async with self.http.post(self.config.webhook_url, data=body, headers=headers) as response:
                record["status"] = response.status
                record["answer"] = (await response.text(errors="replace"))[:500]
        except (aiohttp.ClientError, TimeoutError) as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
        status: int | None = record["status"]
        return status

    def _session(self, session_id: str) -> Order:
        order = self.sessions.get(session_id)
        if order is None:
            raise StripeError(404, f"No such checkout.session: '{session_id}'", code="resource_missing")
        return order


SANDBOX = web.AppKey("card_sandbox", CardSandbox)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(config: CardSandboxConfig) -> web.Application:
    sandbox = CardSandbox(config)
    app = web.Application(middlewares=[_stripe_errors, _authenticated])
    app[SANDBOX] = sandbox
    app.cleanup_ctx.append(_http_client)
    app.router.add_post("/v1/checkout/sessions", _create_session)
    app.router.add_get("/v1/checkout/sessions/{id}", _get_session)
    app.router.add_post("/v1/checkout/sessions/{id}/expire", _expire_session)
    app.router.add_get("/v1/payment_intents/search", _search_intents)
    app.router.add_post("/v1/refunds", _create_refund)
    app.router.add_get("/pay/{id}", _hosted_page)
    app.router.add_post("/pay/{id}", _hosted_answer)
    app.router.add_post("/sandbox/pay/{out_trade_no}", _control_pay)
    app.router.add_post("/sandbox/refunds/{id}", _control_refund)
    app.router.add_get("/sandbox/orders/{out_trade_no}", _control_view)
    return app


async def _http_client(app: web.Application) -> AsyncIterator[None]:
    sandbox = app[SANDBOX]
    timeout = aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as sandbox.http:
        yield
        for task in list(sandbox.tasks):
            task.cancel()
        for task in list(sandbox.tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task


@web.middleware
async def _stripe_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except StripeError as exc:
        return exc.response()


@web.middleware
async def _authenticated(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/v1/"):
        presented = _presented_key(request.headers.get("Authorization", ""))
        if presented is None:
            raise StripeError(401, "You did not provide an API key.")
        expected = request.app[SANDBOX].config.secret_key
        if not hmac.compare_digest(presented.encode(), expected.encode()):
            raise StripeError(401, f"Invalid API Key provided: {presented[:8]}****{presented[-4:]}")
    return await handler(request)


def _presented_key(authorization: str) -> str | None:
    scheme, _, credentials = authorization.partition(" ")
    if scheme == "Bearer" and credentials:
        return credentials
    if scheme == "Basic" and credentials:
        with contextlib.suppress(ValueError):
            return base64.b64decode(credentials, validate=True).decode().partition(":")[0] or None
    return None


async def _idempotent(request: web.Request, act: Callable[[dict[str, str]], dict[str, Any]]) -> web.Response:
    """Stripe's Idempotency-Key: the first answer again for the same request, else an error."""
    sandbox = request.app[SANDBOX]
    form = await request.post()
    params = [(k, v) for k, v in form.items() if isinstance(v, str)]
    key = request.headers.get("Idempotency-Key")
    if key is not None and key in sandbox.replays:
        path, first_params, status, answer = sandbox.replays[key]
        if path != request.path or first_params != params:
            raise StripeError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they were "
                "first used with.",
                code="idempotency_error",
            )
        return web.json_response(answer, status=status, headers={"Idempotent-Replayed": "true"})
    try:
        status, answer = 200, act(dict(params))
    except StripeError as exc:
        status, answer = exc.status, exc.body
    if key is not None:
        sandbox.replays[key] = (request.path, params, status, answer)
    return web.json_response(answer, status=status)


async def _create_session(request: web.Request) -> web.Response:
    origin = f"{request.scheme}://{request.host}"
    return await _idempotent(request, lambda p: request.app[SANDBOX].create_session(p, origin))


async def _get_session(request: web.Request) -> web.Response:
    return web.json_response(request.app[SANDBOX]._session(request.match_info["id"]).session)


async def _expire_session(request: web.Request) -> web.Response:
    return await _idempotent(request, lambda p: request.app[SANDBOX].expire(request.match_info["id"]))


async def _search_intents(request: web.Request) -> web.Response:
    return web.json_response(request.app[SANDBOX].search_intents(request.query))


async def _create_refund(request: web.Request) -> web.Response:
    return await _idempotent(request, request.app[SANDBOX].create_refund)


async def _hosted_page(request: web.Request) -> web.Response:
    order = request.app[SANDBOX]._session(request.match_info["id"])
    session = order.session
    fen = session["amount_total"]
    amount = f"{session['currency'].upper()} {fen // 100}.{fen % 100:02d}"
    action = html.escape(request.path)
    body = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Pay {html.escape(amount)}</title></head>
<body><h1>{html.escape(order.description)}</h1><p class="amount">{html.escape(amount)}</p>
<p class="status">{html.escape(session["status"])}</p>
<form method="post" action="{action}"><button name="outcome" value="success">Pay</button>
<button name="outcome" value="fail">Decline</button></form></body></html>
"""
    return web.Response(text=body, content_type="text/html")


async def _hosted_answer(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    order = sandbox._session(request.match_info["id"])
    outcome = str((await request.post()).get("outcome", ""))
    if outcome not in ("success", "fail"):
        raise StripeError(400, "outcome must be success or fail", param="outcome")
    sandbox.pay(order, outcome)
    back = order.session["success_url"] if outcome == "success" else order.session["cancel_url"]
    if not back:
        return web.Response(text="Done.", content_type="text/plain")
    raise web.HTTPSeeOther(back)


async def _control_pay(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    order = _order(request)
    body = await _json_object(request)
    outcome = body.get("outcome", "success")
    if outcome not in ("success", "fail"):
        raise StripeError(400, "outcome must be success or fail", param="outcome")
    sandbox.pay(order, outcome)
    return web.json_response(sandbox.view(order))


async def _control_refund(request: web.Request) -> web.Response:
    body = await _json_object(request)
    refund = request.app[SANDBOX].settle_refund(request.match_info["id"], str(body.get("status")))
    return web.json_response(refund)


async def _control_view(request: web.Request) -> web.Response:
    return web.json_response(request.app[SANDBOX].view(_order(request)))


def _order(request: web.Request) -> Order:
    order = request.app[SANDBOX].orders.get(request.match_info["out_trade_no"])
    if order is None:
        raise StripeError(404, "No session has this client_reference_id.", code="resource_missing")
    return order


async def _json_object(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise StripeError(400, "The body is not JSON.") from None
    if not isinstance(body, dict):
        raise StripeError(400, "The body is not a JSON object.")
    return body


def _only(params: Mapping[str, str], allowed: re.Pattern[str]) -> None:
    for name in params:
        if not allowed.fullmatch(name):
            message = f"Received unknown parameter: {name[:60]}"
            raise StripeError(400, message, code="parameter_unknown", param=name[:60])


def _integer(params: Mapping[str, str], name: str, *, minimum: int) -> int:
    raw = params.get(name)
    if raw is None:
        raise StripeError(400, f"Missing required param: {name}.", code="parameter_missing", param=name)
    if not re.fullmatch(r"-?[0-9]{1,15}", raw) or int(raw) < minimum:
        raise StripeError(400, f"Invalid integer: {raw[:20]}", code="parameter_invalid_integer", param=name)
    return int(raw)


def _nested(params: Mapping[str, str], prefix: str) -> dict[str, str]:
    """``prefix[key]=value`` parameters as ``{key: value}``."""
    found = {}
    for name, value in params.items():
        if name.startswith(prefix + "[") and name.endswith("]") and "[" not in name[len(prefix) + 1 : -1]:
            found[name[len(prefix) + 1 : -1]] = value
    return found
