"""What the views share to read a request: input types and patterns, path ids, the body, today.

Request models built from these refuse anything malformed with 422; malformed path ids answer
404 like unknown ones, so a typo and a deleted id look the same to a client.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

import asyncpg
from aiohttp import web
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field

from bookings.keys import runtime
from hub.acks import Payload
from hub.auth import Principal, Role
from hub.errors import Forbidden, InvalidPayload, NotFound, Unauthenticated
from hub.keys import CONTEXT
from hub.web.openapi import authenticate, read_body

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
CODE_RE = re.compile(CODE_PATTERN)


def not_me(value: str) -> str:
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


JsonInt = BeforeValidator(_json_int)
UserId = Annotated[str, Field(pattern=ID_PATTERN)]
Code = Annotated[str, Field(pattern=CODE_PATTERN)]
Skill = Annotated[str, Field(pattern=SKILL_PATTERN)]
Name = Annotated[str, Field(min_length=1, max_length=50, pattern=TRIMMED)]
Line = Annotated[str, Field(max_length=200, pattern=SINGLE_LINE)]
Keyword = Annotated[str, Field(min_length=1, max_length=100, pattern=SINGLE_LINE)]
Url = Annotated[str, Field(max_length=500, pattern=URL_PATTERN)]
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


def point(lat: float | None, lng: float | None) -> tuple[float, float] | None:
    if (lat is None) != (lng is None):
        raise ValueError("give both lat and lng, or neither")
    return None if lat is None or lng is None else (lat, lng)


def local_today(request: web.Request) -> date:
    return datetime.now(ZoneInfo(runtime(request).config.timezone)).date()


def path_worker_id(request: web.Request) -> str:
    value = request.match_info["worker_id"]
    if not _ID.fullmatch(value):
        raise NotFound("no such worker", code="worker_not_found")
    return value


def path_uuid(request: web.Request, name: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        raise NotFound(f"no such {what}", code=f"{what}_not_found") from None


async def required_body(request: web.Request, model: type[M]) -> M:
    """``read_body``, but a missing body is refused (422) rather than read as ``{}``."""
    if not (await request.read()).strip():
        raise InvalidPayload("send the request body as JSON", code="body_missing")
    return await read_body(request, model)


def customer_or_none(request: web.Request) -> Principal | None:
    """The customer calling a public route, when a valid customer token comes with it; anyone
    else (no token, an expired one, another role) is served anonymously, as the route promises."""
    if "Authorization" not in request.headers:
        return None
    try:
        return authenticate(request, (Role.CUSTOMER,))
    except (Unauthenticated, Forbidden):
        return None


def pool_of(request: web.Request) -> asyncpg.Pool:
    return request.app[CONTEXT].pool
