"""Coupons: admins write them; customers see the claimable ones, claim them (by id or code) into
their wallet and list the wallet."""

from __future__ import annotations

from aiohttp import web

from bookings.coupons import admin, campaigns, wallet
from bookings.coupons.models import (
    ClaimableList,
    ClaimByCode,
    CouponChange,
    CouponList,
    CouponsQuery,
    CouponView,
    NewCoupon,
    Wallet,
    WalletCoupon,
    WalletQuery,
)
from bookings.http.idempotency import create_once
from bookings.http.inputs import path_uuid, pool_of, required_body
from hub.auth import STAFF, Role
from hub.storage.db import Conn
from hub.web.openapi import Operation, caller, read_query, reply

COUPON_PARAM = {"coupon_id": {"type": "string", "format": "uuid"}}
CLAIMABLE_SHOWN = 100


async def list_coupons(request: web.Request) -> web.Response:
    query = read_query(request, CouponsQuery)
    return reply(await admin.listing(pool_of(request), query.active, query.limit, query.cursor))


async def create_coupon(request: web.Request) -> web.Response:
    user = caller(request)
    body = await required_body(request, NewCoupon)

    async def make(conn: Conn) -> CouponView:
        return await admin.create(conn, body, user.user_id)

    return await create_once(request, pool_of(request), user, make)


async def show_coupon(request: web.Request) -> web.Response:
    return reply(await admin.get(pool_of(request), path_uuid(request, "coupon_id", "coupon")))


async def change_coupon(request: web.Request) -> web.Response:
    coupon_id = path_uuid(request, "coupon_id", "coupon")
    body = await required_body(request, CouponChange)
    async with pool_of(request).acquire() as conn, conn.transaction():
        return reply(await admin.change(conn, coupon_id, body))


async def delete_coupon(request: web.Request) -> web.Response:
    coupon_id = path_uuid(request, "coupon_id", "coupon")
    async with pool_of(request).acquire() as conn, conn.transaction():
        await admin.delete(conn, coupon_id)
    return web.Response(status=204)


async def claimable(request: web.Request) -> web.Response:
    return reply(
        ClaimableList(next_cursor=None, items=await admin.claimable(pool_of(request), CLAIMABLE_SHOWN))
    )


async def claim(request: web.Request) -> web.Response:
    user = caller(request)
    coupon_id = path_uuid(request, "coupon_id", "coupon")

    async def make(conn: Conn) -> WalletCoupon:
        await campaigns.welcome(conn, user.user_id)
        return await wallet.claim(conn, user.user_id, coupon_id)

    return await create_once(request, pool_of(request), user, make)


async def claim_by_code(request: web.Request) -> web.Response:
    user = caller(request)
    body = await required_body(request, ClaimByCode)

    async def make(conn: Conn) -> WalletCoupon:
        await campaigns.welcome(conn, user.user_id)
        return await wallet.claim_by_code(conn, user.user_id, body.code)

    return await create_once(request, pool_of(request), user, make)


async def my_coupons(request: web.Request) -> web.Response:
    user = caller(request)
    query = read_query(request, WalletQuery)
    items, next_cursor = await wallet.listing(
        pool_of(request), user.user_id, query.state, query.limit, query.cursor
    )
    return reply(Wallet(items=items, next_cursor=next_cursor))


_TAG = "coupons"
OPERATIONS = [
    Operation(
        "GET", "/api/v1/admin/coupons", list_coupons, "Coupons, newest first", _TAG,
        roles=STAFF, query=CouponsQuery, responses={200: CouponList},
    ),
    Operation(
        "POST", "/api/v1/admin/coupons", create_coupon,
        "Create a coupon: fixed or percent with a cap, minimum spend, window, services, limits", _TAG,
        roles=(Role.ADMIN,), body=NewCoupon, responses={201: CouponView}, errors=(409,), idempotent=True,
    ),
    Operation(
        "GET", "/api/v1/admin/coupons/{coupon_id}", show_coupon, "A coupon with its claims so far", _TAG,
        roles=STAFF, responses={200: CouponView}, errors=(404,), path_params=COUPON_PARAM,
    ),
    Operation(
        "PUT", "/api/v1/admin/coupons/{coupon_id}", change_coupon,
        "Change a coupon's names, window, scope, limits or flags (partial; not its discount)", _TAG,
        roles=(Role.ADMIN,), body=CouponChange, responses={200: CouponView}, errors=(404, 409),
        path_params=COUPON_PARAM,
    ),
    Operation(
        "DELETE", "/api/v1/admin/coupons/{coupon_id}", delete_coupon,
        "Delete a coupon nobody holds and no campaign hands out", _TAG,
        roles=(Role.ADMIN,), responses={204: None}, errors=(404, 409), path_params=COUPON_PARAM,
    ),
    Operation(
        "GET", "/api/v1/coupons", claimable, "Coupons a customer may claim now", _TAG,
        roles=(Role.CUSTOMER,), responses={200: ClaimableList},
    ),
    Operation(
        "POST", "/api/v1/coupons/claim", claim_by_code, "Claim a coupon by its code into the wallet", _TAG,
        roles=(Role.CUSTOMER,), body=ClaimByCode, responses={201: WalletCoupon}, errors=(404, 409),
        idempotent=True,
    ),
    Operation(
        "POST", "/api/v1/coupons/{coupon_id}/claim", claim, "Claim a coupon into the wallet", _TAG,
        roles=(Role.CUSTOMER,), responses={201: WalletCoupon}, errors=(404, 409), idempotent=True,
        path_params=COUPON_PARAM,
    ),
    Operation(
        "GET", "/api/v1/customers/me/coupons", my_coupons,
        "The customer's wallet: coupons available, used and expired", _TAG,
        roles=(Role.CUSTOMER,), query=WalletQuery, responses={200: Wallet},
    ),
]  # fmt: skip
