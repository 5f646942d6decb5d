"""SQL for workers: profiles, vetting and certificates (reviews: ``reviews``, rating totals: ``ratings``).

Worker rows are read in one shape (``_SELECT``): the ``workers`` columns, ``certified_skills``,
``distance_km`` and ``eligible``, so one mapper per model reads every query's rows. Who is
eligible is ``bookings.people.eligibility``'s rule.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import asyncpg

from bookings.eligibility import ELIGIBLE_WORKER_SQL, LEVEL_SQL, eligible_worker_sql
from bookings.storage.catalog import like_pattern
from hub.storage.db import Conn, Executor

EARTH_RADIUS_KM = 6371.0088
# The mean overall rating from the integer totals, divided once: equal means sort as equals.
_BY_RATING = (
    "((w.quality_sum + w.attitude_sum + w.skill_sum)::float8 / NULLIF(3 * w.rating_count, 0))"
    " DESC NULLS LAST, w.rating_count DESC, w.id"
)


def distance_sql(lat1: str, lng1: str, lat2: str, lng2: str) -> str:
    """Haversine distance in km between two SQL points (same formula as ``bookings.geo``)."""
    return (
        f"(2 * {EARTH_RADIUS_KM} * asin(least(1.0, sqrt("
        f"power(sin(radians(({lat2}) - ({lat1})) / 2), 2) + cos(radians({lat1})) * cos(radians({lat2}))"
        f" * power(sin(radians(({lng2}) - ({lng1})) / 2), 2)))))"
    )


def _select(distance: str = "NULL::float8") -> str:
    """Workers ``w`` with what the models need; ``$1`` is today (the job's local date)."""
    certified = """ARRAY(SELECT DISTINCT sc.skill FROM worker_certificates sc
                         WHERE sc.worker_id = w.id AND sc.kind = 'skill' AND sc.verified
                           AND sc.expires_on >= $1 AND sc.skill = ANY(w.skills) ORDER BY 1)"""
    eligible = eligible_worker_sql("w", "w.skills", "$1", any_skill=True)
    return f"""SELECT w.*, {certified} AS certified_skills, {distance} AS distance_km,
                      {eligible} AS eligible
               FROM workers w"""


def _text_match(p: str) -> str:
    return f"""(concat_ws(' ', w.name, w.bio, array_to_string(w.skills, ' '),
                          array_to_string(w.training, ' ')) ILIKE {p}
             OR EXISTS (SELECT 1 FROM services s WHERE s.active AND s.skill = ANY(w.skills)
                        AND concat_ws(' ', s.name_en, s.name_zh, s.keywords) ILIKE {p}))"""


class _Params:
    def __init__(self, *first: Any) -> None:
        self.args = list(first)

    def __call__(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"


# Reading -----------------------------------------------------------------------------------------


async def search(
    db: Executor,
    today: date,
    *,
    skills: Sequence[str] | None,
    gender: str | None,
    level: str | None,
    tokens: Sequence[str],
    near: tuple[float, float] | None,
    limit: int,
    offset: int,
) -> list[asyncpg.Record]:
    """Workers eligible for one of ``skills`` (else for any of their own), filtered; those whose
    area covers ``near`` nearest first when it is given, else the best rated first."""
    param = _Params(today)
    skill_expr = "w.skills" if skills is None else f"{param(list(skills))}::text[]"
    where = [eligible_worker_sql("w", skill_expr, "$1", any_skill=True)]
    if gender is not None:
        where.append(f"w.gender = {param(gender)}")
    if level is not None:
        where.append(f"{LEVEL_SQL} = {param(level)}")
    for token in tokens:
        where.append(_text_match(param(like_pattern(token))))
    distance = "NULL::float8"
    order = _BY_RATING
    if near is not None:
        distance = distance_sql("w.area_lat", "w.area_lng", param(near[0]), param(near[1]))
        where.append(f"{distance} <= w.area_radius_km")
        order = f"distance_km, {order}"
    return await db.fetch(
        f"""{_select(distance)} WHERE {" AND ".join(where)}
            ORDER BY {order} LIMIT {param(limit)} OFFSET {param(offset)}""",
        *param.args,
    )


async def by_ids(
    db: Executor, ids: Sequence[str], today: date, *, eligible_only: bool
) -> list[asyncpg.Record]:
    eligible = eligible_worker_sql("w", "w.skills", "$1", any_skill=True) if eligible_only else "true"
    return await db.fetch(f"{_select()} WHERE w.id = ANY($2::text[]) AND {eligible}", today, list(ids))


async def by_id(db: Executor, worker_id: str, today: date) -> asyncpg.Record | None:
    return await db.fetchrow(f"{_select()} WHERE w.id = $2", today, worker_id)


async def admin_search(
    db: Executor,
    today: date,
    *,
    vetting_status: str | None,
    expiring_within_days: int | None,
    tokens: Sequence[str],
    limit: int,
    offset: int,
) -> list[asyncpg.Record]:
    """Every worker, filtered by vetting status, and by a certificate that has expired or expires
    within ``expiring_within_days`` days (0: already expired); newest first."""
    param = _Params(today)
    where = ["true"]
    if vetting_status is not None:
        where.append(f"w.vetting_status = {param(vetting_status)}")
    if expiring_within_days is not None:
        where.append(
            f"""EXISTS (SELECT 1 FROM worker_certificates ec WHERE ec.worker_id = w.id
                        AND ec.expires_on < $1::date + {param(expiring_within_days)}::int)"""
        )
    for token in tokens:
        p = param(like_pattern(token))
        where.append(f"(concat_ws(' ', w.id, w.name, w.phone) ILIKE {p} OR {_text_match(p)})")
    return await db.fetch(
        f"""{_select()} WHERE {" AND ".join(where)}
            ORDER BY w.created_at DESC, w.id LIMIT {param(limit)} OFFSET {param(offset)}""",
        *param.args,
    )


async def certificates(db: Executor, worker_ids: Sequence[str]) -> list[asyncpg.Record]:
    return await db.fetch(
        """SELECT * FROM worker_certificates WHERE worker_id = ANY($1::text[])
           ORDER BY expires_on, created_at, id""",
        list(worker_ids),
    )


async def name(db: Executor, worker_id: str) -> str | None:
    found: str | None = await db.fetchval("SELECT name FROM workers WHERE id = $1", worker_id)
    return found


async def base(db: Executor, worker_id: str) -> asyncpg.Record | None:
    """Where the worker's service area is centred (``area_lat``, ``area_lng``)."""
    return await db.fetchrow("SELECT area_lat, area_lng FROM workers WHERE id = $1", worker_id)


async def vetting_and_skills(db: Executor, worker_id: str) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT vetting_status, skills FROM workers WHERE id = $1", worker_id)


async def count_eligible(db: Executor, worker_ids: Sequence[str], today: date) -> int:
    """How many of these workers are eligible for at least one of their skills on ``today``."""
    eligible = eligible_worker_sql("w", "w.skills", "$1", any_skill=True)
    count: int = await db.fetchval(
        f"SELECT count(*) FROM workers w WHERE w.id = ANY($2::text[]) AND {eligible}",
        today,
        list(worker_ids),
    )
    return count


# Writing -----------------------------------------------------------------------------------------


async def insert(conn: Conn, worker_id: str, values: Mapping[str, Any]) -> bool:
    """Insert the worker with these columns (trusted names); False when the id is taken."""
    columns = ["id", *values]
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    created = await conn.fetchval(
        f"""INSERT INTO workers ({", ".join(columns)}) VALUES ({placeholders})
            ON CONFLICT (id) DO NOTHING RETURNING id""",
        worker_id,
        *values.values(),
    )
    return created is not None


async def update(conn: Conn, worker_id: str, values: Mapping[str, Any]) -> bool:
    """Set these columns (trusted names); False when there is no such worker."""
    sets = [f"{name} = ${i}" for i, name in enumerate(values, start=2)]
    found = await conn.fetchval(
        f"UPDATE workers SET {', '.join([*sets, 'updated_at = now()'])} WHERE id = $1 RETURNING id",
        worker_id,
        *values.values(),
    )
    return found is not None


async def set_on_leave(db: Executor, worker_id: str, on_leave: bool) -> None:
    await db.execute("UPDATE workers SET on_leave = $2 WHERE id = $1", worker_id, on_leave)


async def lock(conn: Conn, worker_id: str) -> asyncpg.Record | None:
    """The worker's row, locked until the transaction ends; None when there is no such worker."""
    return await conn.fetchrow("SELECT * FROM workers WHERE id = $1 FOR UPDATE", worker_id)


async def has_valid_health_certificate(conn: Conn, worker_id: str, on: date) -> bool:
    found: bool = await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM worker_certificates WHERE worker_id = $1 AND kind = 'health'
                          AND verified AND expires_on >= $2)""",
        worker_id,
        on,
    )
    return found


async def set_vetting(
    conn: Conn, worker_id: str, status: str, identity_verified: bool, note: str | None, admin_id: str
) -> None:
    await conn.execute(
        """UPDATE workers SET vetting_status = $2, identity_verified = $3, vetting_note = $4,
                              vetted_by = $5, vetted_at = now(), updated_at = now()
           WHERE id = $1""",
        worker_id,
        status,
        identity_verified,
        note,
        admin_id,
    )


async def count_certificates(conn: Conn, worker_id: str) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM worker_certificates WHERE worker_id = $1", worker_id
    )
    return count


async def insert_certificate(conn: Conn, worker_id: str, fields: Mapping[str, Any]) -> asyncpg.Record:
    """Record the certificate; the worker's row shows the change in ``updated_at``."""
    row = await conn.fetchrow(
        """INSERT INTO worker_certificates
                  (id, worker_id, kind, skill, number, issued_on, expires_on, verified)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *""",
        uuid.uuid4(),
        worker_id,
        fields["kind"],
        fields.get("skill"),
        fields.get("number", ""),
        fields.get("issued_on"),
        fields["expires_on"],
        fields.get("verified", False),
    )
    assert row is not None
    await conn.execute("UPDATE workers SET updated_at = now() WHERE id = $1", worker_id)
    return row


async def delete_certificate(db: Executor, worker_id: str, certificate_id: uuid.UUID) -> bool:
    deleted = await db.fetchval(
        "DELETE FROM worker_certificates WHERE id = $1 AND worker_id = $2 RETURNING true",
        certificate_id,
        worker_id,
    )
    return bool(deleted)


# The demo data -----------------------------------------------------------------------------------


async def upsert(db: Executor, values: Mapping[str, Any]) -> None:
    """Insert or overwrite the worker with these columns (trusted names, ``id`` first)."""
    columns = list(values)
    await db.execute(
        f"""INSERT INTO workers ({", ".join(columns)})
            VALUES ({", ".join(f"${i}" for i in range(1, len(columns) + 1))})
            ON CONFLICT (id) DO UPDATE SET
                {", ".join(f"{c} = EXCLUDED.{c}" for c in columns[1:])}, updated_at = now()""",
        *values.values(),
    )


async def upsert_certificate(db: Executor, worker_id: str, fields: Mapping[str, Any]) -> None:
    await db.execute(
        """INSERT INTO worker_certificates
               (id, worker_id, kind, skill, number, issued_on, expires_on, verified)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (id) DO UPDATE SET kind = $3, skill = $4, number = $5, issued_on = $6,
               expires_on = $7, verified = $8""",
        fields["id"],
        worker_id,
        fields["kind"],
        fields["skill"],
        fields["number"],
        fields["issued_on"],
        fields["expires_on"],
        fields["verified"],
    )


async def offerable(db: Executor, worker_ids: Sequence[str] | None, skill: str, on: date) -> list[str]:
    """The ids (of ``worker_ids``, or of all workers when None) eligible for ``skill`` on ``on``."""
    rows = await db.fetch(
        f"""SELECT w.id FROM workers w
            WHERE {ELIGIBLE_WORKER_SQL} AND ($3::text[] IS NULL OR w.id = ANY($3::text[]))
            ORDER BY w.id""",
        skill,
        on,
        None if worker_ids is None else list(worker_ids),
    )
    return [row["id"] for row in rows]
