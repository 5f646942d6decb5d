"""Admin views of workers: onboarding, the full records, vetting decisions and certificates."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from aiohttp import web
from pydantic import AfterValidator, Field, RootModel, StrictBool, model_validator

from bookings import catalog
from bookings.http.idempotency import create_once
from bookings.http.inputs import (
    MULTI_LINE,
    SINGLE_LINE,
    Keyword,
    Lat,
    Limit,
    Lng,
    Name,
    Phone,
    Skill,
    Strict,
    Url,
    UserId,
    local_today,
    not_me,
    path_uuid,
    path_worker_id,
    pool_of,
    required_body,
)
from bookings.http.workers import (
    Bio,
    BirthYear,
    PastCases,
    Radius,
    Skills,
    Training,
    WorkerProfilePatch,
    Years,
)
from bookings.people import workers
from bookings.people.models import Certificate, Gender, VettingStatus, WorkerRecord, WorkerRecordList
from hub.acks import Payload
from hub.auth import Role
from hub.cursors import CursorParam
from hub.errors import NotFound
from hub.storage.db import Conn
from hub.web.openapi import Operation, caller, read_query, reply


class AdminWorkerQuery(Payload):
    vetting_status: VettingStatus | None = None
    expiring_within_days: Annotated[int, Field(ge=0, le=3650)] | None = Field(
        default=None, description="workers with a certificate expired or expiring within this many days"
    )
    q: Keyword | None = None
    limit: Limit = 50
    cursor: CursorParam | None = None


class WorkerIn(Strict):
    """A worker to onboard: their user id (the JWT sub they sign in with) and profile."""

    id: Annotated[UserId, AfterValidator(not_me)]
    name: Name
    gender: Gender
    birth_year: BirthYear | None = None
    photo_url: Url | None = None
    phone: Phone | None = None
    years_experience: Years = 0
    skills: Skills = []
    bio: Bio = ""
    area_lat: Lat
    area_lng: Lng
    area_radius_km: Radius = 10.0
    training: Training = []
    past_cases: PastCases = []


class VettingIn(Strict):
    status: VettingStatus
    identity_verified: StrictBool | None = Field(default=None, description="null or left out: unchanged")
    note: Annotated[str, Field(max_length=500, pattern=MULTI_LINE)] | None = None


class _CertificateFields(Strict):
    number: Annotated[str, Field(max_length=64, pattern=SINGLE_LINE)] = ""
    issued_on: date | None = None
    expires_on: date
    verified: StrictBool = False

    @model_validator(mode="after")
    def _dates(self) -> _CertificateFields:
        if self.issued_on is not None and self.issued_on > self.expires_on:
            raise ValueError("issued_on must not be after expires_on")
        return self


class HealthCertificateIn(_CertificateFields):
    kind: Literal["health"]


class SkillCertificateIn(_CertificateFields):
    kind: Literal["skill"]
    skill: Skill


class CertificateIn(
    RootModel[Annotated[HealthCertificateIn | SkillCertificateIn, Field(discriminator="kind")]]
):
    """A health certificate, or a skill certificate naming the skill it proves."""


async def create_worker(request: web.Request) -> web.Response:
    admin = caller(request)
    body = await required_body(request, WorkerIn)
    today = local_today(request)
    fields = body.model_dump(exclude={"id"})

    async def create(conn: Conn) -> WorkerRecord:
        return await workers.create_worker(conn, body.id, fields, today)

    return await create_once(request, pool_of(request), admin, create)


async def admin_list_workers(request: web.Request) -> web.Response:
    query = read_query(request, AdminWorkerQuery)
    found = await workers.admin_list(
        pool_of(request),
        local_today(request),
        vetting_status=query.vetting_status,
        expiring_within_days=query.expiring_within_days,
        q_tokens=catalog.keyword_tokens(query.q),
        limit=query.limit,
        cursor=query.cursor,
    )
    return reply(found)


async def admin_get_worker(request: web.Request) -> web.Response:
    record = await workers.worker_record(pool_of(request), path_worker_id(request), local_today(request))
    if record is None:
        raise NotFound("no such worker", code="worker_not_found")
    return reply(record)


async def admin_update_worker(request: web.Request) -> web.Response:
    worker_id = path_worker_id(request)
    body = await required_body(request, WorkerProfilePatch)
    async with pool_of(request).acquire() as conn, conn.transaction():
        record = await workers.update_profile(conn, worker_id, body.changes(), local_today(request))
    return reply(record)


async def set_vetting(request: web.Request) -> web.Response:
    admin = caller(request)
    worker_id = path_worker_id(request)
    body = await required_body(request, VettingIn)
    async with pool_of(request).acquire() as conn, conn.transaction():
        record = await workers.set_vetting(
            conn,
            worker_id,
            status=body.status,
            identity_verified=body.identity_verified,
            note=body.note,
            admin_id=admin.user_id,
            today=local_today(request),
        )
    return reply(record)


async def add_certificate(request: web.Request) -> web.Response:
    admin = caller(request)
    worker_id = path_worker_id(request)
    body = (await required_body(request, CertificateIn)).root
    today = local_today(request)

    async def create(conn: Conn) -> Certificate:
        return await workers.add_certificate(conn, worker_id, body.model_dump(), today)

    return await create_once(request, pool_of(request), admin, create)


async def delete_certificate(request: web.Request) -> web.Response:
    worker_id = path_worker_id(request)
    certificate_id = path_uuid(request, "certificate_id", "certificate")
    if not await workers.delete_certificate(pool_of(request), worker_id, certificate_id):
        raise NotFound("no such certificate", code="certificate_not_found")
    return web.Response(status=204)


OPERATIONS = [
    Operation(
        "POST",
        "/api/v1/admin/workers",
        create_worker,
        "Onboard a worker (vetting starts pending)",
        "vetting",
        roles=(Role.ADMIN,),
        body=WorkerIn,
        responses={201: WorkerRecord},
        errors=(409,),
        idempotent=True,
    ),
    Operation(
        "GET",
        "/api/v1/admin/workers",
        admin_list_workers,
        "Every worker with vetting records; filter by status or expiring certificates",
        "vetting",
        roles=(Role.ADMIN,),
        query=AdminWorkerQuery,
        responses={200: WorkerRecordList},
    ),
    Operation(
        "GET",
        "/api/v1/admin/workers/{worker_id}",
        admin_get_worker,
        "One worker's full record",
        "vetting",
        roles=(Role.ADMIN,),
        responses={200: WorkerRecord},
        errors=(404,),
        path_params={"worker_id": {"type": "string"}},
    ),
    Operation(
        "PUT",
        "/api/v1/admin/workers/{worker_id}",
        admin_update_worker,
        "Correct a worker's profile fields",
        "vetting",
        roles=(Role.ADMIN,),
        body=WorkerProfilePatch,
        responses={200: WorkerRecord},
        errors=(404,),
        path_params={"worker_id": {"type": "string"}},
    ),
    Operation(
        "PUT",
        "/api/v1/admin/workers/{worker_id}/vetting",
        set_vetting,
        "Record a vetting decision",
        "vetting",
        roles=(Role.ADMIN,),
        body=VettingIn,
        responses={200: WorkerRecord},
        errors=(404, 409),
        path_params={"worker_id": {"type": "string"}},
        description="Vetting needs a verified identity and a verified, unexpired health certificate "
        "(409 identity_not_verified or health_certificate_missing).",
    ),
    Operation(
        "POST",
        "/api/v1/admin/workers/{worker_id}/certificates",
        add_certificate,
        "Record a health or skill certificate",
        "vetting",
        roles=(Role.ADMIN,),
        body=CertificateIn,
        responses={201: Certificate},
        errors=(404, 409),
        idempotent=True,
        path_params={"worker_id": {"type": "string"}},
    ),
    Operation(
        "DELETE",
        "/api/v1/admin/workers/{worker_id}/certificates/{certificate_id}",
        delete_certificate,
        "Remove a certificate",
        "vetting",
        roles=(Role.ADMIN,),
        responses={204: None},
        errors=(404,),
        path_params={
            "worker_id": {"type": "string"},
            "certificate_id": {"type": "string", "format": "uuid"},
        },
    ),
]
