"""Quotes: unit price x duration, surcharges, discounts, total; and the worker's pay.

All amounts are integer cents (fen); each percentage is rounded half up once, per line. The
surcharges and discounts are the admin's price rules (``bookings.price_rules``); a coupon from the
customer's wallet is one more discount line, paid for by the platform like the others.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Protocol

import pydantic

from bookings.price_rules import DEFAULT_RULES, PriceRules
from bookings.storage.catalog import ServiceRecord

MIN_TOTAL_CENTS = 1  # a coupon never brings a total below this: a payment is never of nothing


class Coupon(Protocol):
    """A coupon from the customer's wallet, as a quote applies it."""

    @property
    def id(self) -> uuid.UUID: ...  # the wallet's entry

    @property
    def label(self) -> str: ...

    def discount_on(self, spend_cents: int) -> int:
        """What it takes off a price of ``spend_cents`` (before the first-booking discount)."""
        ...


class PriceLine(pydantic.BaseModel):
    code: str
    label: str
    amount_cents: int  # negative for a discount
    coupon_id: uuid.UUID | None = None  # the wallet's coupon, on the coupon line


class Quote(pydantic.BaseModel):
    service_id: str
    pricing: str
    unit_price_cents: int
    duration_minutes: int
    billed_minutes: int
    base_cents: int
    surcharges: list[PriceLine]
    discounts: list[PriceLine]
    surcharges_cents: int
    discounts_cents: int
    total_cents: int
    worker_pay_cents: int
    coupon_id: uuid.UUID | None = None  # the wallet's coupon this price redeems
    currency: str = "CNY"


def percent(amount: int, pct: int) -> int:
    return math.floor(amount * pct / 100 + 0.5)


def base_cents(pricing: str, unit_price_cents: int, min_minutes: int, minutes: int) -> int:
    """The price of ``minutes`` before surcharges and discounts: hourly bills at least
    ``min_minutes``, rounded half up to the cent; fixed is the unit price whatever the duration."""
    if pricing == "fixed":
        return unit_price_cents
    return (unit_price_cents * max(minutes, min_minutes) + 30) // 60


def quote(
    service: ServiceRecord,
    duration_minutes: int,
    local_start: datetime,
    now: datetime,
    *,
    chosen_worker: bool,
    first_booking: bool,
    rules: PriceRules = DEFAULT_RULES,
    coupon: Coupon | None = None,
) -> Quote:
    billed = max(duration_minutes, service.min_minutes) if service.pricing == "hourly" else duration_minutes
    base = base_cents(service.pricing, service.unit_price_cents, service.min_minutes, duration_minutes)
    surcharges: list[PriceLine] = []
    if local_start.weekday() >= 5 and rules.weekend_surcharge_pct:
        surcharges.append(
            PriceLine(
                code="weekend", label="Weekend", amount_cents=percent(base, rules.weekend_surcharge_pct)
            )
        )
    if (
        local_start - now
    ).total_seconds() < rules.short_notice_hours * 3600 and rules.short_notice_surcharge_pct:
        surcharges.append(
            PriceLine(
                code="short_notice",
                label=f"Less than {rules.short_notice_hours} h notice",
                amount_cents=percent(base, rules.short_notice_surcharge_pct),
            )
        )
    if chosen_worker and rules.chosen_worker_fee_cents:
        surcharges.append(
            PriceLine(code="chosen_worker", label="Chosen worker", amount_cents=rules.chosen_worker_fee_cents)
        )
    discounts: list[PriceLine] = []
    if service.pricing == "hourly" and billed >= rules.long_job_minutes and rules.long_job_discount_pct:
        discounts.append(
            PriceLine(
                code="long_job",
                label="Long booking",
                amount_cents=-percent(base, rules.long_job_discount_pct),
            )
        )
    surcharges_cents = sum(line.amount_cents for line in surcharges)
    # What a coupon's minimum spend and percentage are measured on: the price before promotions.
    spend = base + surcharges_cents + sum(line.amount_cents for line in discounts)
    if first_booking and (coupon is None or rules.coupon_stacks_with_first_booking):
        amount = min(percent(base, rules.first_booking_discount_pct), rules.first_booking_discount_cap_cents)
        if amount:
            discounts.append(PriceLine(code="first_booking", label="First booking", amount_cents=-amount))
    applied: uuid.UUID | None = None
    if coupon is not None:
        left = spend + sum(line.amount_cents for line in discounts if line.code != "long_job")
        amount = min(coupon.discount_on(spend), left - MIN_TOTAL_CENTS)
        if amount > 0:
            applied = coupon.id
            discounts.append(
                PriceLine(code="coupon", label=coupon.label, amount_cents=-amount, coupon_id=coupon.id)
            )
    discounts_cents = -sum(line.amount_cents for line in discounts)
    total = max(0, base + surcharges_cents - discounts_cents)
    # The worker's share is of the price before discounts: the platform pays for its promotions.
    pay = percent(base + surcharges_cents, service.worker_share_pct)
    return Quote(
        service_id=service.id,
        pricing=service.pricing,
        unit_price_cents=service.unit_price_cents,
        duration_minutes=duration_minutes,
        billed_minutes=billed,
        base_cents=base,
        surcharges=surcharges,
        discounts=discounts,
        surcharges_cents=surcharges_cents,
        discounts_cents=discounts_cents,
        total_cents=total,
        worker_pay_cents=pay,
        coupon_id=applied,
    )
