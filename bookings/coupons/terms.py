"""The rules of one coupon, without the database: what it takes off a price, and whether it
applies to a booking (its window, its services and categories, its minimum spend)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from bookings.pricing import percent
from bookings.storage.catalog import ServiceRecord

Row = Mapping[str, Any] | asyncpg.Record  # a coupon's terms, as a wallet row holds them


def discount(terms: Row, spend_cents: int) -> int:
    """What the coupon takes off a price of ``spend_cents``: its amount, or its percentage (rounded
    half up) up to its cap; never more than the price, and nothing below its minimum spend."""
    if spend_cents < terms["min_spend_cents"]:
        return 0
    if terms["kind"] == "fixed":
        off = int(terms["amount_cents"])
    else:
        off = min(percent(spend_cents, int(terms["percent"])), int(terms["max_discount_cents"]))
    return max(0, min(off, spend_cents))


def covers(terms: Row, service: ServiceRecord) -> bool:
    """Whether the coupon is for this service: named, its category named, or nothing named."""
    services, categories = terms["service_ids"], terms["category_ids"]
    if not services and not categories:
        return True
    return service.id in services or service.category_id in categories


def why_not(terms: Row, state: str, service: ServiceRecord, spend_cents: int, now: datetime) -> str | None:
    """Why a coupon of the wallet cannot price this booking, or None if it can."""
    if state == "used":
        return "used"
    if now >= terms["valid_until"]:
        return "expired"
    if now < terms["valid_from"]:
        return "not_yet_valid"
    if not covers(terms, service):
        return "not_for_this_service"
    if spend_cents < terms["min_spend_cents"]:
        return "below_min_spend"
    return None


@dataclass(frozen=True, slots=True)
class HeldCoupon:
    """A coupon of the wallet as a quote applies it (``bookings.pricing.Coupon``)."""

    id: uuid.UUID
    label: str
    row: Row

    def discount_on(self, spend_cents: int) -> int:
        return discount(self.row, spend_cents)


def held(row: Row) -> HeldCoupon:
    return HeldCoupon(id=row["id"], label=f"Coupon {row['code']}", row=row)
