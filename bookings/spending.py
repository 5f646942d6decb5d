"""A customer's spending history, read from the ledger: every payment (of a booking or a package),
refund and cancellation fee, newest first, with the price breakdown of the bookings they concern
(the discounts: coupons, points, a package visit) and the totals of all time. The ledger is the
truth, so what this shows is what the ledger holds."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pydantic

from bookings.pricing import PriceLine
from bookings.storage import spending as store
from hub import cursors
from hub.cursors import NEXT_CURSOR_DESCRIPTION
from hub.storage.db import Executor
from hub.times import Timestamp


class Movement(pydantic.BaseModel):
    id: uuid.UUID  # the ledger transaction
    kind: str  # payment, refund, cancellation_fee
    amount_cents: int  # paid, given back, or kept: always positive
    method: str | None  # wechat, alipay, card, manual; none for a fee
    booking_id: uuid.UUID | None
    package_order_id: uuid.UUID | None  # a package bought
    at: Timestamp


class BookingSpend(pydantic.BaseModel):
    booking_id: uuid.UUID
    service_id: str
    service_name_en: str
    service_name_zh: str
    status: str
    total_cents: int
    discounts: list[PriceLine]  # coupons, points, a package visit, the catalog's own
    discounts_cents: int


class Totals(pydantic.BaseModel):
    paid_cents: int
    refunded_cents: int
    fees_cents: int  # kept by late cancellations, out of what was paid
    net_cents: int  # paid less refunded


class Spending(pydantic.BaseModel):
    items: list[Movement]
    bookings: list[BookingSpend]  # the bookings the movements of this page concern
    totals: Totals
    next_cursor: str | None = pydantic.Field(description=NEXT_CURSOR_DESCRIPTION)


def _booking(row: Any) -> BookingSpend:
    price = row["price"] if isinstance(row["price"], dict) else {}
    return BookingSpend(
        booking_id=row["id"],
        service_id=row["service_id"],
        service_name_en=row["service_name_en"],
        service_name_zh=row["service_name_zh"],
        status=row["status"],
        total_cents=row["total_cents"],
        discounts=[PriceLine.model_validate(line) for line in price.get("discounts", [])],
        discounts_cents=int(price.get("discounts_cents", 0)),
    )


async def history(db: Executor, customer_id: str, cursor: str | None, limit: int) -> Spending:
    after = cursors.read(cursor, "spending", datetime, uuid.UUID)
    found = [
        Movement.model_validate(dict(row)) for row in await store.movements(db, customer_id, after, limit + 1)
    ]
    items, next_cursor = cursors.page("spending", found, limit, lambda item: (item.at, item.id))
    booking_ids = list(dict.fromkeys(item.booking_id for item in items if item.booking_id is not None))
    rows = await store.bookings(db, customer_id, booking_ids) if booking_ids else []
    total = await store.totals(db, customer_id)
    return Spending(
        items=items,
        bookings=[_booking(row) for row in rows],
        totals=Totals(
            paid_cents=total["paid_cents"],
            refunded_cents=total["refunded_cents"],
            fees_cents=total["fees_cents"],
            net_cents=total["paid_cents"] - total["refunded_cents"],
        ),
        next_cursor=next_cursor,
    )
