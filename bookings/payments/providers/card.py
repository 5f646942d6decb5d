"""Bank cards through a hosted payment page, speaking Stripe's API: card data never reaches the hub.

Documented rules implemented (docs.stripe.com: API reference, Checkout, Webhooks, Search):

- Every call goes to ``{api_base}`` (``https://api.stripe.com`` unless configured) with
  ``Authorization: Bearer <secret key>``, form-encoded bodies with bracketed keys
  (``line_items[0][price_data][currency]=cny``) and an ``Idempotency-Key`` on every POST. Keys are
  ``checkout:<out_trade_no>`` and ``refund:<out_refund_no>``: Stripe scopes keys to the account,
  not the endpoint, so a payment id and a refund id that happened to be equal must not collide.
  Stripe replays the first answer to a repeated key with the same parameters and refuses one with
  different parameters (``idempotency_error``).
- Prepare: ``POST /v1/checkout/sessions`` in ``mode=payment``, one line item priced in fen,
  ``client_reference_id`` and ``metadata[out_trade_no]`` on the session and
  ``payment_intent_data[metadata][out_trade_no]`` on its PaymentIntent (that is what ``query``
  searches by). ``expires_at`` must lie between 30 minutes and 24 hours ahead: an order's expiry is
  clamped into that window, and a clamped value is rounded to ten minutes so that a retried prepare
  sends the same parameters and gets the same session back. A session therefore stays payable for
  at least 30 minutes even when the order expires sooner; the payment flow must treat a late
  payment of an expired order as one to refund. ``success_url``/``cancel_url`` are the order's
  ``return_url`` (or ``HUB_PAY_CARD_RETURN_URL``) with ``checkout=success``/``checkout=cancel``.
  ``Prepared.provider_ref`` is the session id, ``client`` is ``{"url": <hosted page>}``.
- Webhooks: ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=...][,v0=...]``; a v1 is
  HMAC-SHA256(signing secret as UTF-8, ``t + "." + raw body``) in hex, compared in constant time
  with each v1 (more than one during a secret roll; several configured secrets are tried, for our
  own rolls). The signature is checked first, then the tolerance: ``|received - t| <= 300 s``.
  Stripe's endpoint is configured per account in its dashboard (not per request): point it at the
  hub's card route and subscribe it to exactly the events below.
- Events: ``checkout.session.completed`` with ``payment_status=paid`` and
  ``checkout.session.async_payment_succeeded`` are SUCCEEDED (amount ``amount_total``,
  ``out_trade_no`` from ``client_reference_id``, ``provider_ref`` the PaymentIntent);
  ``checkout.session.completed`` with ``payment_status=unpaid`` (a delayed method still settling)
  is PENDING; ``checkout.session.async_payment_failed`` is FAILED; ``checkout.session.expired`` is
  CLOSED. ``refund.created``/``refund.updated`` carry the Refund: ``succeeded`` is SUCCEEDED,
  ``failed``/``canceled`` FAILED, ``pending``/``requires_action`` PENDING (not final: the flow
  accepts it and waits for the ``refund.updated`` that settles it, so Stripe does not retry it for
  days). ``charge.refunded`` is ``unsupported_event``: it does not say which refund it is about.
  A refund without our ``metadata[out_trade_no]``/``metadata[out_refund_no]`` (made in the
  dashboard) is ``unsupported_event`` too. Any currency but CNY is ``unsupported_currency``.
- Addressing: with ``HUB_PAY_CARD_ACCOUNT`` set, the event's ``account`` must equal it
  (``wrong_merchant``); Stripe sends ``account`` only on Connect events, so leave it unset for a
  plain account. ``livemode`` must match the secret key (``sk_live_``/``rk_live_`` live,
  ``sk_test_``/``rk_test_`` test), else ``wrong_app``. ``Notice.merchant`` is the event's
  ``account``, else the configured one, else empty.
- Answers: any 2xx stops Stripe's retries (200 here); 400 makes it retry, in live mode for up to
  three days with exponential backoff (in test mode three times over a few hours).
- Query: Stripe cannot list Checkout Sessions by ``client_reference_id``, so ``query`` uses the
  Search API, ``GET /v1/payment_intents/search?query=metadata['out_trade_no']:'<id>'``. A
  PaymentIntent exists only once the payer submits the page: none found is PENDING (also for a
  session that expired untouched: the hub's own expiry says that order is over). ``succeeded`` is
  SUCCEEDED, ``canceled`` CLOSED, ``requires_payment_method`` after a ``last_payment_error``
  FAILED, anything else PENDING. Search is eventually consistent (normally under a minute), so a
  payment made seconds ago may still read PENDING.
- Refund: ``POST /v1/refunds`` with ``payment_intent``, ``amount``, ``reason=requested_by_customer``
  and ``metadata[out_trade_no]``/``metadata[out_refund_no]`` (a Refund does not carry its
  PaymentIntent's metadata). ``succeeded`` is SUCCEEDED, ``pending``/``requires_action``
  PROCESSING, ``failed``/``canceled`` FAILED.
- Errors ``{"error": {"type", "code", "message"}}``: network errors, 429 and 5xx are retryable;
  anything else is not, with ``code`` (or ``type`` when there is no code) as the error's code.

Not implemented: expiring a session early (``POST /v1/checkout/sessions/{id}/expire``; the
interface has no close), Connect's ``Stripe-Account`` header, pinning ``Stripe-Version`` (the
account's default API version applies; the shapes above are those of 2022-08-01 and later),
``charge.dispute.*`` events.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

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

PRODUCTION_API = "https://api.stripe.com"
SIGNATURE_TOLERANCE_SECONDS = 300  # Stripe's libraries' default, which its docs recommend
SUPPORTED_CURRENCIES = frozenset({"CNY"})
MIN_SESSION_SECONDS = 30 * 60  # Stripe refuses an expires_at sooner than this...
MAX_SESSION_SECONDS = 24 * 3600  # ...or later than this
# Room for our clock and the request's flight against Stripe's window, and the rounding that lets
# a retried prepare send the same expires_at.
EXPIRY_MARGIN_SECONDS = 60
EXPIRY_ROUNDING_SECONDS = 600
MAX_TIMESTAMP_DIGITS = 12  # any real unix time; longer ones would overflow float arithmetic
_OUT_TRADE_NO = re.compile(r"[A-Za-z0-9_-]{6,32}")
_SECRET_KEY = re.compile(r"(sk|rk)_(live|test)_[A-Za-z0-9_]+")
_WEBHOOK_SECRET = re.compile(r"whsec_[A-Za-z0-9_+/=-]+")
_ACCOUNT = re.compile(r"acct_[A-Za-z0-9]+")

_SESSION_EVENTS = {
    "checkout.session.async_payment_succeeded": NoticeStatus.SUCCEEDED,
    "checkout.session.async_payment_failed": NoticeStatus.FAILED,
    "checkout.session.expired": NoticeStatus.CLOSED,
}
_REFUND_EVENTS = frozenset({"refund.created", "refund.updated"})
_REFUND_NOTICE_STATUS = {
    "succeeded": NoticeStatus.SUCCEEDED,
    "failed": NoticeStatus.FAILED,
    "canceled": NoticeStatus.FAILED,
    "pending": NoticeStatus.PENDING,
    "requires_action": NoticeStatus.PENDING,
}
_REFUND_RESULT_STATUS = {
    "succeeded": RefundStatus.SUCCEEDED,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.FAILED,
    "pending": RefundStatus.PROCESSING,
    "requires_action": RefundStatus.PROCESSING,
}


@dataclass(frozen=True, slots=True)
class CardConfig:
    secret_key: str  # sk_live_/sk_test_ (or a restricted rk_ key): decides livemode
    webhook_secrets: tuple[str, ...]  # whsec_...: more than one while a secret is being rolled
    account: str | None = None  # acct_...: only for Connect events, which carry ``account``
    api_base: str = PRODUCTION_API
    return_url: str | None = None  # where the payer goes back when an order names no return_url

    @property
    def livemode(self) -> bool:
        return "_live_" in self.secret_key

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CardConfig | None:
        read = EnvReader(env)
        names = ("SECRET_KEY", "WEBHOOK_SECRET", "ACCOUNT", "API_BASE", "RETURN_URL")
        if not any(read.text(f"HUB_PAY_CARD_{name}") for name in names):
            return None
        secret_key = _required(read, "HUB_PAY_CARD_SECRET_KEY", _SECRET_KEY, "sk_live_/sk_test_ key")
        secrets = read.csv("HUB_PAY_CARD_WEBHOOK_SECRET")
        if not secrets:
            raise ConfigError("HUB_PAY_CARD_WEBHOOK_SECRET", "required when the card provider is configured")
        for secret in secrets:
            if not _WEBHOOK_SECRET.fullmatch(secret):
                raise ConfigError("HUB_PAY_CARD_WEBHOOK_SECRET", "expected whsec_... signing secrets")
        account = read.text("HUB_PAY_CARD_ACCOUNT")
        if account is not None and not _ACCOUNT.fullmatch(account):
            raise ConfigError("HUB_PAY_CARD_ACCOUNT", "expected an account id acct_...")
        api_base = read.url("HUB_PAY_CARD_API_BASE", ("https", "http")) or PRODUCTION_API
        return cls(
            secret_key=secret_key,
            webhook_secrets=secrets,
            account=account,
            api_base=api_base.rstrip("/"),
            return_url=read.url("HUB_PAY_CARD_RETURN_URL", ("https", "http")),
        )


def _required(read: EnvReader, name: str, pattern: re.Pattern[str], what: str) -> str:
    value = read.text(name)
    if value is None:
        raise ConfigError(name, "required when the card provider is configured")
    if not pattern.fullmatch(value):
        raise ConfigError(name, f"expected a {what}")
    return value


class CardProvider:
    method = Method.CARD

    def __init__(self, config: CardConfig) -> None:
        self._config = config
        self._client = httpx.AsyncClient(
            base_url=config.api_base,
            timeout=HTTP_TIMEOUT,
            follow_redirects=False,
            headers={"Authorization": f"Bearer {config.secret_key}"},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def prepare(self, order: PaymentOrder) -> Prepared:
        if order.currency.upper() not in SUPPORTED_CURRENCIES:
            raise ProviderError(f"card: {order.currency} is not collected", retryable=False, code="currency")
        return_url = order.return_url or self._config.return_url
        if return_url is None:
            raise ProviderError("card: a hosted page needs a return_url", retryable=False, code="return_url")
        form = checkout_form(order, return_url, time.time())
        session = await self._call("POST", "/v1/checkout/sessions", form, f"checkout:{order.out_trade_no}")
        session_id, url = session.get("id"), session.get("url")
        if not isinstance(session_id, str) or not isinstance(url, str):
            raise ProviderError("card: session without id or url", retryable=False, code="bad_response")
        return Prepared(provider_ref=session_id, client={"url": url})

    async def query(self, out_trade_no: str) -> Notice:
        if not _OUT_TRADE_NO.fullmatch(out_trade_no):
            # It goes into a search query: only the characters the hub's ids are made of.
            raise ProviderError("card: malformed out_trade_no", retryable=False, code="out_trade_no")
        found = await self._call(
            "GET",
            "/v1/payment_intents/search",
            [("query", f"metadata['out_trade_no']:'{out_trade_no}'"), ("limit", "100")],
        )
        intents = [pi for pi in found.get("data") or [] if isinstance(pi, dict)]
        if not intents:
            return Notice(
                kind=NoticeKind.PAYMENT,
                status=NoticeStatus.PENDING,
                out_trade_no=out_trade_no,
                provider_ref="",
                amount_cents=0,
                currency="CNY",
                merchant=self._config.account or "",
                raw=found,
            )
        return self._intent_notice(out_trade_no, _most_telling(intents))

    async def refund(self, order: RefundOrder) -> RefundResult:
        form = [
            ("payment_intent", order.provider_ref),
            ("amount", str(order.refund_cents)),
            ("reason", "requested_by_customer"),
            ("metadata[out_trade_no]", order.out_trade_no),
            ("metadata[out_refund_no]", order.out_refund_no),
        ]
        refund = await self._call("POST", "/v1/refunds", form, f"refund:{order.out_refund_no}")
        status = _REFUND_RESULT_STATUS.get(str(refund.get("status")))
        refund_id = refund.get("id")
        if status is None or not isinstance(refund_id, str):
            raise ProviderError("card: refund without id or status", retryable=False, code="bad_response")
        failure = refund.get("failure_reason")
        error = str(failure) if status is RefundStatus.FAILED and failure else None
        return RefundResult(status=status, provider_refund_id=refund_id, error=error)

    def verify_notify(self, request: NotifyRequest) -> Notice:
        timestamp = check_signature(
            request.headers.get("stripe-signature"), request.body, self._config.webhook_secrets
        )
        if abs(request.received_at.timestamp() - timestamp) > SIGNATURE_TOLERANCE_SECONDS:
            raise NotifyRejected("stale_timestamp", f"t={timestamp}")
        try:
            event = json.loads(request.body)
        except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested past the parser
            raise NotifyRejected("malformed", "body is not JSON") from None
        if not isinstance(event, dict):
            raise NotifyRejected("malformed", "event is not an object")
        self._check_addressing(event)
        data = event.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        if not isinstance(obj, dict):
            raise NotifyRejected("malformed", "no data.object")
        kind = event.get("type")
        if not isinstance(kind, str):
            raise NotifyRejected("malformed", "no event type")
        if kind == "checkout.session.completed" or kind in _SESSION_EVENTS:
            return self._session_notice(kind, obj, event)
        if kind in _REFUND_EVENTS:
            return self._refund_notice(obj, event)
        raise NotifyRejected("unsupported_event", _shown(kind))

    def accepted(self) -> Answer:
        return Answer(200, b'{"received":true}', "application/json")

    def refused(self, reason: str) -> Answer:
        body = json.dumps({"received": False, "reason": reason}).encode()
        return Answer(400, body, "application/json")

    def _check_addressing(self, event: Mapping[str, Any]) -> None:
        if self._config.account is not None and event.get("account") != self._config.account:
            raise NotifyRejected("wrong_merchant", _shown(event.get("account")))
        if event.get("livemode") is not self._config.livemode:
            raise NotifyRejected("wrong_app", f"livemode={_shown(event.get('livemode'))}")

    def _session_notice(self, kind: str, session: Mapping[str, Any], event: Mapping[str, Any]) -> Notice:
        if kind == "checkout.session.completed":
            paid = session.get("payment_status")
            if paid not in ("paid", "unpaid"):
                raise NotifyRejected("unsupported_event", f"payment_status={_shown(paid)}")
            status = NoticeStatus.SUCCEEDED if paid == "paid" else NoticeStatus.PENDING
        else:
            status = _SESSION_EVENTS[kind]
        intent = session.get("payment_intent")
        if status is NoticeStatus.SUCCEEDED and not isinstance(intent, str):
            raise NotifyRejected("malformed", "a paid session without its payment_intent")
        return Notice(
            kind=NoticeKind.PAYMENT,
            status=status,
            out_trade_no=_text(session, "client_reference_id"),
            provider_ref=intent if isinstance(intent, str) else _text(session, "id"),
            amount_cents=_amount(session, "amount_total"),
            currency=_currency(session),
            merchant=self._merchant(event),
            occurred_at=_created(event),
            raw=event,
        )

    def _refund_notice(self, refund: Mapping[str, Any], event: Mapping[str, Any]) -> Notice:
        metadata = refund.get("metadata")
        if not isinstance(metadata, dict) or not {"out_trade_no", "out_refund_no"} <= metadata.keys():
            raise NotifyRejected("unsupported_event", "a refund the hub did not ask for")
        status = _REFUND_NOTICE_STATUS.get(str(refund.get("status")))
        if status is None:
            raise NotifyRejected("malformed", f"refund status {_shown(refund.get('status'))}")
        return Notice(
            kind=NoticeKind.REFUND,
            status=status,
            out_trade_no=_text(metadata, "out_trade_no"),
            provider_ref=_text(refund, "payment_intent"),
            amount_cents=_amount(refund, "amount"),
            currency=_currency(refund),
            merchant=self._merchant(event),
            out_refund_no=_text(metadata, "out_refund_no"),
            occurred_at=_created(event),
            raw=event,
        )

    def _intent_notice(self, out_trade_no: str, intent: Mapping[str, Any]) -> Notice:
        state = intent.get("status")
        if state == "succeeded":
            status = NoticeStatus.SUCCEEDED
        elif state == "canceled":
            status = NoticeStatus.CLOSED
        elif state == "requires_payment_method" and intent.get("last_payment_error"):
            status = NoticeStatus.FAILED
        else:
            status = NoticeStatus.PENDING
        try:
            return Notice(
                kind=NoticeKind.PAYMENT,
                status=status,
                out_trade_no=out_trade_no,
                provider_ref=_text(intent, "id"),
                amount_cents=_amount(intent, "amount"),
                currency=_currency(intent),
                merchant=self._config.account or "",
                raw=intent,
            )
        except NotifyRejected as exc:
            message = f"card: payment intent: {exc}"
            raise ProviderError(message, retryable=False, code="bad_response") from None

    def _merchant(self, event: Mapping[str, Any]) -> str:
        account = event.get("account")
        return account if isinstance(account, str) else self._config.account or ""

    async def _call(
        self, verb: str, path: str, form: list[tuple[str, str]], idempotency_key: str | None = None
    ) -> dict[str, Any]:
        try:
            if verb == "GET":
                response = await self._client.get(path, params=urlencode(form))
            else:
                headers = {"Content-Type": "application/x-www-form-urlencoded"}
                if idempotency_key:
                    headers["Idempotency-Key"] = idempotency_key
                # Encoded here so the parameters keep their order: a retry then sends the same bytes.
                response = await self._client.post(path, content=urlencode(form), headers=headers)
        except httpx.HTTPError as exc:
            raise ProviderError(f"card: {type(exc).__name__}: {exc}", retryable=True) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_success and isinstance(body, dict):
            return body
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        code = error.get("code") or error.get("type")
        retryable = response.status_code == 429 or response.status_code >= 500
        message = f"card: {verb} {path}: {response.status_code} {code or ''} {error.get('message', '')}"
        raise ProviderError(message.strip(), retryable=retryable, code=str(code) if code else None)


def checkout_form(order: PaymentOrder, return_url: str, now: float) -> list[tuple[str, str]]:
    """The Checkout Session's parameters, in Stripe's bracketed form encoding."""
    price = "line_items[0][price_data]"
    return [
        ("mode", "payment"),
        (f"{price}[currency]", order.currency.lower()),
        (f"{price}[unit_amount]", str(order.amount_cents)),
        (f"{price}[product_data][name]", order.description),
        ("line_items[0][quantity]", "1"),
        ("client_reference_id", order.out_trade_no),
        ("metadata[out_trade_no]", order.out_trade_no),
        ("payment_intent_data[metadata][out_trade_no]", order.out_trade_no),
        ("success_url", with_query(return_url, checkout="success")),
        ("cancel_url", with_query(return_url, checkout="cancel")),
        ("expires_at", str(session_expiry(order.expires_at.timestamp(), now))),
    ]


def session_expiry(wanted: float, now: float) -> int:
    """``wanted`` clamped into Stripe's window; a clamped value is rounded so that retries agree."""
    earliest = now + MIN_SESSION_SECONDS + EXPIRY_MARGIN_SECONDS
    latest = now + MAX_SESSION_SECONDS - EXPIRY_MARGIN_SECONDS
    if wanted < earliest:
        return math.ceil(earliest / EXPIRY_ROUNDING_SECONDS) * EXPIRY_ROUNDING_SECONDS
    if wanted > latest:
        return math.floor(latest / EXPIRY_ROUNDING_SECONDS) * EXPIRY_ROUNDING_SECONDS
    return int(wanted)


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Stripe's v1 scheme: hex HMAC-SHA256 of ``t.body`` keyed by the signing secret."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def check_signature(header: str | None, body: bytes, secrets: tuple[str, ...]) -> int:
    """The header's timestamp, once a v1 in it matches one of ``secrets``; else ``NotifyRejected``."""
    if not header:
        raise NotifyRejected("bad_signature", "no Stripe-Signature header")
    timestamp: str | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and timestamp is None:
            timestamp = value
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not timestamp.isascii() or not timestamp.isdigit():
        raise NotifyRejected("malformed", "Stripe-Signature without a timestamp")
    if len(timestamp) > MAX_TIMESTAMP_DIGITS:
        raise NotifyRejected("stale_timestamp", "timestamp out of any range")
    if not candidates:
        raise NotifyRejected("bad_signature", "no v1 signature")
    expected = [signature(secret, int(timestamp), body) for secret in secrets]
    # Every pair is compared, so the time taken says nothing about which one came close.
    matched = False
    for candidate in candidates:
        for wanted in expected:
            matched |= hmac.compare_digest(wanted.encode(), candidate.encode("utf-8", "replace"))
    if not matched:
        raise NotifyRejected("bad_signature", "no v1 signature matches")
    return int(timestamp)


def _most_telling(intents: list[dict[str, Any]]) -> dict[str, Any]:
    """A succeeded PaymentIntent if there is one, else the newest."""
    for intent in intents:
        if intent.get("status") == "succeeded":
            return intent
    return max(intents, key=lambda pi: created if isinstance(created := pi.get("created"), int) else 0)


def _shown(value: Any) -> str:
    """A value from a notify, for a log line: short, and never the text of something huge."""
    return value[:80] if isinstance(value, str) else type(value).__name__


def _text(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise NotifyRejected("malformed", f"no {key}")
    return value


def _amount(obj: Mapping[str, Any], key: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise NotifyRejected("malformed", f"{key} is not an amount in fen")
    return value


def _currency(obj: Mapping[str, Any]) -> str:
    value = obj.get("currency")
    if not isinstance(value, str):
        raise NotifyRejected("malformed", "no currency")
    if value.upper() not in SUPPORTED_CURRENCIES:
        raise NotifyRejected("unsupported_currency", value[:8])
    return value.upper()


def _created(event: Mapping[str, Any]) -> datetime | None:
    created = event.get("created")
    if isinstance(created, bool) or not isinstance(created, int) or not 0 <= created < 2**33:
        return None
    return datetime.fromtimestamp(created, UTC)
