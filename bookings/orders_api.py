"""HTTP views for quotes, bookings, payment, support actions, dispatch rules and the worker's schedule."""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pydantic
from aiohttp import web

from bookings import checkout, orders
from bookings.idempotency import create_once
from bookings.keys import runtime
from bookings.orders import Actor, Address, Booking, BookingDetail, ServiceRef, Status
from bookings.payloads import Assign, BookingsQuery, Cancel, MarkPaid, Redispatch, ScheduleQuery, SlotRequest
from bookings.protocol import OfferView
from bookings.rules import DispatchRules, RulesUpdate
from hub.acks import InvalidPayload, NotFound
from hub.auth import Role
from hub.http import authenticate
from hub.openapi import Operation, read_body, read_query, reply

UUID_PARAM = {"booking_id": {"type": "string", "format": "uuid"}}
MAX_SCHEDULE_DAYS = 31


class BookingList(pydantic.BaseModel):
    items: list[Booking]


class Navigation(pydantic.BaseModel):
    amap: str
    amap_web: str
    baidu: str
    baidu_web: str


class ScheduleJob(pydantic.BaseModel):
    booking_id: uuid.UUID
    status: Status
    service: ServiceRef
    slot_start: datetime
    slot_end: datetime
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


def _booking_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["booking_id"])
    except ValueError:
        raise NotFound("no such booking", code="booking_not_found") from None


async def quote(request: web.Request) -> web.Response:
    user = authenticate(request, Role.CUSTOMER)
    wanted = await read_body(request, SlotRequest)
    rt = runtime(request)
    async with rt.pool.acquire() as conn:
        await checkout.address_for(conn, user.user_id, wanted)
        return reply(await checkout.quote(conn, user.user_id, wanted, rt.config))


async def create(request: web.Request) -> web.Response:
    user = authenticate(request, Role.CUSTOMER)
    wanted = await read_body(request, SlotRequest)
    rt = runtime(request)

    async def make(conn: Any) -> pydantic.BaseModel:
        return await rt.create(conn, user.user_id, wanted)

    return await create_once(request, rt.pool, user.user_id, make)


async def listing(request: web.Request) -> web.Response:
    """Customers see their own bookings, workers the ones assigned to them, staff everyone's."""
    user = authenticate(request)
    query = read_query(request, BookingsQuery)
    mine: dict[str, Any] = {}
    if user.role == Role.CUSTOMER:
        mine["customer_id"] = user.user_id
    elif user.role == Role.WORKER:
        mine["worker_id"] = user.user_id
    items = await orders.listing(
        runtime(request).pool,
        statuses=query.status,
        escalated=query.escalated,
        late=query.late,
        before=query.before,
        limit=query.limit,
        **mine,
    )
    return reply(BookingList(items=items))


async def show(request: web.Request) -> web.Response:
    user = authenticate(request)
    return reply(await runtime(request).visible(user, _booking_id(request)))


async def cancel(request: web.Request) -> web.Response:
    user = authenticate(request, Role.CUSTOMER, Role.SUPPORT, Role.ADMIN)
    booking_id = _booking_id(request)
    body = await read_body(request, Cancel)
    return reply(await runtime(request).cancel(user, booking_id, body.reason))


async def mark_paid(request: web.Request) -> web.Response:
    """Until a payment provider is wired in, an admin (or the demo) marks a booking paid; the
    provider's callback will make the same call, idempotent per payment reference."""
    user = authenticate(request, Role.ADMIN)
    booking_id = _booking_id(request)
    body = await read_body(request, MarkPaid)
    return reply(
        await runtime(request).mark_paid(booking_id, body.payment_ref, Actor(user.user_id, user.role.value))
    )


async def assign(request: web.Request) -> web.Response:
    user = authenticate(request, Role.SUPPORT, Role.ADMIN)
    booking_id = _booking_id(request)
    body = await read_body(request, Assign)
    return reply(await runtime(request).assign(user, booking_id, body.worker_id))


async def redispatch(request: web.Request) -> web.Response:
    user = authenticate(request, Role.SUPPORT, Role.ADMIN)
    booking_id = _booking_id(request)
    body = await read_body(request, Redispatch)
    return reply(await runtime(request).redispatch(user, booking_id, body.reason))


async def dispatch_rules(request: web.Request) -> web.Response:
    authenticate(request, Role.ADMIN, Role.SUPPORT)
    rt = runtime(request)
    return reply(await rt.rules.get(rt.pool))


async def update_dispatch_rules(request: web.Request) -> web.Response:
    user = authenticate(request, Role.ADMIN)
    change = await read_body(request, RulesUpdate)
    rt = runtime(request)
    return reply(await rt.rules.update(rt.pool, change, user.user_id))


async def schedule(request: web.Request) -> web.Response:
    """Day view by default; ``view=week`` from the Monday of ``from``'s week; or an explicit range."""
    user = authenticate(request, Role.WORKER)
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
    user = authenticate(request, Role.WORKER)
    return reply(
        OfferList.model_validate({"items": await runtime(request).dispatcher.pending_for(user.user_id)})
    )


_TAG = "bookings"
OPERATIONS = [
    Operation(
        "POST", "/api/v1/bookings/quote", quote, "Price a slot: unit price x duration, surcharges, discounts",
        _TAG, roles=("customer",), body=SlotRequest, responses={200: checkout.QuoteResult},
    ),
    Operation(
        "POST", "/api/v1/bookings", create, "Book a service (pending_payment until paid)",
        _TAG, roles=("customer",), body=SlotRequest, responses={201: BookingDetail}, idempotent=True,
    ),
    Operation(
        "GET", "/api/v1/bookings", listing, "Bookings: a customer's own, a worker's assigned, all for staff",
        _TAG, query=BookingsQuery, responses={200: BookingList},
    ),
    Operation(
        "GET", "/api/v1/bookings/{booking_id}", show, "A booking with its timeline",
        _TAG, responses={200: BookingDetail}, errors=(404,), path_params=UUID_PARAM,
    ),
    Operation(
        "POST", "/api/v1/bookings/{booking_id}/cancel", cancel, "Cancel (fee by notice once a worker is set)",
        _TAG, roles=("customer", "support", "admin"), body=Cancel, responses={200: BookingDetail},
        errors=(404, 409), path_params=UUID_PARAM,
    ),
    Operation(
        "POST", "/api/v1/admin/bookings/{booking_id}/mark-paid", mark_paid,
        "Mark a booking paid (the payment provider's callback does the same); starts dispatch",
        "admin", roles=("admin",), body=MarkPaid, responses={200: BookingDetail}, errors=(404, 409),
        path_params=UUID_PARAM,
    ),
    Operation(
        "POST", "/api/v1/admin/bookings/{booking_id}/assign", assign, "Assign a worker by hand",
        "admin", roles=("support", "admin"), body=Assign, responses={200: BookingDetail}, errors=(404, 409),
        path_params=UUID_PARAM,
    ),
    Operation(
        "POST", "/api/v1/admin/bookings/{booking_id}/redispatch", redispatch,
        "Take the booking from a late worker and offer it again", "admin", roles=("support", "admin"),
        body=Redispatch, responses={200: BookingDetail}, errors=(404, 409), path_params=UUID_PARAM,
    ),
    Operation(
        "GET", "/api/v1/admin/settings/dispatch", dispatch_rules, "Dispatch rules: waves, deadlines, weights",
        "admin", roles=("support", "admin"), responses={200: DispatchRules},
    ),
    Operation(
        "PUT", "/api/v1/admin/settings/dispatch", update_dispatch_rules, "Change dispatch rules (partial)",
        "admin", roles=("admin",), body=RulesUpdate, responses={200: DispatchRules},
    ),
    Operation(
        "GET", "/api/v1/workers/me/schedule", schedule, "The worker's jobs by day, with navigation links",
        "workers", roles=("worker",), query=ScheduleQuery, responses={200: Schedule},
    ),
    Operation(
        "GET", "/api/v1/workers/me/offers", offers, "The worker's open offers", "workers", roles=("worker",),
        responses={200: OfferList},
    ),
]  # fmt: skip
