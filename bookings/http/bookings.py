"""Bookings: quote, book, list, show and cancel; staff mark paid, assign and redispatch."""

from __future__ import annotations

import uuid
from typing import Any

import pydantic
from aiohttp import web

from bookings import checkout, orders
from bookings.http.idempotency import create_once
from bookings.keys import runtime
from bookings.orders import Actor, Booking, BookingDetail
from bookings.payloads import Assign, BookingsQuery, Cancel, MarkPaid, Redispatch, SlotRequest
from hub.auth import ANY_ROLE, STAFF, Role
from hub.cursors import NEXT_CURSOR_DESCRIPTION
from hub.errors import NotFound
from hub.web.openapi import Operation, caller, read_body, read_query, reply

UUID_PARAM = {"booking_id": {"type": "string", "format": "uuid"}}


class BookingList(pydantic.BaseModel):
    items: list[Booking] = pydantic.Field(description="Newest first.")
    next_cursor: str | None = pydantic.Field(description=NEXT_CURSOR_DESCRIPTION)


def booking_id_param(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["booking_id"])
    except ValueError:
        raise NotFound("no such booking", code="booking_not_found") from None


async def quote(request: web.Request) -> web.Response:
    user = caller(request)
    wanted = await read_body(request, SlotRequest)
    rt = runtime(request)
    async with rt.pool.acquire() as conn:
        await checkout.address_for(conn, user.user_id, wanted)
        return reply(await rt.quote(conn, user.user_id, wanted))


async def create(request: web.Request) -> web.Response:
    user = caller(request)
    wanted = await read_body(request, SlotRequest)
    rt = runtime(request)

    async def make(conn: Any) -> pydantic.BaseModel:
        return await rt.create(conn, user.user_id, wanted)

    return await create_once(request, rt.pool, user, make)


async def listing(request: web.Request) -> web.Response:
    """Customers see their own bookings, workers the ones assigned to them, staff everyone's."""
    user = caller(request)
    query = read_query(request, BookingsQuery)
    mine: dict[str, Any] = {}
    if user.role == Role.CUSTOMER:
        mine["customer_id"] = user.user_id
    elif user.role == Role.WORKER:
        mine["worker_id"] = user.user_id
    items, next_cursor = await orders.listing(
        runtime(request).pool,
        statuses=query.status,
        escalated=query.escalated,
        late=query.late,
        cursor=query.cursor,
        limit=query.limit,
        **mine,
    )
    return reply(BookingList(items=items, next_cursor=next_cursor))


async def show(request: web.Request) -> web.Response:
    user = caller(request)
    return reply(await runtime(request).visible(user, booking_id_param(request)))


async def cancel(request: web.Request) -> web.Response:
    user = caller(request)
    booking_id = booking_id_param(request)
    body = await read_body(request, Cancel)
    return reply(await runtime(request).cancel(user, booking_id, body.reason))


async def mark_paid(request: web.Request) -> web.Response:
    """Until a payment provider is wired in, an admin (or the demo) marks a booking paid; the
    provider's callback will make the same call, idempotent per payment reference."""
    user = caller(request)
    booking_id = booking_id_param(request)
    body = await read_body(request, MarkPaid)
    return reply(
        await runtime(request).mark_paid(booking_id, body.payment_ref, Actor(user.user_id, user.role.value))
    )


async def assign(request: web.Request) -> web.Response:
    user = caller(request)
    booking_id = booking_id_param(request)
    body = await read_body(request, Assign)
    return reply(await runtime(request).assign(user, booking_id, body.worker_id))


async def redispatch(request: web.Request) -> web.Response:
    user = caller(request)
    booking_id = booking_id_param(request)
    body = await read_body(request, Redispatch)
    return reply(await runtime(request).redispatch(user, booking_id, body.reason))


_TAG = "bookings"
OPERATIONS = [
    Operation(
        "POST", "/api/v1/bookings/quote", quote, "Price a slot: unit price x duration, surcharges, discounts",
        _TAG, roles=(Role.CUSTOMER,), body=SlotRequest, responses={200: checkout.QuoteResult},
        errors=(409,),
    ),
    Operation(
        "POST", "/api/v1/bookings", create, "Book a service (pending_payment until paid)",
        _TAG, roles=(Role.CUSTOMER,), body=SlotRequest, responses={201: BookingDetail}, idempotent=True,
        errors=(409,),
    ),
    Operation(
        "GET", "/api/v1/bookings", listing, "Bookings: a customer's own, a worker's assigned, all for staff",
        _TAG, roles=ANY_ROLE, query=BookingsQuery, responses={200: BookingList},
    ),
    Operation(
        "GET", "/api/v1/bookings/{booking_id}", show, "A booking with its timeline",
        _TAG, roles=ANY_ROLE, responses={200: BookingDetail}, errors=(404,), path_params=UUID_PARAM,
    ),
    Operation(
        "POST", "/api/v1/bookings/{booking_id}/cancel", cancel, "Cancel (fee by notice once a worker is set)",
        _TAG, roles=(Role.CUSTOMER, Role.SUPPORT, Role.ADMIN), body=Cancel, responses={200: BookingDetail},
        errors=(404, 409), path_params=UUID_PARAM,
    ),
    Operation(
        "POST", "/api/v1/admin/bookings/{booking_id}/mark-paid", mark_paid,
        "Mark a booking paid (the payment provider's callback does the same); starts dispatch",
        "admin", roles=(Role.ADMIN,), body=MarkPaid, responses={200: BookingDetail}, errors=(404, 409),
        path_params=UUID_PARAM,
    ),
    Operation(
        "POST", "/api/v1/admin/bookings/{booking_id}/assign", assign, "Assign a worker by hand",
        "admin", roles=STAFF, body=Assign, responses={200: BookingDetail}, errors=(404, 409),
        path_params=UUID_PARAM,
    ),
    Operation(
        "POST", "/api/v1/admin/bookings/{booking_id}/redispatch", redispatch,
        "Take the booking from a late worker and offer it again", "admin", roles=STAFF,
        body=Redispatch, responses={200: BookingDetail}, errors=(404, 409), path_params=UUID_PARAM,
    ),
]  # fmt: skip
