"""The payment use cases of one process: start a payment with a provider, apply its notifies,
list a booking's payments. Each is one transaction; dispatch starts after a commit that paid."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import asyncpg

from bookings import orders
from bookings.orders import Actor, Booking
from bookings.payments import paying, refunding
from bookings.payments.config import PaymentsConfig
from bookings.payments.paying import Outcome, PaymentView
from bookings.payments.providers.base import (
    Answer,
    NoticeKind,
    NoticeStatus,
    NotifyRejected,
    NotifyRequest,
    PaymentOrder,
    PaymentProvider,
    ProviderError,
    RefundOrder,
    RefundResult,
    RefundStatus,
)
from bookings.payments.refunding import RefundView
from bookings.storage import packages as package_store
from bookings.storage import payments as payment_store
from bookings.storage import refunds as refund_store
from hub.errors import Conflict, InvalidPayload, NotFound, Unavailable
from hub.storage.db import Conn

log = logging.getLogger(__name__)

PROVIDER_RETRY_AFTER_SECONDS = 5.0
REFUND_RETRY_SECONDS = 30.0  # a refund whose provider did not answer is asked for again after this
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
        description = f"{booking.service.name_zh} / {booking.service.name_en}"
        return await self._prepare(conn, provider, row, description, return_url, payer)

    async def start_package(
        self,
        conn: Conn,
        customer_id: str,
        order_id: uuid.UUID,
        method: str,
        channel: str,
        *,
        return_url: str | None = None,
        payer: Mapping[str, str] | None = None,
    ) -> PaymentView:
        """A payment of the customer's unpaid package order: the same path as a booking's."""
        provider = self.provider(method)
        order = await package_store.order(conn, order_id)
        if order is None:
            raise NotFound("no such package order", code="package_order_not_found")
        row = await paying.start_package(conn, order, customer_id, method, channel)
        return await self._prepare(conn, provider, row, order["name"], return_url, payer)

    async def _prepare(
        self,
        conn: Conn,
        provider: PaymentProvider,
        row: asyncpg.Record,
        description: str,
        return_url: str | None,
        payer: Mapping[str, str] | None,
    ) -> PaymentView:
        method, channel = row["method"], row["channel"]
        order = PaymentOrder(
            out_trade_no=row["out_trade_no"],
            amount_cents=row["amount_cents"],
            currency=row["currency"],
            description=description[:127],
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
        if notice.kind == NoticeKind.REFUND:
            async with self.pool.acquire() as conn, conn.transaction():
                outcome = await refunding.apply_notice(conn, method, notice)
                await payment_store.record_notice(
                    conn, method, notice.out_trade_no, outcome, dict(notice.raw)
                )
            return provider.accepted()
        async with self.pool.acquire() as conn, conn.transaction():
            applied = await paying.apply(conn, method, notice)
            outcome = applied.outcome.value + (f":{applied.reason}" if applied.reason else "")
            await payment_store.record_notice(conn, method, notice.out_trade_no, outcome, dict(notice.raw))
        if applied.outcome == Outcome.REFUSED:
            log.warning("%s notify for %s refused: %s", method, notice.out_trade_no, applied.reason)
            return provider.refused(applied.reason)
        await self._after(applied, notice.out_trade_no)
        return provider.accepted()

    async def _after(self, applied: paying.Applied, out_trade_no: str) -> None:
        """After the commit that applied a payment notice: dispatch, or give unwanted money back."""
        if applied.paid is not None:
            self._on_paid(applied.paid)
        if applied.unpayable is not None and applied.payment_id and applied.booking_id:
            log.warning(
                "payment %s arrived for a booking that cannot take it (%s): refunding it",
                out_trade_no,
                applied.unpayable,
            )
            await self.refund_payment(applied.booking_id, applied.payment_id, "paid after the booking closed")

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
        await self._after(applied, row["out_trade_no"])

    # Refunds ---------------------------------------------------------------------------------

    async def refund_in(
        self,
        conn: Conn,
        booking_id: uuid.UUID,
        amount: int | None,
        reason: str,
        actor: Actor,
        payment_id: uuid.UUID | None = None,
    ) -> asyncpg.Record:
        """Ask for a refund (of ``payment_id``, or of the newest payment with something left) in the
        caller's transaction; send it with ``send_refund`` after the commit."""
        booking = await orders.require(conn, booking_id)
        return await refunding.ask(conn, booking, amount, reason, actor, payment_id)

    async def refund_payment(self, booking_id: uuid.UUID, payment_id: uuid.UUID, reason: str) -> None:
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                booking = await orders.require(conn, booking_id)
                row = await refunding.ask(conn, booking, None, reason, Actor.system(), payment_id)
        except Conflict as exc:
            log.info("no refund of payment %s: %s", payment_id, exc.code)
            return
        await self.send_refund(row["id"])

    async def send_refund(self, refund_id: uuid.UUID) -> None:
        """Ask the provider for a recorded refund (again: the refund number makes it the same one)."""
        row = await refund_store.get(self.pool, refund_id)
        if row is None or row["status"] != "requested":
            return
        payment = await payment_store.get(self.pool, row["payment_id"])
        assert payment is not None  # a refund row references its payment
        if payment["method"] == paying.MANUAL:  # money received by hand goes back by hand
            async with self.pool.acquire() as conn, conn.transaction():
                await refunding.settle(conn, refund_id, succeeded=True)
            return
        provider = self.providers.get(payment["method"])
        if provider is None:
            await refund_store.count_attempt(self.pool, refund_id, "provider_not_configured")
            return
        order = RefundOrder(
            out_trade_no=payment["out_trade_no"],
            provider_ref=payment["provider_ref"] or "",
            out_refund_no=row["out_refund_no"],
            refund_cents=row["amount_cents"],
            total_cents=payment["amount_cents"],
            currency=payment["currency"],
            reason=row["reason"][:80] or "refund",
            notify_url=self.config.notify_url(payment["method"]),
        )
        try:
            result = await provider.refund(order)
        except ProviderError as exc:
            if exc.retryable:
                log.warning(
                    "refund %s: %s did not answer (%s); asked again later",
                    row["out_refund_no"],
                    payment["method"],
                    exc,
                )
                await refund_store.count_attempt(self.pool, refund_id, f"retrying: {exc}")
                return
            result = RefundResult(RefundStatus.FAILED, error=exc.code or str(exc))
        async with self.pool.acquire() as conn, conn.transaction():
            if result.status == RefundStatus.PROCESSING:
                await refunding.processing(conn, refund_id, result.provider_refund_id)
            else:
                await refunding.settle(
                    conn,
                    refund_id,
                    succeeded=result.status == RefundStatus.SUCCEEDED,
                    provider_refund_id=result.provider_refund_id,
                    failure=result.error,
                )

    async def send_unsent_refunds(self) -> None:
        """The sweep: refunds whose provider was not reached are asked for again."""
        for row in await refund_store.unsent(self.pool, REFUND_RETRY_SECONDS):
            await self.send_refund(row["id"])

    async def refunds_of(self, booking_id: uuid.UUID) -> list[RefundView]:
        return [refunding.view(row) for row in await refund_store.for_booking(self.pool, booking_id)]

    async def for_booking(self, booking_id: uuid.UUID) -> list[PaymentView]:
        return [paying.view(row) for row in await payment_store.for_booking(self.pool, booking_id)]

    async def for_package_order(self, order_id: uuid.UUID) -> list[PaymentView]:
        return [paying.view(row) for row in await payment_store.for_package_order(self.pool, order_id)]

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()


def notify_request(headers: Mapping[str, str], body: bytes, received_at: Any) -> NotifyRequest:
    return NotifyRequest(
        headers={k.lower(): v for k, v in headers.items()}, body=body, received_at=received_at
    )
