"""The service catalog: categories, services with their pricing and durations, keyword search.

A service is priced ``hourly`` (``unit_price_cents`` per hour, billed for at least ``min_minutes``)
or ``fixed`` (``unit_price_cents`` for the job). A booking's duration must lie between the
shortest allowed duration (``GREATEST(min_minutes, step_minutes)``) and ``max_minutes`` in steps of
``step_minutes`` counted from that shortest duration; ``allows_duration`` and
``bookings.storage.catalog.ALLOWS_DURATION_SQL`` say the same thing in Python and in SQL.

Keyword search (``q``) is ``bookings.search``: names, synonyms, keywords, pinyin and near
spellings, matched in memory; each service found says why (``matched``). Without ``q`` the
catalog is read from the database, in catalog order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import time
from typing import Any, Literal

import pydantic

from bookings import pricing
from bookings.storage import catalog as store
from bookings.storage.catalog import Pricing, ServiceRecord
from hub.cursors import NoNextCursor
from hub.storage.db import Executor


class Category(pydantic.BaseModel):
    id: str
    name_en: str
    name_zh: str
    position: int
    service_count: int


class CategoryList(pydantic.BaseModel):
    items: list[Category]
    next_cursor: NoNextCursor


class Price(pydantic.BaseModel):
    """What a customer sees before choosing a duration."""

    pricing: Pricing
    unit_price_cents: int  # per hour when hourly, for the whole job when fixed
    min_minutes: int  # hourly: the shortest duration billed
    from_cents: int  # the lowest total: the shortest allowed duration (or the fixed price)


class Durations(pydantic.BaseModel):
    default_minutes: int
    min_minutes: int  # the shortest bookable duration
    max_minutes: int
    step_minutes: int


class Service(pydantic.BaseModel):
    id: str
    category_id: str
    name_en: str
    name_zh: str
    description_en: str
    description_zh: str
    skill: str  # the worker skill (and skill certificate) it needs
    price: Price
    durations: Durations
    opens_at: str  # "HH:MM" local: a job starts and ends within these hours
    closes_at: str
    worker_share_pct: int


class Matched(pydantic.BaseModel):
    """Why a service answers a keyword search: its best match."""

    by: Literal["name", "category", "synonym", "keyword", "description", "pinyin", "fuzzy"]
    term: str  # the catalog's term that matched (the word taken for a typo)
    query: str  # the part of the query that matched it


class FoundService(Service):
    matched: Matched | None = None  # with a keyword search


class ServiceList(pydantic.BaseModel):
    items: list[FoundService]
    next_cursor: NoNextCursor


def shortest_minutes(min_minutes: int, step_minutes: int) -> int:
    return max(min_minutes, step_minutes)


def allows_duration(min_minutes: int, max_minutes: int, step_minutes: int, minutes: int) -> bool:
    shortest = shortest_minutes(min_minutes, step_minutes)
    return shortest <= minutes <= max_minutes and (minutes - shortest) % step_minutes == 0


def keyword_tokens(q: str | None, limit: int = 8) -> list[str]:
    return [] if q is None else q.split()[:limit]


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")


def service_view(record: ServiceRecord) -> Service:
    return Service(**_service_fields(record))


def found_view(record: ServiceRecord, matched: Matched | None = None) -> FoundService:
    return FoundService(**_service_fields(record), matched=matched)


def _service_fields(record: ServiceRecord) -> dict[str, Any]:
    shortest = shortest_minutes(record.min_minutes, record.step_minutes)
    return dict(
        id=record.id,
        category_id=record.category_id,
        name_en=record.name_en,
        name_zh=record.name_zh,
        description_en=record.description_en,
        description_zh=record.description_zh,
        skill=record.skill,
        price=Price(
            pricing=record.pricing,
            unit_price_cents=record.unit_price_cents,
            min_minutes=record.min_minutes,
            from_cents=pricing.base_cents(
                record.pricing, record.unit_price_cents, record.min_minutes, shortest
            ),
        ),
        durations=Durations(
            default_minutes=record.default_minutes,
            min_minutes=shortest,
            max_minutes=record.max_minutes,
            step_minutes=record.step_minutes,
        ),
        opens_at=_hhmm(record.opens_at),
        closes_at=_hhmm(record.closes_at),
        worker_share_pct=record.worker_share_pct,
    )


async def list_categories(db: Executor) -> list[Category]:
    return [Category(**dict(row)) for row in await store.categories(db)]


async def list_services(
    db: Executor,
    *,
    category: str | None = None,
    duration_minutes: int | None = None,
    skills: Sequence[str] | None = None,
    limit: int = 50,
) -> list[FoundService]:
    """Active services matching every filter, in catalog order."""
    found = await store.search_services(
        db, category=category, duration_minutes=duration_minutes, skills=skills, limit=limit
    )
    return [found_view(record) for record in found]


async def get_service(db: Executor, service_id: str) -> Service | None:
    record = await store.active_service(db, service_id)
    return None if record is None else service_view(record)


async def services_by_ids(
    db: Executor, ids: Sequence[str], *, active_only: bool = False
) -> dict[str, Service]:
    found = await store.services_by_ids(db, ids, active_only=active_only)
    return {record.id: service_view(record) for record in found}


async def skills_for(
    db: Executor, *, category: str | None, service: str | None, duration_minutes: int | None
) -> list[str] | None:
    """The skills of the active services matching these filters (None when there is no filter):
    a worker qualifies for a category or a duration through one of them."""
    if category is None and service is None and duration_minutes is None:
        return None
    return await store.skills_of(db, category=category, service=service, duration_minutes=duration_minutes)
