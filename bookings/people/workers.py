"""Workers: reading (the public listing and profile, the full record, the admin's list) and
writing (onboarding, profile changes, vetting decisions, certificates)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import asyncpg

from bookings.people.eligibility import LEVEL_SQL, eligible_worker_sql, level_of
from bookings.people.models import (
    Certificate,
    PastCase,
    Review,
    ServiceArea,
    WorkerCard,
    WorkerList,
    WorkerProfile,
    WorkerRecord,
    WorkerRecordList,
)
from bookings.storage.catalog import like_pattern
from hub.acks import Conflict, NotFound
from hub.storage.db import Conn, Executor

MAX_PAGE = 100
RECENT_REVIEWS = 5
MAX_CERTIFICATES = 50
EARTH_RADIUS_KM = 6371.0088


def distance_sql(lat1: str, lng1: str, lat2: str, lng2: str) -> str:
    """Haversine distance in km between two SQL points (same formula as ``bookings.geo``)."""
    return (
        f"(2 * {EARTH_RADIUS_KM} * asin(least(1.0, sqrt("
        f"power(sin(radians(({lat2}) - ({lat1})) / 2), 2) + cos(radians({lat1})) * cos(radians({lat2}))"
        f" * power(sin(radians(({lng2}) - ({lng1})) / 2), 2)))))"
    )


def mask_name(name: str) -> str:
    name = name.strip()
    if not name:
        return "匿名用户"
    return name[0] + "*" * min(max(len(name) - 1, 2), 4)


def _card_fields(row: asyncpg.Record, today: date) -> dict[str, Any]:
    count = row["rating_count"]
    return {
        "id": row["id"],
        "name": row["name"],
        "gender": row["gender"],
        "age": None if row["birth_year"] is None else today.year - row["birth_year"],
        "photo_url": row["photo_url"],
        "years_experience": row["years_experience"],
        "level": level_of(row["years_experience"]),
        "skills": list(row["skills"]),
        "certified_skills": list(row["certified_skills"]),
        "rating_avg": round(row["rating_sum"] / count, 2) if count > 0 else None,
        "rating_count": count,
        "area": ServiceArea(lat=row["area_lat"], lng=row["area_lng"], radius_km=row["area_radius_km"]),
        "distance_km": None if row["distance_km"] is None else round(row["distance_km"], 2),
    }


def _certified_sql(today: str) -> str:
    return f"""ARRAY(SELECT DISTINCT sc.skill FROM worker_certificates sc
                     WHERE sc.worker_id = w.id AND sc.kind = 'skill' AND sc.verified
                       AND sc.expires_on >= {today} AND sc.skill = ANY(w.skills) ORDER BY 1)"""


def _worker_text_match(p: str) -> str:
    return f"""(concat_ws(' ', w.name, w.bio, array_to_string(w.skills, ' '),
                          array_to_string(w.training, ' ')) ILIKE {p}
             OR EXISTS (SELECT 1 FROM services s WHERE s.active AND s.skill = ANY(w.skills)
                        AND concat_ws(' ', s.name_en, s.name_zh, s.keywords) ILIKE {p}))"""


async def list_workers(
    db: Executor,
    today: date,
    *,
    skills: Sequence[str] | None = None,
    gender: str | None = None,
    level: str | None = None,
    q_tokens: Sequence[str] = (),
    near: tuple[float, float] | None = None,
    limit: int = 20,
    offset: int = 0,
) -> WorkerList:
    """Eligible workers (for one of ``skills`` when given, else for any of their own skills), the
    nearest first when ``near`` is given (only those whose area covers it), else the best rated."""
    args: list[Any] = [today]

    def param(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    skill_expr = "w.skills" if skills is None else f"{param(list(skills))}::text[]"
    where = [eligible_worker_sql("w", skill_expr, "$1", any_skill=True)]
    if gender is not None:
        where.append(f"w.gender = {param(gender)}")
    if level is not None:
        where.append(f"{LEVEL_SQL} = {param(level)}")
    for token in q_tokens:
        where.append(_worker_text_match(param(like_pattern(token))))
    distance = "NULL::float8"
    order = "(w.rating_sum::float8 / NULLIF(w.rating_count, 0)) DESC NULLS LAST, w.rating_count DESC, w.id"
    if near is not None:
        # Rounded to about 0.1 m: denormal inputs would underflow in PostgreSQL's float maths.
        lat, lng = round(near[0], 6), round(near[1], 6)
        distance = distance_sql("w.area_lat", "w.area_lng", param(lat), param(lng))
        where.append(f"{distance} <= w.area_radius_km")
        order = f"distance_km, {order}"
    limit = min(max(limit, 1), MAX_PAGE)
    rows = await db.fetch(
        f"""SELECT w.*, {_certified_sql("$1")} AS certified_skills, {distance} AS distance_km
            FROM workers w WHERE {" AND ".join(where)}
            ORDER BY {order} LIMIT {param(limit + 1)} OFFSET {param(offset)}""",
        *args,
    )
    cards = [WorkerCard(**_card_fields(row, today)) for row in rows[:limit]]
    return WorkerList(workers=cards, next_offset=offset + limit if len(rows) > limit else None)


async def cards_by_ids(
    db: Executor, ids: Sequence[str], today: date, *, eligible_only: bool = True
) -> dict[str, WorkerCard]:
    eligible = eligible_worker_sql("w", "w.skills", "$1", any_skill=True) if eligible_only else "true"
    rows = await db.fetch(
        f"""SELECT w.*, {_certified_sql("$1")} AS certified_skills, NULL::float8 AS distance_km
            FROM workers w WHERE w.id = ANY($2::text[]) AND {eligible}""",
        today,
        list(ids),
    )
    return {row["id"]: WorkerCard(**_card_fields(row, today)) for row in rows}


async def _profile_fields(db: Executor, row: asyncpg.Record, today: date) -> dict[str, Any]:
    reviews = await db.fetch(
        """SELECT r.id, r.rating, r.comment, r.created_at, coalesce(c.name, '') AS customer_name
           FROM worker_reviews r LEFT JOIN customers c ON c.id = r.customer_id
           WHERE r.worker_id = $1 ORDER BY r.created_at DESC, r.id LIMIT $2""",
        row["id"],
        RECENT_REVIEWS,
    )
    services = await db.fetch(
        """SELECT s.id FROM services s JOIN service_categories c ON c.id = s.category_id
           WHERE s.active AND s.skill = ANY($1::text[]) ORDER BY c.position, s.created_at, s.id""",
        list(row["certified_skills"]) if row["eligible"] else [],
    )
    return {
        **_card_fields(row, today),
        "bio": row["bio"],
        "training": list(row["training"]),
        "past_cases": [PastCase.model_validate(case) for case in row["past_cases"]],
        "service_ids": [s["id"] for s in services],
        "recent_reviews": [
            Review(
                id=r["id"],
                rating=r["rating"],
                comment=r["comment"],
                author=mask_name(r["customer_name"]),
                created_at=r["created_at"],
            )
            for r in reviews
        ],
    }


async def _fetch_worker_rows(
    db: Executor, today: date, where: str, args: Sequence[Any], tail: str = ""
) -> list[asyncpg.Record]:
    return await db.fetch(
        f"""SELECT w.*, {_certified_sql("$1")} AS certified_skills, NULL::float8 AS distance_km,
                   {eligible_worker_sql("w", "w.skills", "$1", any_skill=True)} AS eligible
            FROM workers w WHERE {where} {tail}""",
        today,
        *args,
    )


async def public_profile(db: Executor, worker_id: str, today: date) -> WorkerProfile | None:
    """The profile of an eligible worker; None for anyone else (unknown, pending, suspended...)."""
    rows = await _fetch_worker_rows(db, today, "w.id = $2", [worker_id])
    if not rows or not rows[0]["eligible"]:
        return None
    return WorkerProfile(**await _profile_fields(db, rows[0], today))


async def _certificates(db: Executor, worker_ids: Sequence[str], today: date) -> dict[str, list[Certificate]]:
    rows = await db.fetch(
        """SELECT * FROM worker_certificates WHERE worker_id = ANY($1::text[])
           ORDER BY expires_on, created_at, id""",
        list(worker_ids),
    )
    found: dict[str, list[Certificate]] = {}
    for row in rows:
        found.setdefault(row["worker_id"], []).append(_certificate(row, today))
    return found


def _certificate(row: asyncpg.Record, today: date) -> Certificate:
    return Certificate(
        id=row["id"],
        kind=row["kind"],
        skill=row["skill"],
        number=row["number"],
        issued_on=row["issued_on"],
        expires_on=row["expires_on"],
        verified=row["verified"],
        expired=row["expires_on"] < today,
    )


async def _records(db: Executor, rows: Sequence[asyncpg.Record], today: date) -> list[WorkerRecord]:
    certificates = await _certificates(db, [row["id"] for row in rows], today)
    return [
        WorkerRecord(
            **await _profile_fields(db, row, today),
            phone=row["phone"],
            birth_year=row["birth_year"],
            vetting_status=row["vetting_status"],
            identity_verified=row["identity_verified"],
            vetting_note=row["vetting_note"],
            vetted_by=row["vetted_by"],
            vetted_at=row["vetted_at"],
            eligible=row["eligible"],
            certificates=certificates.get(row["id"], []),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )
        for row in rows
    ]


async def worker_record(db: Executor, worker_id: str, today: date) -> WorkerRecord | None:
    rows = await _fetch_worker_rows(db, today, "w.id = $2", [worker_id])
    return (await _records(db, rows, today))[0] if rows else None


async def admin_list(
    db: Executor,
    today: date,
    *,
    vetting_status: str | None = None,
    expiring_within_days: int | None = None,
    q_tokens: Sequence[str] = (),
    limit: int = 50,
    offset: int = 0,
) -> WorkerRecordList:
    """Every worker, filtered by vetting status, and by a certificate that has expired or expires
    within ``expiring_within_days`` days (0: already expired); newest first."""
    args: list[Any] = []

    def param(value: Any) -> str:
        args.append(value)
        return f"${len(args) + 1}"  # $1 is today

    where = ["true"]
    if vetting_status is not None:
        where.append(f"w.vetting_status = {param(vetting_status)}")
    if expiring_within_days is not None:
        where.append(
            f"""EXISTS (SELECT 1 FROM worker_certificates ec WHERE ec.worker_id = w.id
                        AND ec.expires_on < $1::date + {param(expiring_within_days)}::int)"""
        )
    for token in q_tokens:
        p = param(like_pattern(token))
        where.append(f"(concat_ws(' ', w.id, w.name, w.phone) ILIKE {p} OR {_worker_text_match(p)})")
    limit = min(max(limit, 1), MAX_PAGE)
    rows = await _fetch_worker_rows(
        db,
        today,
        " AND ".join(where),
        args,
        f"ORDER BY w.created_at DESC, w.id LIMIT {param(limit + 1)} OFFSET {param(offset)}",
    )
    records = await _records(db, rows[:limit], today)
    return WorkerRecordList(workers=records, next_offset=offset + limit if len(rows) > limit else None)


# Writing ---------------------------------------------------------------------------------------

PROFILE_COLUMNS = (
    "name",
    "gender",
    "birth_year",
    "photo_url",
    "phone",
    "years_experience",
    "skills",
    "bio",
    "area_lat",
    "area_lng",
    "area_radius_km",
    "training",
    "past_cases",
)


def _profile_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    values = {name: fields[name] for name in PROFILE_COLUMNS if name in fields}
    if "past_cases" in values:
        values["past_cases"] = [dict(case) for case in values["past_cases"]]
    if "skills" in values:
        values["skills"] = sorted(set(values["skills"]))
    return values


async def create_worker(conn: Conn, worker_id: str, fields: Mapping[str, Any], today: date) -> WorkerRecord:
    """Onboard a worker (vetting starts ``pending``); 409 ``worker_exists`` when the id is taken."""
    values = _profile_values(fields)
    columns = ["id", *values]
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    created = await conn.fetchval(
        f"""INSERT INTO workers ({", ".join(columns)}) VALUES ({placeholders})
            ON CONFLICT (id) DO NOTHING RETURNING id""",
        worker_id,
        *values.values(),
    )
    if created is None:
        raise Conflict(f"worker {worker_id!r} already exists", code="worker_exists")
    record = await worker_record(conn, worker_id, today)
    assert record is not None
    return record


async def update_profile(conn: Conn, worker_id: str, fields: Mapping[str, Any], today: date) -> WorkerRecord:
    """Change the profile fields given (never vetting, certificates or ratings)."""
    values = _profile_values(fields)
    sets = [f"{name} = ${i}" for i, name in enumerate(values, start=2)]
    found = await conn.fetchval(
        f"UPDATE workers SET {', '.join([*sets, 'updated_at = now()'])} WHERE id = $1 RETURNING id",
        worker_id,
        *values.values(),
    )
    if found is None:
        raise NotFound("no worker profile: an admin onboards workers first", code="worker_not_found")
    record = await worker_record(conn, worker_id, today)
    assert record is not None
    return record


async def set_vetting(
    conn: Conn,
    worker_id: str,
    *,
    status: str,
    identity_verified: bool | None,
    note: str | None,
    admin_id: str,
    today: date,
) -> WorkerRecord:
    """Record a vetting decision. ``vetted`` needs a verified identity and a verified, unexpired
    health certificate (409 ``identity_not_verified`` / ``health_certificate_missing``)."""
    row = await conn.fetchrow("SELECT identity_verified FROM workers WHERE id = $1 FOR UPDATE", worker_id)
    if row is None:
        raise NotFound("no such worker", code="worker_not_found")
    identity = row["identity_verified"] if identity_verified is None else identity_verified
    if status == "vetted":
        if not identity:
            raise Conflict("verify the worker's identity before vetting", code="identity_not_verified")
        health = await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM worker_certificates WHERE worker_id = $1 AND kind = 'health'
                              AND verified AND expires_on >= $2)""",
            worker_id,
            today,
        )
        if not health:
            raise Conflict(
                "a verified, unexpired health certificate is required to vet a worker",
                code="health_certificate_missing",
            )
    await conn.execute(
        """UPDATE workers SET vetting_status = $2, identity_verified = $3, vetting_note = $4,
                              vetted_by = $5, vetted_at = now(), updated_at = now()
           WHERE id = $1""",
        worker_id,
        status,
        identity,
        note,
        admin_id,
    )
    record = await worker_record(conn, worker_id, today)
    assert record is not None
    return record


async def add_certificate(conn: Conn, worker_id: str, fields: Mapping[str, Any], today: date) -> Certificate:
    exists = await conn.fetchval("SELECT true FROM workers WHERE id = $1 FOR UPDATE", worker_id)
    if not exists:
        raise NotFound("no such worker", code="worker_not_found")
    count = await conn.fetchval("SELECT count(*) FROM worker_certificates WHERE worker_id = $1", worker_id)
    if count >= MAX_CERTIFICATES:
        raise Conflict(f"a worker has at most {MAX_CERTIFICATES} certificates", code="too_many_certificates")
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
    return _certificate(row, today)


async def delete_certificate(db: Executor, worker_id: str, certificate_id: uuid.UUID) -> bool:
    deleted = await db.fetchval(
        "DELETE FROM worker_certificates WHERE id = $1 AND worker_id = $2 RETURNING true",
        certificate_id,
        worker_id,
    )
    return bool(deleted)
