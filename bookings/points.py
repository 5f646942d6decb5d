"""Points: earned by completed bookings, spent for a discount on a new one.

The rule (how many points a yuan earns, how many buy a yuan off, and the largest share of a
booking's total points may pay) starts from ``HUB_POINTS_*`` and an admin changes it at run time;
it is kept in ``system_settings`` and read when used, so every node applies a change at once.

Points are not money and never enter the ledger. What they buy is: a ``points`` line among the
booking's discounts, which the platform pays from its promotions at completion like any discount.
Every change of a balance is an entry with a unique reference (``earned:<booking>``,
``redeemed:<booking>``, ``returned:<booking>``, ``compensation:<complaint>``), written in the
transaction of the change it follows, so a resent step never counts twice; spending is a
conditional update of the balance, so two bookings cannot spend the same points.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Any, TypeVar

import pydantic

from bookings.config import PointsDefaults
from bookings.orders import Booking
from bookings.pricing import PriceLine, Quote
from bookings.storage import points as store
from bookings.storage import settings as settings_store
from hub import cursors
from hub.acks import Payload
from hub.cursors import NEXT_CURSOR_DESCRIPTION
from hub.errors import Conflict, InvalidPayload
from hub.storage.db import Conn, Executor
from hub.times import Timestamp

KEY = "points"
Q = TypeVar("Q", bound=Quote)


class PointsRule(Payload):
    earn_per_yuan: int = pydantic.Field(ge=0, le=100, description="points earned per 1 CNY a booking cost")
    points_per_yuan: int = pydantic.Field(ge=1, le=10_000, description="points that buy 1 CNY off")
    max_share_pct: int = pydantic.Field(ge=0, le=90, description="largest share of a total points may pay")


class PointsRuleUpdate(Payload):
    """A partial change: fields left out keep their value."""

    earn_per_yuan: int | None = pydantic.Field(default=None, ge=0, le=100)
    points_per_yuan: int | None = pydantic.Field(default=None, ge=1, le=10_000)
    max_share_pct: int | None = pydantic.Field(default=None, ge=0, le=90)


class PointsEntry(pydantic.BaseModel):
    id: int
    kind: str  # earned, redeemed, returned, compensation (expired and adjusted are reserved)
    points: int  # negative when spent
    booking_id: uuid.UUID | None
    note: str
    at: Timestamp


class PointsHistory(pydantic.BaseModel):
    balance: int
    items: list[PointsEntry]
    next_cursor: str | None = pydantic.Field(description=NEXT_CURSOR_DESCRIPTION)


def _defaults(defaults: PointsDefaults) -> PointsRule:
    return PointsRule(
        earn_per_yuan=defaults.earn_per_yuan,
        points_per_yuan=defaults.points_per_yuan,
        max_share_pct=defaults.max_share_pct,
    )


def _merge(defaults: PointsDefaults, stored: Any) -> PointsRule:
    base = _defaults(defaults)
    if not isinstance(stored, dict):
        return base
    try:
        return PointsRule.model_validate({**base.model_dump(), **stored})
    except pydantic.ValidationError:
        return base  # a hand-edited row must not stop bookings


async def rule(db: Executor, defaults: PointsDefaults) -> PointsRule:
    return _merge(defaults, await settings_store.get(db, KEY))


async def update_rule(
    db: Executor, defaults: PointsDefaults, change: PointsRuleUpdate, admin_id: str
) -> PointsRule:
    current = await rule(db, defaults)
    new = PointsRule.model_validate({**current.model_dump(), **change.model_dump(exclude_none=True)})
    await settings_store.put(db, KEY, new.model_dump(mode="json"), admin_id)
    return new


def _invalid(code: str, message: str, **details: Any) -> InvalidPayload:
    return InvalidPayload(message, code=code, details=[{"loc": ["points"], "message": message, **details}])


def points_step(points_per_yuan: int) -> int:
    """The fewest points that buy a whole number of fen."""
    return points_per_yuan // math.gcd(100, points_per_yuan)


async def discount(conn: Executor, customer_id: str, points: int, quote: Q, current: PointsRule) -> Q:
    """``quote`` with ``points`` spent on it: a ``points`` discount line, never more than
    ``max_share_pct`` of the total before it. Nothing is spent yet (``spend`` does, in the booking's
    transaction)."""
    step = points_step(current.points_per_yuan)
    cap_cents = quote.total_cents * current.max_share_pct // 100
    most = cap_cents * current.points_per_yuan // 100 // step * step
    if points % step:
        raise _invalid("points_not_whole", f"spend points in multiples of {step}", step=step)
    cents = points * 100 // current.points_per_yuan
    if cents > cap_cents:
        raise _invalid(
            "points_exceed_cap",
            f"points may pay at most {current.max_share_pct}% of this booking: {most} points",
            max_points=most,
        )
    have = await store.balance(conn, customer_id)
    if points > have:
        raise Conflict(
            "you do not have that many points", code="points_insufficient", details={"balance": have}
        )
    line = PriceLine(code="points", label=f"{points} points", amount_cents=-cents)
    return quote.model_copy(
        update={
            "discounts": [*quote.discounts, line],
            "discounts_cents": quote.discounts_cents + cents,
            "total_cents": quote.total_cents - cents,
        }
    )


async def spend(conn: Conn, customer_id: str, booking_id: uuid.UUID, points: int) -> None:
    """Take the points a new booking's price counted on, in its transaction; ``points_insufficient``
    (the booking is not made) if another booking spent them first."""
    spent = await store.add_entry(
        conn,
        customer_id=customer_id,
        kind="redeemed",
        points=-points,
        reference=f"redeemed:{booking_id}",
        booking_id=booking_id,
    )
    if not spent:
        have = await store.balance(conn, customer_id)
        raise Conflict(
            "you do not have that many points", code="points_insufficient", details={"balance": have}
        )


async def give_back(conn: Conn, booking: Booking) -> int:
    """The booking was cancelled (or expired) before service: the points it spent come back,
    once. How many."""
    spent = await store.entry(conn, f"redeemed:{booking.id}")
    if spent is None:
        return 0
    back = -int(spent["points"])
    returned = await store.add_entry(
        conn,
        customer_id=booking.customer_id,
        kind="returned",
        points=back,
        reference=f"returned:{booking.id}",
        booking_id=booking.id,
        note="booking cancelled before service",
    )
    return back if returned else 0


async def earn(conn: Conn, booking: Booking, current: PointsRule) -> int:
    """The booking was completed: it earns points on what it cost, once. How many."""
    earned = booking.total_cents * current.earn_per_yuan // 100
    if earned <= 0:
        return 0
    made = await store.add_entry(
        conn,
        customer_id=booking.customer_id,
        kind="earned",
        points=earned,
        reference=f"earned:{booking.id}",
        booking_id=booking.id,
        note=booking.service.name_en,
    )
    return earned if made else 0


async def compensate(
    conn: Conn, customer_id: str, points: int, reference: str, booking_id: uuid.UUID, note: str
) -> bool:
    """Points given to settle a complaint, with the reason the customer reads in their history;
    once per ``reference``. False if they were given before."""
    return await store.add_entry(
        conn,
        customer_id=customer_id,
        kind="compensation",
        points=points,
        reference=reference,
        booking_id=booking_id,
        note=note,
    )


async def history(db: Executor, customer_id: str, cursor: str | None, limit: int) -> PointsHistory:
    after = cursors.read(cursor, "points", datetime, int)
    rows = await store.history(db, customer_id, after, limit + 1)
    found = [PointsEntry.model_validate(dict(row)) for row in rows]
    items, next_cursor = cursors.page("points", found, limit, lambda entry: (entry.at, entry.id))
    return PointsHistory(balance=await store.balance(db, customer_id), items=items, next_cursor=next_cursor)
