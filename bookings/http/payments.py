"""Payments: a customer pays a booking with a provider; providers send their notifies here."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pydantic
from aiohttp import web

from bookings.http.bookings import UUID_PARAM, booking_id_param
from bookings.http.idempotency import create_once
from bookings.keys import runtime
from bookings.orders import Actor
from bookings.payloads import PayRequest, RefundRequest
from bookings.payments import refunding
from bookings.payments.paying import PaymentView
from bookings.payments.refunding import RefundView
from bookings.payments.service import notify_request
from hub.auth import ANY_ROLE, STAFF, Role
from hub.cursors import NoNextCursor
from hub.web.openapi import Operation, caller, read_body, reply

METHOD_PARAM = {"method": {"type": "string", "enum": ["wechat", "alipay", "card"]}}
NOTIFY_BODY_LIMIT = 64 * 1024  # every provider's notify is a few kilobytes


class PaymentList(pydantic.BaseModel):
    items: list[PaymentView]
    next_cursor: NoNextCursor


class RefundList(pydantic.BaseModel):
    items: list[RefundView]
    next_cursor: NoNextCursor


async def pay(request: web.Request) -> web.Response:
    return await pay_for(request, booking_id_param(request), runtime(request).payments.start)


async def pay_for(request: web.Request, target: uuid.UUID, start: Any) -> web.Response:
    """A payment of ``target`` (a booking, a package order) by the calling customer, made once per
    Idempotency-Key: ``start(conn, customer, target, method, channel, return_url=, payer=)``."""
    user = caller(request)
    wanted = await read_body(request, PayRequest)

    async def make(conn: Any) -> pydantic.BaseModel:
        made: pydantic.BaseModel = await start(
            conn,
            user.user_id,
            target,
            wanted.method,
            wanted.channel,
            return_url=wanted.return_url,
            payer=wanted.payer.model_dump(exclude_none=True),
        )
        return made

    return await create_once(request, runtime(request).pool, user, make)


async def listing(request: web.Request) -> web.Response:
    user = caller(request)
    booking_id = booking_id_param(request)
    rt = runtime(request)
    await rt.visible(user, booking_id)  # its customer and staff (and its worker) may see it
    if user.role == Role.WORKER:
        return reply(
            PaymentList(next_cursor=None, items=[])
        )  # a worker sees the booking, not how it was paid
    return reply(PaymentList(next_cursor=None, items=await rt.payments.for_booking(booking_id)))


async def refund(request: web.Request) -> web.Response:
    """Staff give money back; the provider is asked once the refund is recorded (and again by the
    sweep if it does not answer). Answers the refund as recorded: GET .../refunds shows it settle."""
    user = caller(request)
    booking_id = booking_id_param(request)
    wanted = await read_body(request, RefundRequest)
    rt = runtime(request)
    actor = Actor(user.user_id, user.role.value)
    made: list[uuid.UUID] = []  # the refund this request recorded (none for a replay)

    async def make(conn: Any) -> pydantic.BaseModel:
        row = await rt.payments.refund_in(conn, booking_id, wanted.amount_cents, wanted.reason, actor)
        made.append(row["id"])
        return refunding.view(row)

    response = await create_once(request, rt.pool, user, make)
    for refund_id in made:  # after the commit
        await rt.payments.send_refund(refund_id)
    return response


async def refunds(request: web.Request) -> web.Response:
    user = caller(request)
    booking_id = booking_id_param(request)
    rt = runtime(request)
    await rt.visible(user, booking_id)
    if user.role == Role.WORKER:
        return reply(RefundList(next_cursor=None, items=[]))
    return reply(RefundList(next_cursor=None, items=await rt.payments.refunds_of(booking_id)))


async def notify(request: web.Request) -> web.Response:
    """No token: the provider's signature is the authentication, checked before anything else."""
    method = request.match_info["method"]
    body = await request.content.read(NOTIFY_BODY_LIMIT + 1)
    if len(body) > NOTIFY_BODY_LIMIT:
        raise web.HTTPRequestEntityTooLarge(max_size=NOTIFY_BODY_LIMIT, actual_size=len(body))
    answer = await runtime(request).payments.notify(
        method, notify_request(request.headers, body, datetime.now(UTC))
    )
    return web.Response(status=answer.status, body=answer.body, content_type=answer.content_type)


OPERATIONS = [
    Operation(
        "POST", "/api/v1/bookings/{booking_id}/payments", pay,
        "Pay a booking: what the app needs to pay with the chosen method", "payments",
        roles=(Role.CUSTOMER,), body=PayRequest, responses={201: PaymentView},
        errors=(404, 409, 422, 503), idempotent=True, path_params=UUID_PARAM,
        description="The amount is the booking's total. Errors: `payment_method_unavailable` (422, not "
        "configured here), `not_payable` and `payment_window_closed` (409), `payment_refused` (409, the "
        "provider said no), `payment_provider_unavailable` (503, retry).",
    ),
    Operation(
        "GET", "/api/v1/bookings/{booking_id}/payments", listing,
        "A booking's payments, oldest first", "payments",
        roles=ANY_ROLE, responses={200: PaymentList}, errors=(404,), path_params=UUID_PARAM,
    ),
    Operation(
        "POST", "/api/v1/admin/bookings/{booking_id}/refunds", refund,
        "Give money back through the provider it came from", "payments",
        roles=STAFF, body=RefundRequest, responses={201: RefundView},
        errors=(404, 409), idempotent=True, path_params=UUID_PARAM,
        description="Without `amount_cents`, everything left of the payment. Errors: "
        "`nothing_to_refund`, `refund_exceeds_paid` (409: never more than was paid and not yet "
        "refunded, in flight included).",
    ),
    Operation(
        "GET", "/api/v1/bookings/{booking_id}/refunds", refunds,
        "A booking's refunds, oldest first", "payments",
        roles=ANY_ROLE, responses={200: RefundList}, errors=(404,), path_params=UUID_PARAM,
    ),
    Operation(
        "POST", "/api/v1/payments/notify/{method}", notify,
        "A payment provider's notify (signed by the provider; no token)", "payments",
        auth=False, raw_body=("application/json", "application/x-www-form-urlencoded"),
        responses={200: None, 204: None}, raw_responses={200: ("application/json", "text/plain")},
        errors=(400, 404, 413, 503), path_params=METHOD_PARAM,
        description="Answered as each provider expects (WeChat 204, Alipay `success`, card 200); a "
        "notify that is not genuine or not about a payment the hub can accept is refused (4xx) and "
        "changes nothing.",
    ),
]  # fmt: skip
