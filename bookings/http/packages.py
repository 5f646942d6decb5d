"""Service packages: admins define them, customers buy, pay and see what is left of them."""

from __future__ import annotations

from typing import Annotated, Any

import pydantic
from aiohttp import web
from pydantic import Field, StrictBool

from bookings import packages
from bookings.http.idempotency import create_once
from bookings.http.inputs import (
    TRIMMED,
    Code,
    JsonInt,
    Minutes,
    Strict,
    path_uuid,
    pool_of,
    required_body,
    unchanged,
)
from bookings.http.payments import pay_for
from bookings.keys import runtime
from bookings.orders import Actor
from bookings.packages import Package, PackageList, PackageOrder, PackageOrderList
from bookings.payloads import MarkPaid, PayRequest
from bookings.payments import paying
from bookings.payments.paying import PaymentView
from hub.auth import STAFF, Role
from hub.cursors import NoNextCursor
from hub.web.openapi import Operation, caller, read_body, reply

PACKAGE_PARAM = {"package_id": {"type": "string", "format": "uuid"}}
ORDER_PARAM = {"package_order_id": {"type": "string", "format": "uuid"}}
PackageName = Annotated[str, Field(min_length=1, max_length=80, pattern=TRIMMED)]
Visits = Annotated[int, Field(ge=1, le=100), JsonInt]
Cents = Annotated[int, Field(ge=1, le=100_000_000), JsonInt]
Days = Annotated[int, Field(ge=1, le=3660), JsonInt]
VisitMinutes = Annotated[Minutes, JsonInt]


class PackageIn(Strict):
    service_id: Code
    name: PackageName
    visits: Visits
    visit_minutes: VisitMinutes = Field(description="the longest booking one visit covers")
    price_cents: Cents
    validity_days: Days = Field(description="how long the visits can be used, from payment")
    active: StrictBool = True


class PackagePatch(Strict):
    """Fields left out keep their value; orders already bought keep the terms they were sold with."""

    name: PackageName = unchanged()
    visits: Visits = unchanged()
    visit_minutes: VisitMinutes = unchanged()
    price_cents: Cents = unchanged()
    validity_days: Days = unchanged()
    active: StrictBool = unchanged()


class PaymentList(pydantic.BaseModel):
    items: list[PaymentView]
    next_cursor: NoNextCursor


async def on_sale(request: web.Request) -> web.Response:
    return reply(await packages.listing(pool_of(request), active_only=True))


async def all_packages(request: web.Request) -> web.Response:
    return reply(await packages.listing(pool_of(request), active_only=False))


async def define(request: web.Request) -> web.Response:
    user = caller(request)
    body = await required_body(request, PackageIn)

    async def make(conn: Any) -> pydantic.BaseModel:
        return await packages.define(conn, body.model_dump())

    return await create_once(request, pool_of(request), user, make)


async def change(request: web.Request) -> web.Response:
    package_id = path_uuid(request, "package_id", "package")
    body = await required_body(request, PackagePatch)
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    async with pool_of(request).acquire() as conn, conn.transaction():
        return reply(await packages.change(conn, package_id, changes))


async def purchase(request: web.Request) -> web.Response:
    user = caller(request)
    package_id = path_uuid(request, "package_id", "package")
    rt = runtime(request)

    async def make(conn: Any) -> pydantic.BaseModel:
        return await packages.buy(conn, user.user_id, package_id, rt.config.payment_minutes)

    return await create_once(request, rt.pool, user, make)


async def pay(request: web.Request) -> web.Response:
    order_id = path_uuid(request, "package_order_id", "package_order")
    return await pay_for(request, order_id, runtime(request).payments.start_package)


async def payments_of(request: web.Request) -> web.Response:
    user = caller(request)
    order_id = path_uuid(request, "package_order_id", "package_order")
    rt = runtime(request)
    mine = user.user_id if user.role == Role.CUSTOMER else None
    await packages.order_of(rt.pool, mine, order_id)
    return reply(PaymentList(next_cursor=None, items=await rt.payments.for_package_order(order_id)))


async def mark_paid(request: web.Request) -> web.Response:
    user = caller(request)
    order_id = path_uuid(request, "package_order_id", "package_order")
    body = await read_body(request, MarkPaid)
    actor = Actor(user.user_id, user.role.value)
    async with pool_of(request).acquire() as conn, conn.transaction():
        row = await paying.mark_package_paid_by_hand(conn, order_id, body.payment_ref, actor)
        return reply(packages.order_view(row))


async def my_packages(request: web.Request) -> web.Response:
    user = caller(request)
    return reply(await packages.orders_of(pool_of(request), user.user_id))


OPERATIONS = [
    Operation(
        "GET", "/api/v1/packages", on_sale, "Service packages on sale (套餐)", "packages",
        auth=False, responses={200: PackageList},
    ),
    Operation(
        "POST", "/api/v1/packages/{package_id}/purchase", purchase,
        "Buy a package: an unpaid package order, paid like a booking", "packages",
        roles=(Role.CUSTOMER,), responses={201: PackageOrder}, errors=(404,), idempotent=True,
        path_params=PACKAGE_PARAM,
        description="Pay it with `POST /api/v1/package-orders/{package_order_id}/payments` before "
        "`payment_due_at`; its visits can be booked once it is paid.",
    ),
    Operation(
        "POST", "/api/v1/package-orders/{package_order_id}/payments", pay,
        "Pay a package order: what the app needs to pay with the chosen method", "packages",
        roles=(Role.CUSTOMER,), body=PayRequest, responses={201: PaymentView},
        errors=(404, 409, 422, 503), idempotent=True, path_params=ORDER_PARAM,
        description="The amount is the package's price. Errors as for paying a booking: "
        "`payment_method_unavailable` (422), `not_payable` and `payment_window_closed` (409), "
        "`payment_refused` (409), `payment_provider_unavailable` (503).",
    ),
    Operation(
        "GET", "/api/v1/package-orders/{package_order_id}/payments", payments_of,
        "A package order's payments, oldest first", "packages",
        roles=(Role.CUSTOMER, *STAFF), responses={200: PaymentList}, errors=(404,), path_params=ORDER_PARAM,
    ),
    Operation(
        "GET", "/api/v1/customers/me/packages", my_packages,
        "The customer's package orders: visits left, expiry, status", "customers",
        roles=(Role.CUSTOMER,), responses={200: PackageOrderList},
    ),
    Operation(
        "GET", "/api/v1/admin/packages", all_packages, "Every package, on sale or not", "admin",
        roles=STAFF, responses={200: PackageList},
    ),
    Operation(
        "POST", "/api/v1/admin/packages", define, "Define a package: visits of one service for one price",
        "admin", roles=(Role.ADMIN,), body=PackageIn, responses={201: Package}, idempotent=True,
        description="Errors: `unknown_service` (422).",
    ),
    Operation(
        "PUT", "/api/v1/admin/packages/{package_id}", change,
        "Change a package (partial); orders already bought keep their terms", "admin",
        roles=(Role.ADMIN,), body=PackagePatch, responses={200: Package}, errors=(404,),
        path_params=PACKAGE_PARAM,
    ),
    Operation(
        "POST", "/api/v1/admin/package-orders/{package_order_id}/mark-paid", mark_paid,
        "Mark a package order paid (money received outside the providers)", "admin",
        roles=(Role.ADMIN,), body=MarkPaid, responses={200: PackageOrder}, errors=(404, 409),
        path_params=ORDER_PARAM,
        description="Idempotent per `payment_ref`; the same path as a provider's notify. Errors: "
        "`already_paid`, `payment_ref_used` (409).",
    ),
]  # fmt: skip
