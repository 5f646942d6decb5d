"""The platform's commission: a rate an admin sets, fixed on each booking when it completes.

The worker's pay is the price before discounts (the platform pays for its own promotions) less
the commission rate in force at completion, rounded half up to the fen. The rate is fixed on the
booking with the pay, so changing it later never changes what a past booking earned. The default
is ``HUB_COMMISSION_PCT``; an admin's change is a row in ``system_settings``, read afresh at each
completion (no cache: the booking must carry the rate that was in force when it completed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field, StrictInt

from bookings.storage import settings as store
from hub.acks import Payload
from hub.storage.db import Executor

KEY = "commission"


class CommissionRate(Payload):
    """The share of a booking's price before discounts the platform keeps, in whole percent."""

    rate_pct: Annotated[StrictInt, Field(ge=0, le=100, examples=[20])]


async def current(db: Executor, default_pct: int) -> CommissionRate:
    stored = await store.get(db, KEY)
    rate = stored.get("rate_pct") if isinstance(stored, dict) else None
    if isinstance(rate, int) and 0 <= rate <= 100:
        return CommissionRate(rate_pct=rate)
    return CommissionRate(rate_pct=default_pct)  # unset, or a hand-edited row that makes no sense


async def change(db: Executor, rate: CommissionRate, admin_id: str) -> CommissionRate:
    await store.put(db, KEY, rate.model_dump(mode="json"), admin_id)
    return rate


def gross_cents(price: Mapping[str, Any], total_cents: int) -> int:
    """The booking's price before discounts: base and surcharges (its total plus its discounts
    for a price recorded without them)."""
    base, surcharges = price.get("base_cents"), price.get("surcharges_cents")
    if isinstance(base, int) and isinstance(surcharges, int):
        return max(0, base + surcharges)
    return max(0, total_cents + int(price.get("discounts_cents", 0)))


def worker_pay(gross: int, rate_pct: int) -> int:
    """``gross`` less the commission, rounded half up to the fen."""
    return (gross * (100 - rate_pct) * 2 + 100) // 200
