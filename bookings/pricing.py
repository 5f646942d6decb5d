"""Quotes: unit price x duration, surcharges, discounts, total; and the worker's pay.

All amounts are integer cents (fen); each percentage is rounded half up once, per line.
"""

from __future__ import annotations

import math
from datetime import datetime

import pydantic

from bookings.storage.catalog import ServiceRecord

WEEKEND_SURCHARGE_PCT = 10  # Saturday and Sunday, local time
SHORT_NOTICE_HOURS = 24  # a slot starting sooner than this...
SHORT_NOTICE_SURCHARGE_PCT = 15  # ...costs this much more
CHOSEN_WORKER_FEE_CENTS = 1000  # asking for one particular worker
LONG_JOB_MINUTES = 360  # hourly jobs billed this long or longer...
LONG_JOB_DISCOUNT_PCT = 5  # ...get this discount
FIRST_BOOKING_DISCOUNT_PCT = 10  # a customer's first booking
FIRST_BOOKING_DISCOUNT_CAP_CENTS = 3000


class PriceLine(pydantic.BaseModel):
    code: str
    label: str
    amount_cents: int  # negative for a discount


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
) -> Quote:
    billed = max(duration_minutes, service.min_minutes) if service.pricing == "hourly" else duration_minutes
    base = base_cents(service.pricing, service.unit_price_cents, service.min_minutes, duration_minutes)
    surcharges: list[PriceLine] = []
    if local_start.weekday() >= 5:
        surcharges.append(
            PriceLine(code="weekend", label="Weekend", amount_cents=percent(base, WEEKEND_SURCHARGE_PCT))
        )
    if (local_start - now).total_seconds() < SHORT_NOTICE_HOURS * 3600:
        surcharges.append(
            PriceLine(
                code="short_notice",
                label=f"Less than {SHORT_NOTICE_HOURS} h notice",
                amount_cents=percent(base, SHORT_NOTICE_SURCHARGE_PCT),
            )
        )
    if chosen_worker:
        surcharges.append(
            PriceLine(code="chosen_worker", label="Chosen worker", amount_cents=CHOSEN_WORKER_FEE_CENTS)
        )
    discounts: list[PriceLine] = []
    if service.pricing == "hourly" and billed >= LONG_JOB_MINUTES:
        discounts.append(
            PriceLine(
                code="long_job", label="Long booking", amount_cents=-percent(base, LONG_JOB_DISCOUNT_PCT)
            )
        )
    if first_booking:
        amount = min(percent(base, FIRST_BOOKING_DISCOUNT_PCT), FIRST_BOOKING_DISCOUNT_CAP_CENTS)
        discounts.append(PriceLine(code="first_booking", label="First booking", amount_cents=-amount))
    surcharges_cents = sum(line.amount_cents for line in surcharges)
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
    )
