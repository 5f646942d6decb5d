"""What a worker earned: per completed booking, totals per local day, ISO week or month, and
their balance (what they are owed, what is on its way to them, what no statement counted yet).

Dates are local dates in the booking time zone: a job finished at 23:30 in Shanghai counts on that
Shanghai day, whatever the UTC date.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import asyncpg
import pydantic
from pydantic import Field

from bookings.payments import money
from bookings.settlement import periods
from bookings.storage import earnings as store
from bookings.storage import payouts as payout_store
from hub import cursors
from hub.acks import Payload
from hub.cursors import NEXT_CURSOR_DESCRIPTION, CursorParam
from hub.errors import InvalidPayload
from hub.storage.db import Executor
from hub.times import Timestamp

MAX_DAYS = 400  # the widest range one answer covers
Unit = Literal["day", "week", "month"]


class IncomeQuery(Payload):
    start: Annotated[dt.date | None, Field(alias="from")] = None
    to: dt.date | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 100
    cursor: CursorParam | None = None

    model_config = {**Payload.model_config, "populate_by_name": True}


class SummaryQuery(Payload):
    period: Unit = "day"
    start: Annotated[dt.date | None, Field(alias="from")] = None
    to: dt.date | None = None

    model_config = {**Payload.model_config, "populate_by_name": True}


class IncomeItem(pydantic.BaseModel):
    booking_id: uuid.UUID
    service_id: str
    service_name_en: str
    service_name_zh: str
    slot_start: Timestamp
    finished_at: Timestamp
    completed_on: date  # local date
    gross_cents: int  # the price before discounts
    commission_pct: int  # fixed when the booking completed
    commission_cents: int
    earned_cents: int  # the worker's pay: gross less commission
    settled: bool  # counted on a settlement statement


class Totals(pydantic.BaseModel):
    bookings: int = 0
    gross_cents: int = 0
    commission_cents: int = 0
    earned_cents: int = 0


class IncomeList(pydantic.BaseModel):
    first_day: date
    last_day: date
    timezone: str
    items: list[IncomeItem]
    next_cursor: str | None = pydantic.Field(description=NEXT_CURSOR_DESCRIPTION)
    totals: Totals  # of the whole range, whatever the page


class IncomeBucket(Totals):
    period: str  # 2026-11-30, 2026-W49, 2026-11
    first_day: date
    last_day: date


class IncomeSummary(pydantic.BaseModel):
    period: Unit
    first_day: date
    last_day: date
    timezone: str
    buckets: list[IncomeBucket]  # every day, week or month of the range, oldest first
    totals: Totals


class Balance(pydantic.BaseModel):
    owed_cents: int  # earned and not yet paid out
    in_flight_cents: int  # payouts requested or approved, not yet paid: set aside
    available_cents: int  # what a payout request may ask for: owed less in flight
    pending_settlement_cents: int  # earned in bookings no statement has counted yet


def local_range(first: date | None, last: date | None, today: date, default_days: int) -> tuple[date, date]:
    last = last or today
    first = first or last - timedelta(days=default_days - 1)
    if last < first or (last - first).days >= MAX_DAYS:
        raise InvalidPayload(
            f"'to' must be on or after 'from', at most {MAX_DAYS} days",
            code="invalid_range",
            details=[{"loc": ["query", "to"], "message": "out of range"}],
        )
    return first, last


def widen(unit: Unit, first: date, last: date) -> tuple[date, date]:
    """To whole weeks (Monday to Sunday) or months."""
    if unit == "week":
        return periods.week_of(first).first, periods.week_of(last).last
    if unit == "month":
        return periods.month_of(first).first, periods.month_of(last).last
    return first, last


async def listing(
    db: Executor, worker_id: str, timezone: str, first: date, last: date, limit: int, cursor: str | None
) -> IncomeList:
    start, end = periods.local_midnight(first, timezone), periods.local_midnight(last, timezone)
    end += timedelta(days=1)
    zone = ZoneInfo(timezone)
    offset = cursors.offset(cursor, "income")
    items = [
        IncomeItem(
            **{k: v for k, v in dict(row).items() if k != "statement_id"},
            completed_on=row["finished_at"].astimezone(zone).date(),
            settled=row["statement_id"] is not None,
        )
        for row in await store.completed(db, worker_id, start, end, limit + 1, offset)
    ]
    page, next_cursor = cursors.offset_page("income", items, limit, offset)
    rows = await store.totals(db, worker_id, "month", timezone, start, end)
    return IncomeList(
        first_day=first,
        last_day=last,
        timezone=timezone,
        items=page,
        next_cursor=next_cursor,
        totals=_sum(rows),
    )


async def summary(
    db: Executor, worker_id: str, timezone: str, unit: Unit, first: date, last: date
) -> IncomeSummary:
    first, last = widen(unit, first, last)
    start = periods.local_midnight(first, timezone)
    end = periods.local_midnight(last + timedelta(days=1), timezone)
    found = {row["starts_on"]: row for row in await store.totals(db, worker_id, unit, timezone, start, end)}
    buckets = []
    day = first
    while day <= last:
        key, span_first, span_last = _span(unit, day)
        row = found.get(day)
        totals = _sum([] if row is None else [row])
        buckets.append(IncomeBucket(period=key, first_day=span_first, last_day=span_last, **dict(totals)))
        day = span_last + timedelta(days=1)
    return IncomeSummary(
        period=unit,
        first_day=first,
        last_day=last,
        timezone=timezone,
        buckets=buckets,
        totals=_sum(list(found.values())),
    )


async def balance(db: Executor, worker_id: str) -> Balance:
    available = await money.owed(db, worker_id)
    in_flight = await payout_store.in_flight(db, worker_id)
    return Balance(
        owed_cents=available + in_flight,
        in_flight_cents=in_flight,
        available_cents=available,
        pending_settlement_cents=await store.unsettled(db, worker_id),
    )


def _span(unit: Unit, day: date) -> tuple[str, date, date]:
    """The label, first and last day of the bucket starting on ``day``."""
    if unit == "day":
        return day.isoformat(), day, day
    found = periods.week_of(day) if unit == "week" else periods.month_of(day)
    return found.key, found.first, found.last


def _sum(rows: Sequence[asyncpg.Record]) -> Totals:
    return Totals(**{name: sum(int(row[name]) for row in rows) for name in Totals.model_fields})
