"""The service catalog: categories, services with their pricing and durations, keyword search.

A service is priced ``hourly`` (``unit_price_cents`` per hour, billed for at least ``min_minutes``)
or ``fixed`` (``unit_price_cents`` for the job). A booking's duration must lie between the
shortest allowed duration (``GREATEST(min_minutes, step_minutes)``) and ``max_minutes`` in steps of
``step_minutes`` counted from that shortest duration; ``allows_duration`` and
``ALLOWS_DURATION_SQL`` say the same thing in Python and in SQL.

Keyword search is substring matching (``ILIKE``), which works for Chinese without a tokenizer:
each whitespace-separated token must occur in a name, description, keyword or category name, in
either language; services whose names hold the tokens rank first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import time
from typing import Any, Literal

import asyncpg
import pydantic

from bookings import pricing
from hub.storage.db import Executor

Pricing = Literal["hourly", "fixed"]
MAX_LIMIT = 100

# Parameter: the service alias is ``s``; ``{minutes}`` is the duration placeholder.
ALLOWS_DURATION_SQL = (
    "({minutes} BETWEEN GREATEST(s.min_minutes, s.step_minutes) AND s.max_minutes"
    " AND ({minutes} - GREATEST(s.min_minutes, s.step_minutes)) % s.step_minutes = 0)"
)


class Category(pydantic.BaseModel):
    id: str
    name_en: str
    name_zh: str
    position: int
    service_count: int


class CategoryList(pydantic.BaseModel):
    categories: list[Category]


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


class ServiceList(pydantic.BaseModel):
    services: list[Service]


def shortest_minutes(min_minutes: int, step_minutes: int) -> int:
    return max(min_minutes, step_minutes)


def allows_duration(min_minutes: int, max_minutes: int, step_minutes: int, minutes: int) -> bool:
    shortest = shortest_minutes(min_minutes, step_minutes)
    return shortest <= minutes <= max_minutes and (minutes - shortest) % step_minutes == 0


def like_pattern(token: str) -> str:
    """``%token%`` with LIKE's wildcards and escape character taken literally."""
    escaped = token.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def keyword_tokens(q: str | None, limit: int = 8) -> list[str]:
    return [] if q is None else q.split()[:limit]


_SERVICE_COLUMNS = """s.id, s.category_id, s.name_en, s.name_zh, s.description_en, s.description_zh,
    s.skill, s.pricing, s.unit_price_cents, s.min_minutes, s.default_minutes, s.max_minutes,
    s.step_minutes, s.opens_at, s.closes_at, s.worker_share_pct"""

_SEARCH_TEXT = (
    "concat_ws(' ', s.name_en, s.name_zh, s.description_en, s.description_zh, s.keywords,"
    " c.name_en, c.name_zh)"
)
_NAME_TEXT = "concat_ws(' ', s.name_en, s.name_zh)"


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")


def service_from_row(row: asyncpg.Record | dict[str, Any]) -> Service:
    shortest = shortest_minutes(row["min_minutes"], row["step_minutes"])
    return Service(
        id=row["id"],
        category_id=row["category_id"],
        name_en=row["name_en"],
        name_zh=row["name_zh"],
        description_en=row["description_en"],
        description_zh=row["description_zh"],
        skill=row["skill"],
        price=Price(
            pricing=row["pricing"],
            unit_price_cents=row["unit_price_cents"],
            min_minutes=row["min_minutes"],
            from_cents=pricing.base_cents(
                row["pricing"], row["unit_price_cents"], row["min_minutes"], shortest
            ),
        ),
        durations=Durations(
            default_minutes=row["default_minutes"],
            min_minutes=shortest,
            max_minutes=row["max_minutes"],
            step_minutes=row["step_minutes"],
        ),
        opens_at=_hhmm(row["opens_at"]),
        closes_at=_hhmm(row["closes_at"]),
        worker_share_pct=row["worker_share_pct"],
    )


async def list_categories(db: Executor) -> list[Category]:
    rows = await db.fetch(
        """SELECT c.id, c.name_en, c.name_zh, c.position,
                  (SELECT count(*) FROM services s WHERE s.category_id = c.id AND s.active) AS service_count
           FROM service_categories c ORDER BY c.position, c.id"""
    )
    return [Category(**dict(row)) for row in rows]


async def search_services(
    db: Executor,
    *,
    category: str | None = None,
    duration_minutes: int | None = None,
    q: str | None = None,
    skills: Sequence[str] | None = None,
    limit: int = 50,
) -> list[Service]:
    """Active services matching every filter; with ``q``, services whose names hold more of the
    tokens come first, then catalog order."""
    args: list[Any] = []
    where = ["s.active"]

    def param(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if category is not None:
        where.append(f"s.category_id = {param(category)}")
    if duration_minutes is not None:
        where.append(ALLOWS_DURATION_SQL.format(minutes=param(duration_minutes)))
    if skills is not None:
        where.append(f"s.skill = ANY({param(list(skills))}::text[])")
    name_hits: list[str] = []
    for token in keyword_tokens(q):
        p = param(like_pattern(token))
        where.append(f"{_SEARCH_TEXT} ILIKE {p}")
        name_hits.append(f"({_NAME_TEXT} ILIKE {p})::int")
    rank = f"({' + '.join(name_hits)}) DESC, " if name_hits else ""
    rows = await db.fetch(
        f"""SELECT {_SERVICE_COLUMNS}
            FROM services s JOIN service_categories c ON c.id = s.category_id
            WHERE {" AND ".join(where)}
            ORDER BY {rank}c.position, s.created_at, s.id
            LIMIT {param(min(max(limit, 1), MAX_LIMIT))}""",
        *args,
    )
    return [service_from_row(row) for row in rows]


async def get_service(db: Executor, service_id: str) -> Service | None:
    row = await db.fetchrow(
        f"SELECT {_SERVICE_COLUMNS} FROM services s WHERE s.id = $1 AND s.active", service_id
    )
    return None if row is None else service_from_row(row)


async def services_by_ids(db: Executor, ids: Sequence[str]) -> dict[str, Service]:
    rows = await db.fetch(
        f"SELECT {_SERVICE_COLUMNS} FROM services s WHERE s.id = ANY($1::text[])", list(ids)
    )
    return {row["id"]: service_from_row(row) for row in rows}


async def skills_for(
    db: Executor, *, category: str | None, service: str | None, duration_minutes: int | None
) -> list[str] | None:
    """The skills of the active services matching these filters (None when there is no filter):
    a worker qualifies for a category or a duration through one of them."""
    if category is None and service is None and duration_minutes is None:
        return None
    args: list[Any] = []
    where = ["s.active"]
    if category is not None:
        args.append(category)
        where.append(f"s.category_id = ${len(args)}")
    if service is not None:
        args.append(service)
        where.append(f"s.id = ${len(args)}")
    if duration_minutes is not None:
        args.append(duration_minutes)
        where.append(ALLOWS_DURATION_SQL.format(minutes=f"${len(args)}"))
    rows = await db.fetch(f"SELECT DISTINCT s.skill FROM services s WHERE {' AND '.join(where)}", *args)
    return sorted(row["skill"] for row in rows)
