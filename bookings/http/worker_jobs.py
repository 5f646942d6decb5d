"""A worker's jobs: the schedule by day and the open offers."""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import UTC, date, datetime, timedelta

import pydantic
from aiohttp import web

from bookings.keys import runtime
from bookings.orders import Address, ServiceRef, Status
from bookings.payloads import ScheduleQuery
from bookings.protocol import OfferView
from hub.auth import Role
from hub.errors import InvalidPayload
from hub.times import Timestamp
from hub.web.openapi import Operation, caller, read_query, reply

MAX_SCHEDULE_DAYS = 31


class Navigation(pydantic.BaseModel):
    amap: str
    amap_web: str
    baidu: str
    baidu_web: str


class ScheduleJob(pydantic.BaseModel):
    booking_id: uuid.UUID
    status: Status
    service: ServiceRef
    slot_start: Timestamp
    slot_end: Timestamp
    local_start: str
    address: Address
    special_requests: str
    pay_cents: int
    customer_id: str
    navigation: Navigation


class ScheduleDay(pydantic.BaseModel):
    date: date
    jobs: list[ScheduleJob]


class Schedule(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(populate_by_name=True, serialize_by_alias=True)

    start: date = pydantic.Field(alias="from")
    to: date
    timezone: str
    days: list[ScheduleDay]


class OfferList(pydantic.BaseModel):
    items: list[OfferView]
    next_cursor: None = pydantic.Field(description="Always null: the list has one page.")


async def schedule(request: web.Request) -> web.Response:
    """Day view by default; ``view=week`` from the Monday of ``from``'s week; or an explicit range."""
    user = caller(request)
    query = read_query(request, ScheduleQuery)
    rt = runtime(request)
    today = datetime.now(UTC).astimezone(zoneinfo.ZoneInfo(rt.config.timezone)).date()
    first = query.start or today
    if query.view == "week" and query.to is None:
        first -= timedelta(days=first.weekday())
    last = query.to or (first + timedelta(days=6 if query.view == "week" else 0))
    if last < first or (last - first).days >= MAX_SCHEDULE_DAYS:
        raise InvalidPayload(
            f"'to' must be on or after 'from', at most {MAX_SCHEDULE_DAYS} days",
            code="invalid_range",
            details=[{"loc": ["query", "to"], "message": "out of range"}],
        )
    return reply(Schedule.model_validate(await rt.schedule(user.user_id, first, last)))


async def offers(request: web.Request) -> web.Response:
    """The worker's open offers: what an app shows again after a restart or a lost connection."""
    user = caller(request)
    return reply(
        OfferList.model_validate(
            {"items": await runtime(request).dispatcher.pending_for(user.user_id), "next_cursor": None}
        )
    )


OPERATIONS = [
    Operation(
        "GET", "/api/v1/workers/me/schedule", schedule, "The worker's jobs by day, with navigation links",
        "workers", roles=(Role.WORKER,), query=ScheduleQuery, responses={200: Schedule},
    ),
    Operation(
        "GET", "/api/v1/workers/me/offers", offers, "The worker's open offers", "workers",
        roles=(Role.WORKER,),
        responses={200: OfferList},
    ),
]  # fmt: skip
