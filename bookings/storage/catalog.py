"""SQL for the catalog: categories and services.

``ServiceRecord`` is the one definition of a service's stored fields: the catalog's views, the
quote and the demo data are all built from it, and its column list is derived from it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, time
from typing import Any, Literal

import asyncpg

from hub.storage.db import Executor

Pricing = Literal["hourly", "fixed"]
MAX_LIMIT = 100

# Parameter: the service alias is ``s``; ``{minutes}`` is the duration placeholder. The same rule
# as ``bookings.catalog.allows_duration``.
ALLOWS_DURATION_SQL = (
    "({minutes} BETWEEN GREATEST(s.min_minutes, s.step_minutes) AND s.max_minutes"
    " AND ({minutes} - GREATEST(s.min_minutes, s.step_minutes)) % s.step_minutes = 0)"
)


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceRecord:
    """A row of ``services`` (but ``active`` and ``created_at``); defaults are the table's."""

    id: str
    category_id: str
    name_en: str
    name_zh: str
    description_en: str
    description_zh: str
    keywords: str
    skill: str  # the worker skill (and skill certificate) it needs
    pricing: Pricing
    unit_price_cents: int  # per hour when hourly, for the whole job when fixed
    min_minutes: int  # hourly: the shortest duration billed
    default_minutes: int
    max_minutes: int
    step_minutes: int
    opens_at: time = time(8, 0)  # local: a job starts and ends within these hours
    closes_at: time = time(20, 0)
    worker_share_pct: int = 70


_FIELDS = [field.name for field in dataclasses.fields(ServiceRecord)]
SERVICE_COLUMNS = ", ".join(f"s.{name}" for name in _FIELDS)


def service_record(row: asyncpg.Record) -> ServiceRecord:
    return ServiceRecord(**{name: row[name] for name in _FIELDS})


def like_pattern(token: str) -> str:
    """``%token%`` with LIKE's wildcards and escape character taken literally."""
    escaped = token.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def categories(db: Executor) -> list[asyncpg.Record]:
    return await db.fetch(
        """SELECT c.id, c.name_en, c.name_zh, c.position,
                  (SELECT count(*) FROM services s WHERE s.category_id = c.id AND s.active) AS service_count
           FROM service_categories c ORDER BY c.position, c.id"""
    )


async def search_services(
    db: Executor,
    *,
    category: str | None,
    duration_minutes: int | None,
    skills: Sequence[str] | None,
    limit: int,
) -> list[ServiceRecord]:
    """Active services matching every filter, in catalog order (keyword search is
    ``bookings.search``, in memory)."""
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
    rows = await db.fetch(
        f"""SELECT {SERVICE_COLUMNS}
            FROM services s JOIN service_categories c ON c.id = s.category_id
            WHERE {" AND ".join(where)}
            ORDER BY c.position, s.created_at, s.id
            LIMIT {param(min(max(limit, 1), MAX_LIMIT))}""",
        *args,
    )
    return [service_record(row) for row in rows]


async def active_service(db: Executor, service_id: str) -> ServiceRecord | None:
    row = await db.fetchrow(
        f"SELECT {SERVICE_COLUMNS} FROM services s WHERE s.id = $1 AND s.active", service_id
    )
    return None if row is None else service_record(row)


async def services_by_ids(
    db: Executor, ids: Sequence[str], *, active_only: bool = False
) -> list[ServiceRecord]:
    rows = await db.fetch(
        f"SELECT {SERVICE_COLUMNS} FROM services s WHERE s.id = ANY($1::text[]) AND (s.active OR NOT $2)",
        list(ids),
        active_only,
    )
    return [service_record(row) for row in rows]


async def skills_of(
    db: Executor, *, category: str | None, service: str | None, duration_minutes: int | None
) -> list[str]:
    """The distinct skills of the active services matching these filters, sorted."""
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


async def service_ids_for_skills(db: Executor, skills: Sequence[str]) -> list[str]:
    """Active services needing one of ``skills``, in catalog order."""
    rows = await db.fetch(
        """SELECT s.id FROM services s JOIN service_categories c ON c.id = s.category_id
           WHERE s.active AND s.skill = ANY($1::text[]) ORDER BY c.position, s.created_at, s.id""",
        list(skills),
    )
    return [row["id"] for row in rows]


async def upsert_category(db: Executor, category_id: str, name_en: str, name_zh: str, position: int) -> None:
    await db.execute(
        """INSERT INTO service_categories (id, name_en, name_zh, position) VALUES ($1, $2, $3, $4)
           ON CONFLICT (id) DO UPDATE SET name_en = $2, name_zh = $3, position = $4""",
        category_id,
        name_en,
        name_zh,
        position,
    )


async def upsert_service(db: Executor, service: ServiceRecord, created_at: datetime) -> None:
    """Insert or overwrite the service, active, with this ``created_at`` (which orders the catalog)."""
    values = dataclasses.astuple(service)
    placeholders = ", ".join(f"${i}" for i in range(1, len(_FIELDS) + 1))
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in _FIELDS[1:])
    await db.execute(
        f"""INSERT INTO services ({", ".join(_FIELDS)}, active, created_at)
            VALUES ({placeholders}, true, ${len(_FIELDS) + 1})
            ON CONFLICT (id) DO UPDATE SET {updates}, active = true, created_at = EXCLUDED.created_at""",
        *values,
        created_at,
    )
