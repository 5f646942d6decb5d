"""What every payment provider offers the hub: prepare a payment, verify a notify, query an order,
refund. Amounts are integer fen (cents) everywhere; a provider converts at its edge (Alipay speaks
yuan strings). Every notify is hostile until ``verify_notify`` returns: it raises ``NotifyRejected``
with a reason for anything that is not exactly what the provider's documentation says it sends.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import httpx

# Connect and read timeouts for calls to a provider.
HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class Method(enum.StrEnum):
    WECHAT = "wechat"
    ALIPAY = "alipay"
    CARD = "card"


class NoticeKind(enum.StrEnum):
    PAYMENT = "payment"
    REFUND = "refund"


class NoticeStatus(enum.StrEnum):
    SUCCEEDED = "succeeded"  # paid (WeChat SUCCESS, Alipay TRADE_SUCCESS/TRADE_FINISHED, card paid)
    FAILED = "failed"  # the payer's attempt failed (card declined, WeChat PAYERROR) or the refund failed
    CLOSED = "closed"  # the order can no longer be paid (closed, expired, revoked)
    PENDING = "pending"  # not paid yet (only from ``query``)


@dataclass(frozen=True, slots=True)
class PaymentOrder:
    """What the hub asks a provider to collect. ``out_trade_no`` is the hub's payment id: unique per
    payment attempt, 6-32 characters of ``[A-Za-z0-9_-]`` (the strictest of the three providers)."""

    out_trade_no: str
    amount_cents: int
    currency: str  # "CNY"
    description: str  # shown to the payer; at most 127 characters
    channel: str  # wechat: "jsapi" | "app" | "h5"; alipay: "page" | "wap" | "app"; card: "hosted"
    notify_url: str  # where the provider sends its notify (the hub's route for this provider)
    expires_at: datetime  # after this the order cannot be paid
    return_url: str | None = None  # where the payer's browser goes afterwards (alipay page/wap, card)
    payer: Mapping[str, str] = field(default_factory=dict)  # e.g. {"openid": ...} for WeChat JSAPI,
    # {"client_ip": ...} for WeChat H5


@dataclass(frozen=True, slots=True)
class Prepared:
    """What the client needs to pay: handed to the app as is."""

    provider_ref: str | None  # prepay_id (WeChat), none yet (Alipay), checkout session id (card)
    client: dict[str, Any]  # e.g. WeChat JSAPI's signed parameters, Alipay's order string or page
    # URL, the card provider's hosted page URL


@dataclass(frozen=True, slots=True)
class Notice:
    """A verified word from the provider: about a payment, or about a refund."""

    kind: NoticeKind
    status: NoticeStatus
    out_trade_no: str
    provider_ref: str  # the provider's id of the payment (transaction_id, trade_no, payment intent)
    amount_cents: int  # the payment's total (payment) or the refund's amount (refund)
    currency: str
    merchant: str  # mchid / app_id / account the notify is addressed to: checked against ours
    out_refund_no: str | None = None  # for a refund
    occurred_at: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)  # the decrypted/decoded payload, for the record


@dataclass(frozen=True, slots=True)
class NotifyRequest:
    """A notify as it arrived over HTTP: nothing in it is trusted yet."""

    headers: Mapping[str, str]  # case-insensitive lookups are the caller's job: keys are lower-case
    body: bytes
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Answer:
    """The HTTP answer a provider expects to a notify (it retries until it gets the success one)."""

    status: int
    body: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class RefundOrder:
    out_trade_no: str
    provider_ref: str  # the payment's id at the provider
    out_refund_no: str  # the hub's refund id: idempotency key at the provider too
    refund_cents: int
    total_cents: int  # the payment's total (WeChat requires it)
    currency: str
    reason: str
    notify_url: str


class RefundStatus(enum.StrEnum):
    PROCESSING = "processing"  # accepted; the notify (or a query) tells the outcome
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RefundResult:
    status: RefundStatus
    provider_refund_id: str | None = None
    error: str | None = None


class NotifyRejected(Exception):
    """The notify is not genuine or not acceptable; ``reason`` is a short code for logs and tests
    (``bad_signature``, ``stale_timestamp``, ``unknown_serial``, ``wrong_merchant``, ``malformed``,
    ``decrypt_failed``, ...). Nothing may change because of a rejected notify.

    ``unsupported_event`` is raised only for a notify already authenticated (signature checked):
    genuine, but about nothing the hub acts on, so the hub acknowledges it to stop the retries."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class ProviderError(Exception):
    """A call to the provider failed: ``retryable`` for network errors, 429 and 5xx."""

    def __init__(self, message: str, *, retryable: bool, code: str | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code


class PaymentProvider(Protocol):
    method: Method

    async def prepare(self, order: PaymentOrder) -> Prepared:
        """Create the order at the provider (WeChat prepay, card checkout session) or sign what the
        client sends (Alipay); raises ``ProviderError``."""
        ...

    def verify_notify(self, request: NotifyRequest) -> Notice:
        """Check the signature, freshness and addressing of a notify and decode it; raises
        ``NotifyRejected``. Pure: no I/O, so it can run before any lock or transaction."""
        ...

    def accepted(self) -> Answer:
        """The answer that stops the provider's retries (WeChat 204, Alipay ``success``, card 200)."""
        ...

    def refused(self, reason: str) -> Answer:
        """The answer to a notify that was rejected or could not be handled now (the provider retries)."""
        ...

    async def query(self, out_trade_no: str) -> Notice:
        """Ask the provider about a payment whose notify never came; ``status`` PENDING if unpaid."""
        ...

    async def refund(self, order: RefundOrder) -> RefundResult:
        """Ask for a refund; idempotent at the provider by ``out_refund_no``."""
        ...

    async def aclose(self) -> None: ...
