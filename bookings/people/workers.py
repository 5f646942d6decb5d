"""Workers: reading (the public listing and profile, the full record, the admin's list) and
writing (onboarding, profile changes, vetting decisions, certificates)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import asyncpg

from bookings.eligibility import level_of
from bookings.people.models import (
    Certificate,
    PastCase,
    ServiceArea,
    WorkerCard,
    WorkerList,
    WorkerProfile,
    WorkerRecord,
    WorkerRecordList,
)
from bookings.reviews import ratings
from bookings.reviews import views as review_view
from bookings.storage import catalog as catalog_store
from bookings.storage import reviews as review_store
from bookings.storage import workers as store
from hub import cursors
from hub.errors import Conflict, NotFound
from hub.storage.db import Conn, Executor

MAX_PAGE = 100
RECENT_REVIEWS = 5
MAX_CERTIFICATES = 50


def _score_points(row: asyncpg.Record) -> int:
    """Every score of the worker's shown reviews added up: three per review."""
    points: int = row["quality_sum"] + row["attitude_sum"] + row["skill_sum"]
    return points


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
        "rating_avg": round(_score_points(row) / (3 * count), 2) if count > 0 else None,
        "rating_count": count,
        "area": ServiceArea(lat=row["area_lat"], lng=row["area_lng"], radius_km=row["area_radius_km"]),
        "distance_km": None if row["distance_km"] is None else round(row["distance_km"], 2),
    }


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
    cursor: str | None = None,
) -> WorkerList:
    """Eligible workers (for one of ``skills`` when given, else for any of their own skills), the
    nearest first when ``near`` is given (only those whose area covers it), else the best rated."""
    if near is not None:
        # Rounded to about 0.1 m: denormal inputs would underflow in PostgreSQL's float maths.
        near = round(near[0], 6), round(near[1], 6)
    limit = min(max(limit, 1), MAX_PAGE)
    offset = cursors.offset(cursor, "workers")
    rows = await store.search(
        db,
        today,
        skills=skills,
        gender=gender,
        level=level,
        tokens=q_tokens,
        near=near,
        limit=limit + 1,
        offset=offset,
    )
    page, next_cursor = cursors.offset_page("workers", rows, limit, offset)
    return WorkerList(items=[WorkerCard(**_card_fields(row, today)) for row in page], next_cursor=next_cursor)


async def cards_by_ids(
    db: Executor, ids: Sequence[str], today: date, *, eligible_only: bool = True
) -> dict[str, WorkerCard]:
    rows = await store.by_ids(db, ids, today, eligible_only=eligible_only)
    return {row["id"]: WorkerCard(**_card_fields(row, today)) for row in rows}


async def _profile_fields(db: Executor, row: asyncpg.Record, today: date) -> dict[str, Any]:
    reviews = await review_store.of_worker(db, row["id"], hidden=False, before=None, limit=RECENT_REVIEWS)
    skills = list(row["certified_skills"]) if row["eligible"] else []
    service_ids = await catalog_store.service_ids_for_skills(db, skills)
    return {
        **_card_fields(row, today),
        "bio": row["bio"],
        "training": list(row["training"]),
        "past_cases": [PastCase.model_validate(case) for case in row["past_cases"]],
        "service_ids": service_ids,
        "scores": ratings.averages(row),
        "recent_reviews": [review_view.public(r) for r in reviews],
    }


async def public_profile(db: Executor, worker_id: str, today: date) -> WorkerProfile | None:
    """The profile of an eligible worker; None for anyone else (unknown, pending, suspended...)."""
    row = await store.by_id(db, worker_id, today)
    if row is None or not row["eligible"]:
        return None
    return WorkerProfile(**await _profile_fields(db, row, today))


async def _certificates(db: Executor, worker_ids: Sequence[str], today: date) -> dict[str, list[Certificate]]:
    found: dict[str, list[Certificate]] = {}
    for row in await store.certificates(db, worker_ids):
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
            on_leave=row["on_leave"],
            certificates=certificates.get(row["id"], []),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )
        for row in rows
    ]


async def worker_record(db: Executor, worker_id: str, today: date) -> WorkerRecord | None:
    row = await store.by_id(db, worker_id, today)
    return None if row is None else (await _records(db, [row], today))[0]


async def admin_list(
    db: Executor,
    today: date,
    *,
    vetting_status: str | None = None,
    expiring_within_days: int | None = None,
    q_tokens: Sequence[str] = (),
    limit: int = 50,
    cursor: str | None = None,
) -> WorkerRecordList:
    """Every worker, filtered by vetting status, and by a certificate that has expired or expires
    within ``expiring_within_days`` days (0: already expired); newest first."""
    limit = min(max(limit, 1), MAX_PAGE)
    offset = cursors.offset(cursor, "worker-records")
    rows = await store.admin_search(
        db,
        today,
        vetting_status=vetting_status,
        expiring_within_days=expiring_within_days,
        tokens=q_tokens,
        limit=limit + 1,
        offset=offset,
    )
    page, next_cursor = cursors.offset_page("worker-records", rows, limit, offset)
    return WorkerRecordList(items=await _records(db, page, today), next_cursor=next_cursor)


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
    if not await store.insert(conn, worker_id, _profile_values(fields)):
        raise Conflict(f"worker {worker_id!r} already exists", code="worker_exists")
    record = await worker_record(conn, worker_id, today)
    assert record is not None
    return record


async def update_profile(conn: Conn, worker_id: str, fields: Mapping[str, Any], today: date) -> WorkerRecord:
    """Change the profile fields given (never vetting, certificates or ratings)."""
    if not await store.update(conn, worker_id, _profile_values(fields)):
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
    row = await store.lock(conn, worker_id)
    if row is None:
        raise NotFound("no such worker", code="worker_not_found")
    identity = row["identity_verified"] if identity_verified is None else identity_verified
    if status == "vetted":
        if not identity:
            raise Conflict("verify the worker's identity before vetting", code="identity_not_verified")
        if not await store.has_valid_health_certificate(conn, worker_id, today):
            raise Conflict(
                "a verified, unexpired health certificate is required to vet a worker",
                code="health_certificate_missing",
            )
    await store.set_vetting(conn, worker_id, status, identity, note, admin_id)
    record = await worker_record(conn, worker_id, today)
    assert record is not None
    return record


async def add_certificate(conn: Conn, worker_id: str, fields: Mapping[str, Any], today: date) -> Certificate:
    if await store.lock(conn, worker_id) is None:
        raise NotFound("no such worker", code="worker_not_found")
    if await store.count_certificates(conn, worker_id) >= MAX_CERTIFICATES:
        raise Conflict(f"a worker has at most {MAX_CERTIFICATES} certificates", code="too_many_certificates")
    row = await store.insert_certificate(conn, worker_id, fields)
    return _certificate(row, today)


async def delete_certificate(db: Executor, worker_id: str, certificate_id: uuid.UUID) -> bool:
    return await store.delete_certificate(db, worker_id, certificate_id)
