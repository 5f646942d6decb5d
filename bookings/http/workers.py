"""Workers as customers find them (listing, public profile) and as they edit themselves."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import AfterValidator, Field, model_validator

from bookings import catalog
from bookings.eligibility import Level
from bookings.http.inputs import (
    MULTI_LINE,
    TRIMMED,
    Code,
    JsonInt,
    Keyword,
    Lat,
    Limit,
    Lng,
    Minutes,
    Name,
    Phone,
    Skill,
    Strict,
    Url,
    local_today,
    path_worker_id,
    point,
    pool_of,
    required_body,
    unchanged,
)
from bookings.people import workers
from bookings.people.models import Gender, WorkerList, WorkerProfile, WorkerRecord
from hub.acks import Payload
from hub.auth import Role
from hub.cursors import CursorParam
from hub.errors import NotFound
from hub.web.openapi import Operation, caller, read_query, reply


class WorkerQuery(Payload):
    category: Code | None = None
    service: Code | None = None
    duration_minutes: Minutes | None = None
    gender: Gender | None = None
    level: Level | None = Field(default=None, description="junior <3 years, intermediate 3-7, senior 8+")
    q: Keyword | None = None
    lat: Lat | None = Field(default=None, description="with lng: only workers covering it, nearest first")
    lng: Lng | None = None
    limit: Limit = 20
    cursor: CursorParam | None = None

    @model_validator(mode="after")
    def _both(self) -> WorkerQuery:
        point(self.lat, self.lng)
        return self


class PastCaseIn(Strict):
    title: Annotated[str, Field(min_length=1, max_length=100, pattern=TRIMMED)]
    description: Annotated[str, Field(max_length=1000, pattern=MULTI_LINE)] = ""
    year: Annotated[int, Field(ge=1970, le=2100), JsonInt] | None = None


# Profile fields, shared with the admin's onboarding and corrections (``bookings.http.vetting``).
Bio = Annotated[str, Field(max_length=2000, pattern=MULTI_LINE)]
Training = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=100, pattern=TRIMMED)]], Field(max_length=20)
]
Skills = Annotated[list[Skill], Field(max_length=20)]
PastCases = Annotated[list[PastCaseIn], Field(max_length=20)]
BirthYear = Annotated[int, Field(ge=1930, le=2012), JsonInt]
Years = Annotated[int, Field(ge=0, le=60), JsonInt]
Radius = Annotated[float, Field(ge=0.5, le=100, allow_inf_nan=False), AfterValidator(lambda v: round(v, 3))]


class WorkerProfilePatch(Strict):
    """Profile fields to change; those left out stay as they are. Vetting and ratings are not here."""

    # Fields that cannot be null default to None only to mean "unchanged" (null is refused).
    name: Name = unchanged()
    gender: Gender = unchanged()
    birth_year: BirthYear | None = None
    photo_url: Url | None = None
    phone: Phone | None = None
    years_experience: Years = unchanged()
    skills: Skills = unchanged()
    bio: Bio = unchanged()
    area_lat: Lat = unchanged()
    area_lng: Lng = unchanged()
    area_radius_km: Radius = unchanged()
    training: Training = unchanged()
    past_cases: PastCases = unchanged()

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


async def list_workers(request: web.Request) -> web.Response:
    query = read_query(request, WorkerQuery)
    pool = pool_of(request)
    skills = await catalog.skills_for(
        pool, category=query.category, service=query.service, duration_minutes=query.duration_minutes
    )
    found = await workers.list_workers(
        pool,
        local_today(request),
        skills=skills,
        gender=query.gender,
        level=query.level,
        q_tokens=catalog.keyword_tokens(query.q),
        near=point(query.lat, query.lng),
        limit=query.limit,
        cursor=query.cursor,
    )
    return reply(found)


async def get_worker(request: web.Request) -> web.Response:
    profile = await workers.public_profile(pool_of(request), path_worker_id(request), local_today(request))
    if profile is None:
        raise NotFound("no such worker", code="worker_not_found")
    return reply(profile)


async def get_my_worker_profile(request: web.Request) -> web.Response:
    user = caller(request)
    record = await workers.worker_record(pool_of(request), user.user_id, local_today(request))
    if record is None:
        raise NotFound("no worker profile: an admin onboards workers first", code="worker_not_found")
    return reply(record)


async def update_my_worker_profile(request: web.Request) -> web.Response:
    user = caller(request)
    body = await required_body(request, WorkerProfilePatch)
    async with pool_of(request).acquire() as conn, conn.transaction():
        record = await workers.update_profile(conn, user.user_id, body.changes(), local_today(request))
    return reply(record)


OPERATIONS = [
    Operation(
        "GET",
        "/api/v1/workers",
        list_workers,
        "Vetted workers customers can book, filtered; nearest first with lat/lng",
        "workers",
        auth=False,
        query=WorkerQuery,
        responses={200: WorkerList},
    ),
    Operation(
        "GET",
        "/api/v1/workers/me",
        get_my_worker_profile,
        "The worker's own profile, vetting state and certificates",
        "workers",
        roles=(Role.WORKER,),
        responses={200: WorkerRecord},
        errors=(404,),
    ),
    Operation(
        "PUT",
        "/api/v1/workers/me",
        update_my_worker_profile,
        "Edit the worker's own profile (not vetting, certificates or ratings)",
        "workers",
        roles=(Role.WORKER,),
        body=WorkerProfilePatch,
        responses={200: WorkerRecord},
        errors=(404,),
    ),
    Operation(
        "GET",
        "/api/v1/workers/{worker_id}",
        get_worker,
        "A vetted worker's public profile with recent reviews",
        "workers",
        auth=False,
        responses={200: WorkerProfile},
        errors=(404,),
        path_params={"worker_id": {"type": "string"}},
    ),
]
