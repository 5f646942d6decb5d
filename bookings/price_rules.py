"""Price rules an admin can change at run time: the surcharges and discounts of every quote.

The defaults are the prices the hub always had. An admin's change is a row in ``system_settings``
(key ``pricing``) and reaches every node within ``CACHE_SECONDS``. A booking keeps the breakdown it
was quoted (``bookings.price``), so a change prices new quotes only.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import pydantic
from pydantic import Field, StrictBool, StrictInt

from bookings.storage import settings as store
from hub.acks import Payload
from hub.storage.db import Executor

KEY = "pricing"
CACHE_SECONDS = 5.0


class PriceRules(Payload):
    weekend_surcharge_pct: StrictInt = pydantic.Field(default=10, ge=0, le=100)  # Saturday, Sunday (local)
    short_notice_hours: StrictInt = pydantic.Field(default=24, ge=0, le=720)  # a slot starting sooner...
    short_notice_surcharge_pct: StrictInt = pydantic.Field(default=15, ge=0, le=100)  # ...costs more
    chosen_worker_fee_cents: StrictInt = pydantic.Field(default=1000, ge=0, le=10_000_000)
    long_job_minutes: StrictInt = pydantic.Field(default=360, ge=1, le=60 * 24 * 60)  # hourly, this long...
    long_job_discount_pct: StrictInt = pydantic.Field(default=5, ge=0, le=100)  # ...gets this off
    first_booking_discount_pct: StrictInt = pydantic.Field(default=10, ge=0, le=100)
    first_booking_discount_cap_cents: StrictInt = pydantic.Field(default=3000, ge=0, le=10_000_000)
    # Off by default: a coupon replaces the first-booking discount, and a quote applies a coupon
    # only when it saves more (the customer keeps a weaker one for later).
    coupon_stacks_with_first_booking: StrictBool = False


DEFAULT_RULES = PriceRules()


def _unchanged() -> Any:
    """Left out means unchanged; null is refused (the field's type does not admit it)."""
    return pydantic.Field(default=None)


class PriceRulesUpdate(Payload):
    """A partial change: fields left out keep their value; null is refused."""

    weekend_surcharge_pct: Annotated[StrictInt, Field(ge=0, le=100)] = _unchanged()
    short_notice_hours: Annotated[StrictInt, Field(ge=0, le=720)] = _unchanged()
    short_notice_surcharge_pct: Annotated[StrictInt, Field(ge=0, le=100)] = _unchanged()
    chosen_worker_fee_cents: Annotated[StrictInt, Field(ge=0, le=10_000_000)] = _unchanged()
    long_job_minutes: Annotated[StrictInt, Field(ge=1, le=60 * 24 * 60)] = _unchanged()
    long_job_discount_pct: Annotated[StrictInt, Field(ge=0, le=100)] = _unchanged()
    first_booking_discount_pct: Annotated[StrictInt, Field(ge=0, le=100)] = _unchanged()
    first_booking_discount_cap_cents: Annotated[StrictInt, Field(ge=0, le=10_000_000)] = _unchanged()
    coupon_stacks_with_first_booking: StrictBool = _unchanged()


class PriceRulesCache:
    def __init__(self) -> None:
        self._value: PriceRules | None = None
        self._read_at = 0.0

    async def get(self, conn: Executor) -> PriceRules:
        if self._value is None or time.monotonic() - self._read_at > CACHE_SECONDS:
            self._value = _merge(await store.get(conn, KEY))
            self._read_at = time.monotonic()
        return self._value

    async def update(self, conn: Executor, change: PriceRulesUpdate, admin_id: str) -> PriceRules:
        current = _merge(await store.get(conn, KEY))
        new = PriceRules.model_validate({**current.model_dump(), **change.model_dump(exclude_unset=True)})
        await store.put(conn, KEY, new.model_dump(mode="json"), admin_id)
        self._value, self._read_at = new, time.monotonic()
        return new


def _merge(stored: Any) -> PriceRules:
    if not isinstance(stored, dict):
        return DEFAULT_RULES
    try:
        return PriceRules.model_validate({**DEFAULT_RULES.model_dump(), **stored})
    except pydantic.ValidationError:
        return DEFAULT_RULES  # a hand-edited row must not stop quoting
