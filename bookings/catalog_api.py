"""HTTP routes of the catalog, worker and customer profiles, vetting and recommendations.

Views are thin: authenticate, validate (request models here refuse anything malformed with 422),
call ``bookings.catalog`` / ``bookings.people`` / ``bookings.recommend``, reply with their models.
Malformed path ids answer 404 like unknown ones.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo

import asyncpg
from aiohttp import web
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, RootModel, StrictBool, model_validator

from bookings import catalog, people, recommend
from bookings.idempotency import create_once
from bookings.keys import runtime
from hub.acks import Payload
from hub.auth import Role
from hub.errors import InvalidPayload, NotFound
from hub.keys import CONTEXT
from hub.storage.db import Conn
from hub.web.http import authenticate
from hub.web.openapi import Operation, read_body, read_query, reply

# Input types -----------------------------------------------------------------------------------

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}$"  # user ids (JWT sub): workers, customers
CODE_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"  # catalog ids: categories, services
SKILL_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
SINGLE_LINE = r"^[^\x00-\x1f\x7f]*$"
MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"  # tabs and line breaks allowed
# One line, no surrounding spaces, not empty.
TRIMMED = r"^[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$"
URL_PATTERN = r"^https?://[^\s\"'<>\\\x00-\x1f\x7f]+$"
PHONE_PATTERN = r"^\+?[0-9]{5,20}$"
MAX_MINUTES = 60 * 24 * 60
M = TypeVar("M", bound=BaseModel)
_ID = re.compile(ID_PATTERN)
_CODE = re.compile(CODE_PATTERN)


def _unicode(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def _not_me(value: str) -> str:
    if value == "me":
        raise ValueError("'me' is reserved")
    return value


def _json_int(value: Any) -> Any:
    """JSON Schema counts 2024.0 as an integer; strict pydantic would not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _coordinate(value: float) -> float:
    """Six decimals (about 0.1 m): also keeps denormal inputs from underflowing in SQL maths."""
    return round(value, 6)


Text = AfterValidator(_unicode)
JsonInt = BeforeValidator(_json_int)
UserId = Annotated[str, Field(pattern=ID_PATTERN), Text]
Code = Annotated[str, Field(pattern=CODE_PATTERN), Text]
Skill = Annotated[str, Field(pattern=SKILL_PATTERN), Text]
Name = Annotated[str, Field(min_length=1, max_length=50, pattern=TRIMMED), Text]
Line = Annotated[str, Field(max_length=200, pattern=SINGLE_LINE), Text]
Keyword = Annotated[str, Field(min_length=1, max_length=100, pattern=SINGLE_LINE), Text]
Url = Annotated[str, Field(max_length=500, pattern=URL_PATTERN), Text]
Phone = Annotated[str, Field(pattern=PHONE_PATTERN)]
Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False), AfterValidator(_coordinate)]
Lng = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False), AfterValidator(_coordinate)]
Minutes = Annotated[int, Field(ge=1, le=MAX_MINUTES)]
Limit = Annotated[int, Field(ge=1, le=100)]
Offset = Annotated[int, Field(ge=0, le=10_000)]


def unchanged() -> Any:
    """Default of a field that cannot be null: left out means unchanged, and null is refused."""
    return Field(default=None)


class Strict(Payload):
    model_config = {**Payload.model_config, "strict": True}


def _point(lat: float | None, lng: float | None) -> tuple[float, float] | None:
    if (lat is None) != (lng is None):
        raise ValueError("give both lat and lng, or neither")
    return None if lat is None or lng is None else (lat, lng)


# Request models --------------------------------------------------------------------------------


class ServiceQuery(Payload):
    category: Code | None = None
    duration_minutes: Minutes | None = Field(default=None, description="only services allowing it")
    q: Keyword | None = Field(default=None, description="keywords, Chinese or English; all must match")
    limit: Limit = 50


class WorkerQuery(Payload):
    category: Code | None = None
    service: Code | None = None
    duration_minutes: Minutes | None = None
    gender: people.Gender | None = None
    level: people.Level | None = Field(
        default=None, description="junior <3 years, intermediate 3-7, senior 8+"
    )
    q: Keyword | None = None
    lat: Lat | None = Field(default=None, description="with lng: only workers covering it, nearest first")
    lng: Lng | None = None
    limit: Limit = 20
    offset: Offset = 0

    @model_validator(mode="after")
    def _both(self) -> WorkerQuery:
        _point(self.lat, self.lng)
        return self


class AdminWorkerQuery(Payload):
    vetting_status: people.VettingStatus | None = None
    expiring_within_days: Annotated[int, Field(ge=0, le=3650)] | None = Field(
        default=None, description="workers with a certificate expired or expiring within this many days"
    )
    q: Keyword | None = None
    limit: Limit = 50
    offset: Offset = 0


class RecommendationQuery(Payload):
    lat: Lat | None = Field(default=None, description="with lng; else the default saved address")
    lng: Lng | None = None
    limit: Annotated[int, Field(ge=1, le=50)] = 10

    @model_validator(mode="after")
    def _both(self) -> RecommendationQuery:
        _point(self.lat, self.lng)
        return self


class PastCaseIn(Strict):
    title: Annotated[str, Field(min_length=1, max_length=100, pattern=TRIMMED), Text]
    description: Annotated[str, Field(max_length=1000, pattern=MULTI_LINE), Text] = ""
    year: Annotated[int, Field(ge=1970, le=2100), JsonInt] | None = None


Bio = Annotated[str, Field(max_length=2000, pattern=MULTI_LINE), Text]
Training = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=100, pattern=TRIMMED), Text]], Field(max_length=20)
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
    gender: people.Gender = unchanged()
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


class WorkerIn(Strict):
    """A worker to onboard: their user id (the JWT sub they sign in with) and profile."""

    id: Annotated[UserId, AfterValidator(_not_me)]
    name: Name
    gender: people.Gender
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
    status: people.VettingStatus
    identity_verified: StrictBool | None = Field(default=None, description="null or left out: unchanged")
    note: Annotated[str, Field(max_length=500, pattern=MULTI_LINE), Text] | None = None


class _CertificateFields(Strict):
    number: Annotated[str, Field(max_length=64, pattern=SINGLE_LINE), Text] = ""
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


class CustomerIn(Strict):
    name: Annotated[str, Field(max_length=50, pattern=SINGLE_LINE), Text] = unchanged()
    phone: Phone | None = None


class AddressIn(Strict):
    label: Annotated[str, Field(max_length=30, pattern=SINGLE_LINE), Text] = ""
    line: Annotated[str, Field(min_length=1, max_length=200, pattern=TRIMMED), Text]
    city: Annotated[str, Field(max_length=50, pattern=SINGLE_LINE), Text] = ""
    lat: Lat
    lng: Lng
    is_default: StrictBool = False


class AddressPatch(Strict):
    label: Annotated[str, Field(max_length=30, pattern=SINGLE_LINE), Text] = unchanged()
    line: Annotated[str, Field(min_length=1, max_length=200, pattern=TRIMMED), Text] = unchanged()
    city: Annotated[str, Field(max_length=50, pattern=SINGLE_LINE), Text] = unchanged()
    lat: Lat = unchanged()
    lng: Lng = unchanged()
    is_default: StrictBool = unchanged()


# Helpers ---------------------------------------------------------------------------------------


def _today(request: web.Request) -> date:
    return datetime.now(ZoneInfo(runtime(request).config.timezone)).date()


def _worker_id(request: web.Request) -> str:
    value = request.match_info["worker_id"]
    if not _ID.fullmatch(value):
        raise NotFound("no such worker", code="worker_not_found")
    return value


def _uuid(request: web.Request, name: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        raise NotFound(f"no such {what}", code=f"{what}_not_found") from None


async def _body(request: web.Request, model: type[M]) -> M:
    """``read_body``, but a missing body is refused (422) rather than read as ``{}``."""
    if not (await request.read()).strip():
        raise InvalidPayload("send the request body as JSON", code="body_missing")
    return await read_body(request, model)


def _pool(request: web.Request) -> asyncpg.Pool:
    return request.app[CONTEXT].pool


# Catalog ---------------------------------------------------------------------------------------


async def list_categories(request: web.Request) -> web.Response:
    return reply(catalog.CategoryList(categories=await catalog.list_categories(_pool(request))))


async def list_services(request: web.Request) -> web.Response:
    query = read_query(request, ServiceQuery)
    found = await catalog.search_services(
        _pool(request),
        category=query.category,
        duration_minutes=query.duration_minutes,
        q=query.q,
        limit=query.limit,
    )
    return reply(catalog.ServiceList(services=found))


async def get_service(request: web.Request) -> web.Response:
    service_id = request.match_info["service_id"]
    service = await catalog.get_service(_pool(request), service_id) if _CODE.fullmatch(service_id) else None
    if service is None:
        raise NotFound("no such service", code="service_not_found")
    return reply(service)


# Workers ---------------------------------------------------------------------------------------


async def list_workers(request: web.Request) -> web.Response:
    query = read_query(request, WorkerQuery)
    pool = _pool(request)
    skills = await catalog.skills_for(
        pool, category=query.category, service=query.service, duration_minutes=query.duration_minutes
    )
    found = await people.list_workers(
        pool,
        _today(request),
        skills=skills,
        gender=query.gender,
        level=query.level,
        q_tokens=catalog.keyword_tokens(query.q),
        near=_point(query.lat, query.lng),
        limit=query.limit,
        offset=query.offset,
    )
    return reply(found)


async def get_worker(request: web.Request) -> web.Response:
    profile = await people.public_profile(_pool(request), _worker_id(request), _today(request))
    if profile is None:
        raise NotFound("no such worker", code="worker_not_found")
    return reply(profile)


async def get_my_worker_profile(request: web.Request) -> web.Response:
    user = authenticate(request, Role.WORKER)
    record = await people.worker_record(_pool(request), user.user_id, _today(request))
    if record is None:
        raise NotFound("no worker profile: an admin onboards workers first", code="worker_not_found")
    return reply(record)


async def update_my_worker_profile(request: web.Request) -> web.Response:
    user = authenticate(request, Role.WORKER)
    body = await _body(request, WorkerProfilePatch)
    async with _pool(request).acquire() as conn, conn.transaction():
        record = await people.update_profile(conn, user.user_id, body.changes(), _today(request))
    return reply(record)


# Admin: vetting --------------------------------------------------------------------------------


async def create_worker(request: web.Request) -> web.Response:
    admin = authenticate(request, Role.ADMIN)
    body = await _body(request, WorkerIn)
    today = _today(request)
    fields = body.model_dump(exclude={"id"})

    async def create(conn: Conn) -> people.WorkerRecord:
        return await people.create_worker(conn, body.id, fields, today)

    return await create_once(request, _pool(request), admin.user_id, create)


async def admin_list_workers(request: web.Request) -> web.Response:
    authenticate(request, Role.ADMIN)
    query = read_query(request, AdminWorkerQuery)
    found = await people.admin_list(
        _pool(request),
        _today(request),
        vetting_status=query.vetting_status,
        expiring_within_days=query.expiring_within_days,
        q_tokens=catalog.keyword_tokens(query.q),
        limit=query.limit,
        offset=query.offset,
    )
    return reply(found)


async def admin_get_worker(request: web.Request) -> web.Response:
    authenticate(request, Role.ADMIN)
    record = await people.worker_record(_pool(request), _worker_id(request), _today(request))
    if record is None:
        raise NotFound("no such worker", code="worker_not_found")
    return reply(record)


async def admin_update_worker(request: web.Request) -> web.Response:
    authenticate(request, Role.ADMIN)
    worker_id = _worker_id(request)
    body = await _body(request, WorkerProfilePatch)
    async with _pool(request).acquire() as conn, conn.transaction():
        record = await people.update_profile(conn, worker_id, body.changes(), _today(request))
    return reply(record)


async def set_vetting(request: web.Request) -> web.Response:
    admin = authenticate(request, Role.ADMIN)
    worker_id = _worker_id(request)
    body = await _body(request, VettingIn)
    async with _pool(request).acquire() as conn, conn.transaction():
        record = await people.set_vetting(
            conn,
            worker_id,
            status=body.status,
            identity_verified=body.identity_verified,
            note=body.note,
            admin_id=admin.user_id,
            today=_today(request),
        )
    return reply(record)


async def add_certificate(request: web.Request) -> web.Response:
    admin = authenticate(request, Role.ADMIN)
    worker_id = _worker_id(request)
    body = (await _body(request, CertificateIn)).root
    today = _today(request)

    async def create(conn: Conn) -> people.Certificate:
        return await people.add_certificate(conn, worker_id, body.model_dump(), today)

    return await create_once(request, _pool(request), admin.user_id, create)


async def delete_certificate(request: web.Request) -> web.Response:
    authenticate(request, Role.ADMIN)
    worker_id = _worker_id(request)
    certificate_id = _uuid(request, "certificate_id", "certificate")
    if not await people.delete_certificate(_pool(request), worker_id, certificate_id):
        raise NotFound("no such certificate", code="certificate_not_found")
    return web.Response(status=204)


# Customers -------------------------------------------------------------------------------------


async def get_customer(request: web.Request) -> web.Response:
    user = authenticate(request, Role.CUSTOMER)
    return reply(await people.customer(_pool(request), user.user_id))


async def update_customer(request: web.Request) -> web.Response:
    user = authenticate(request, Role.CUSTOMER)
    body = await _body(request, CustomerIn)
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    return reply(await people.update_customer(_pool(request), user.user_id, changes))


async def list_addresses(request: web.Request) -> web.Response:
    user = authenticate(request, Role.CUSTOMER)
    return reply(people.AddressList(addresses=await people.addresses(_pool(request), user.user_id)))


async def create_address(request: web.Request) -> web.Response:
    user = authenticate(request, Role.CUSTOMER)
    body = await _body(request, AddressIn)

    async def create(conn: Conn) -> people.Address:
        return await people.create_address(conn, user.user_id, body.model_dump())

    return await create_once(request, _pool(request), user.user_id, create)


async def update_address(request: web.Request) -> web.Response:
    user = authenticate(request, Role.CUSTOMER)
    address_id = _uuid(request, "address_id", "address")
    body = await _body(request, AddressPatch)
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    async with _pool(request).acquire() as conn, conn.transaction():
        address = await people.update_address(conn, user.user_id, address_id, changes)
    return reply(address)


async def delete_address(request: web.Request) -> web.Response:
    user = authenticate(request, Role.CUSTOMER)
    address_id = _uuid(request, "address_id", "address")
    async with _pool(request).acquire() as conn, conn.transaction():
        await people.delete_address(conn, user.user_id, address_id)
    return web.Response(status=204)


# Recommendations -------------------------------------------------------------------------------


async def recommendations(request: web.Request) -> web.Response:
    user = authenticate(request, Role.CUSTOMER)
    query = read_query(request, RecommendationQuery)
    found = await recommend.recommend(
        _pool(request), user.user_id, _today(request), point=_point(query.lat, query.lng), limit=query.limit
    )
    return reply(found)


_ADMIN = (Role.ADMIN.value,)
_CUSTOMER = (Role.CUSTOMER.value,)
_WORKER = (Role.WORKER.value,)

OPERATIONS: list[Operation] = [
    Operation(
        "GET",
        "/api/v1/catalog/categories",
        list_categories,
        "Service categories in catalog order",
        "catalog",
        auth=False,
        responses={200: catalog.CategoryList},
    ),
    Operation(
        "GET",
        "/api/v1/services",
        list_services,
        "Services, filtered by category, duration and keywords (Chinese or English)",
        "catalog",
        auth=False,
        query=ServiceQuery,
        responses={200: catalog.ServiceList},
    ),
    Operation(
        "GET",
        "/api/v1/services/{service_id}",
        get_service,
        "One service with its price summary and durations",
        "catalog",
        auth=False,
        responses={200: catalog.Service},
        errors=(404,),
        path_params={"service_id": {"type": "string"}},
    ),
    Operation(
        "GET",
        "/api/v1/workers",
        list_workers,
        "Vetted workers customers can book, filtered; nearest first with lat/lng",
        "workers",
        auth=False,
        query=WorkerQuery,
        responses={200: people.WorkerList},
    ),
    Operation(
        "GET",
        "/api/v1/workers/me",
        get_my_worker_profile,
        "The worker's own profile, vetting state and certificates",
        "workers",
        roles=_WORKER,
        responses={200: people.WorkerRecord},
        errors=(404,),
    ),
    Operation(
        "PUT",
        "/api/v1/workers/me",
        update_my_worker_profile,
        "Edit the worker's own profile (not vetting, certificates or ratings)",
        "workers",
        roles=_WORKER,
        body=WorkerProfilePatch,
        responses={200: people.WorkerRecord},
        errors=(404,),
    ),
    Operation(
        "GET",
        "/api/v1/workers/{worker_id}",
        get_worker,
        "A vetted worker's public profile with recent reviews",
        "workers",
        auth=False,
        responses={200: people.WorkerProfile},
        errors=(404,),
        path_params={"worker_id": {"type": "string"}},
    ),
    Operation(
        "POST",
        "/api/v1/admin/workers",
        create_worker,
        "Onboard a worker (vetting starts pending)",
        "vetting",
        roles=_ADMIN,
        body=WorkerIn,
        responses={201: people.WorkerRecord},
        errors=(409,),
        idempotent=True,
    ),
    Operation(
        "GET",
        "/api/v1/admin/workers",
        admin_list_workers,
        "Every worker with vetting records; filter by status or expiring certificates",
        "vetting",
        roles=_ADMIN,
        query=AdminWorkerQuery,
        responses={200: people.WorkerRecordList},
    ),
    Operation(
        "GET",
        "/api/v1/admin/workers/{worker_id}",
        admin_get_worker,
        "One worker's full record",
        "vetting",
        roles=_ADMIN,
        responses={200: people.WorkerRecord},
        errors=(404,),
        path_params={"worker_id": {"type": "string"}},
    ),
    Operation(
        "PUT",
        "/api/v1/admin/workers/{worker_id}",
        admin_update_worker,
        "Correct a worker's profile fields",
        "vetting",
        roles=_ADMIN,
        body=WorkerProfilePatch,
        responses={200: people.WorkerRecord},
        errors=(404,),
        path_params={"worker_id": {"type": "string"}},
    ),
    Operation(
        "PUT",
        "/api/v1/admin/workers/{worker_id}/vetting",
        set_vetting,
        "Record a vetting decision",
        "vetting",
        roles=_ADMIN,
        body=VettingIn,
        responses={200: people.WorkerRecord},
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
        roles=_ADMIN,
        body=CertificateIn,
        responses={201: people.Certificate},
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
        roles=_ADMIN,
        responses={204: None},
        errors=(404,),
        path_params={"worker_id": {"type": "string"}, "certificate_id": {"type": "string", "format": "uuid"}},
    ),
    Operation(
        "GET",
        "/api/v1/customers/me",
        get_customer,
        "The customer's profile (created on first use)",
        "customers",
        roles=_CUSTOMER,
        responses={200: people.Customer},
    ),
    Operation(
        "PUT",
        "/api/v1/customers/me",
        update_customer,
        "Change the customer's name or phone",
        "customers",
        roles=_CUSTOMER,
        body=CustomerIn,
        responses={200: people.Customer},
    ),
    Operation(
        "GET",
        "/api/v1/customers/me/addresses",
        list_addresses,
        "Saved addresses, the default first",
        "customers",
        roles=_CUSTOMER,
        responses={200: people.AddressList},
    ),
    Operation(
        "POST",
        "/api/v1/customers/me/addresses",
        create_address,
        "Save an address (the first one becomes the default)",
        "customers",
        roles=_CUSTOMER,
        body=AddressIn,
        responses={201: people.Address},
        errors=(409,),
        idempotent=True,
    ),
    Operation(
        "PUT",
        "/api/v1/customers/me/addresses/{address_id}",
        update_address,
        "Change a saved address",
        "customers",
        roles=_CUSTOMER,
        body=AddressPatch,
        responses={200: people.Address},
        errors=(404,),
        path_params={"address_id": {"type": "string", "format": "uuid"}},
    ),
    Operation(
        "DELETE",
        "/api/v1/customers/me/addresses/{address_id}",
        delete_address,
        "Delete a saved address (the most recent other one becomes the default)",
        "customers",
        roles=_CUSTOMER,
        responses={204: None},
        errors=(404,),
        path_params={"address_id": {"type": "string", "format": "uuid"}},
    ),
    Operation(
        "GET",
        "/api/v1/recommendations",
        recommendations,
        "Popular services, the customer's past services and workers, workers nearby",
        "recommendations",
        roles=_CUSTOMER,
        query=RecommendationQuery,
        responses={200: recommend.Recommendations},
    ),
]
