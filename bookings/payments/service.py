"""The payment use cases of one process: start a payment with a provider, apply its notifies,
list a booking's payments. Each is one transaction; dispatch starts after a commit that paid."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import asyncpg

from bookings import orders
from bookings.orders import Booking
from bookings.payments import paying
from bookings.payments.config import PaymentsConfig
from bookings.payments.paying import Outcome, PaymentView
from bookings.payments.providers.base import (
    Answer,
    NoticeStatus,
    NotifyRejected,
    NotifyRequest,
    PaymentOrder,
    PaymentProvider,
    ProviderError,
)
from bookings.storage import payments as payment_store
from hub.errors import Conflict, InvalidPayload, NotFound, Unavailable
from hub.storage.db import Conn

log = logging.getLogger(__name__)

PROVIDER_RETRY_AFTER_SECONDS = 5.0
UNSUPPORTED_EVENT = "unsupported_event"  # NotifyRejected's reason for a genuine notify of no interest


class Payments:
    def __init__(
        self,
        pool: asyncpg.Pool,
        config: PaymentsConfig,
        providers: Mapping[str, PaymentProvider],
        on_paid: Callable[[Booking], None],
    ) -> None:
        self.pool = pool
        self.config = config
        self.providers = providers
        self._on_paid = on_paid

    def provider(self, method: str) -> PaymentProvider:
        provider = self.providers.get(method)
        if provider is None:
            configured = sorted(self.providers) or ["none"]
            raise InvalidPayload(
                f"payment method {method!r} is not configured on this hub "
                f"(configured: {', '.join(configured)})",
                code="payment_method_unavailable",
                details=[{"loc": ["body", "method"], "message": "not configured"}],
            )
        return provider

    async def start(
        self,
        conn: Conn,
        customer_id: str,
        booking_id: uuid.UUID,
        method: str,
        channel: str,
        *,
        return_url: str | None = None,
        payer: Mapping[str, str] | None = None,
    ) -> PaymentView:
        """A payment of the customer's unpaid booking, prepared with the provider, in the caller's
        transaction: if the provider refuses, nothing is kept."""
        provider = self.provider(method)
        booking = await orders.get(conn, booking_id)
        if booking is None:
            raise NotFound("no such booking", code="booking_not_found")
        row = await paying.start(conn, booking, customer_id, method, channel)
        order = PaymentOrder(
            out_trade_no=row["out_trade_no"],
            amount_cents=row["amount_cents"],
            currency=row["currency"],
            description=f"{booking.service.name_zh} / {booking.service.name_en}"[:127],
            channel=channel,
            notify_url=self.config.notify_url(method),
            expires_at=row["expires_at"],
            return_url=return_url,
            payer=dict(payer or {}),
        )
        try:
            prepared = await provider.prepare(order)
        except ProviderError as exc:
            log.warning("payment %s: %s refused to prepare it: %s", row["out_trade_no"], method, exc)
            if exc.retryable:
                raise Unavailable(
                    f"{method} did not answer; try again",
                    retry_after_seconds=PROVIDER_RETRY_AFTER_SECONDS,
                    code="payment_provider_unavailable",
                ) from None
            raise Conflict(
                f"{method} refused the payment", code="payment_refused", details={"provider_code": exc.code}
            ) from None
        await paying.prepared(conn, row["id"], prepared)
        found = await payment_store.get(conn, row["id"])
        assert found is not None
        return paying.view(found)

    async def notify(self, method: str, request: NotifyRequest) -> Answer:
        """A provider's notify: verified before anything is read or locked, applied once."""
        provider = self.providers.get(method)
        if provider is None:
            raise NotFound(f"no payment provider {method!r} on this hub", code="payment_method_unavailable")
        try:
            notice = provider.verify_notify(request)
        except NotifyRejected as exc:
            if exc.reason == UNSUPPORTED_EVENT:
                # Genuine, about something the hub does not act on (an unpaid-trade notice): a
                # refusal would only make the provider send it again for a day.
                log.info("%s notify ignored: %s", method, exc)
                return provider.accepted()
            log.warning("%s notify rejected: %s", method, exc)
            return provider.refused(exc.reason)
        async with self.pool.acquire() as conn, conn.transaction():
            applied = await paying.apply(conn, method, notice)
            outcome = applied.outcome.value + (f":{applied.reason}" if applied.reason else "")
            await payment_store.record_notice(conn, method, notice.out_trade_no, outcome, dict(notice.raw))
        if applied.outcome == Outcome.REFUSED:
            log.warning("%s notify for %s refused: %s", method, notice.out_trade_no, applied.reason)
            return provider.refused(applied.reason)
        if applied.unpayable is not None:
            log.warning(
                "%s payment %s arrived for a booking that cannot take it (%s): held to be refunded",
                method,
                notice.out_trade_no,
                applied.unpayable,
            )
        if applied.paid is not None:
            self._on_paid(applied.paid)
        return provider.accepted()

    async def ask_about_unanswered(self) -> int:
        """Ask the providers about payments whose notify is late (lost, or the hub was down when
        it came); apply what they say. How many were asked."""
        rows = await payment_store.unanswered(self.pool, self.config.query_after_seconds)
        for row in rows:
            await self._ask(row)
        return len(rows)

    async def ask_before_expiry(self, booking_id: uuid.UUID) -> None:
        """Before an unpaid booking expires: was it paid after all, with no word yet?"""
        for row in await payment_store.pending_of(self.pool, booking_id):
            await self._ask(row)

    async def _ask(self, row: asyncpg.Record) -> None:
        provider = self.providers.get(row["method"])
        if provider is None:
            return  # the provider was unconfigured since: its payments wait for a notify
        await payment_store.mark_queried(self.pool, row["id"])
        try:
            notice = await provider.query(row["out_trade_no"])
        except ProviderError as exc:
            log.warning("asking %s about payment %s failed: %s", row["method"], row["out_trade_no"], exc)
            return
        if notice.status == NoticeStatus.PENDING:
            return
        async with self.pool.acquire() as conn, conn.transaction():
            applied = await paying.apply(conn, row["method"], notice)
            outcome = f"queried:{applied.outcome.value}" + (f":{applied.reason}" if applied.reason else "")
            await payment_store.record_notice(
                conn, row["method"], notice.out_trade_no, outcome, dict(notice.raw)
            )
        if applied.paid is not None:
            log.info("payment %s was found paid by asking %s", row["out_trade_no"], row["method"])
            self._on_paid(applied.paid)

    async def for_booking(self, booking_id: uuid.UUID) -> list[PaymentView]:
        return [paying.view(row) for row in await payment_store.for_booking(self.pool, booking_id)]

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()


def notify_request(headers: Mapping[str, str], body: bytes, received_at: Any) -> NotifyRequest:
    return NotifyRequest(
        headers={k.lower(): v for k, v in headers.items()}, body=body, received_at=received_at
    )
