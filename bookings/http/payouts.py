"""Payouts: a worker's payout settings and requests; finance's list and decisions."""

from __future__ import annotations

import uuid
from typing import Any

import pydantic
from aiohttp import web

from bookings.http.idempotency import create_once
from bookings.http.inputs import path_uuid, path_worker_id, required_body
from bookings.keys import runtime
from bookings.settlement.accounts import PayoutSettings, PayoutSettingsIn
from bookings.settlement.payouts import PaidByHand, PayoutAsk, PayoutList, PayoutQuery, PayoutView, Rejection
from hub.auth import Principal, Role
from hub.web.openapi import Operation, caller, read_query, reply

PAYOUT_PARAM = {"payout_id": {"type": "string", "format": "uuid"}}
WORKER_PARAM = {"worker_id": {"type": "string"}}


def actor(user: Principal) -> str:
    return f"{user.role.value}:{user.user_id}"


def payout_id(request: web.Request) -> uuid.UUID:
    return path_uuid(request, "payout_id", "payout")


async def my_payout_settings(request: web.Request) -> web.Response:
    user = caller(request)
    return reply(await runtime(request).settlement.payout_settings(user.user_id))


async def set_my_payout_settings(request: web.Request) -> web.Response:
    user = caller(request)
    wanted = await required_body(request, PayoutSettingsIn)
    return reply(await runtime(request).settlement.set_payout_settings(user.user_id, wanted, actor(user)))


async def payout_settings(request: web.Request) -> web.Response:
    return reply(await runtime(request).settlement.payout_settings(path_worker_id(request)))


async def set_payout_settings(request: web.Request) -> web.Response:
    user = caller(request)
    worker_id = path_worker_id(request)
    wanted = await required_body(request, PayoutSettingsIn)
    return reply(await runtime(request).settlement.set_payout_settings(worker_id, wanted, actor(user)))


async def request_payout(request: web.Request) -> web.Response:
    user = caller(request)
    wanted = await required_body(request, PayoutAsk)
    rt = runtime(request)

    async def make(conn: Any) -> pydantic.BaseModel:
        return await rt.settlement.request_payout(conn, user.user_id, wanted.amount_cents, actor(user))

    return await create_once(request, rt.pool, user, make)


async def my_payouts(request: web.Request) -> web.Response:
    user = caller(request)
    query = read_query(request, PayoutQuery)
    return reply(await runtime(request).settlement.payouts(query, worker_id=user.user_id))


async def all_payouts(request: web.Request) -> web.Response:
    query = read_query(request, PayoutQuery)
    return reply(await runtime(request).settlement.payouts(query))


async def approve(request: web.Request) -> web.Response:
    user = caller(request)
    return reply(await runtime(request).settlement.approve(payout_id(request), actor(user)))


async def reject(request: web.Request) -> web.Response:
    user = caller(request)
    wanted = await required_body(request, Rejection)
    return reply(await runtime(request).settlement.reject(payout_id(request), actor(user), wanted.reason))


async def paid(request: web.Request) -> web.Response:
    user = caller(request)
    wanted = await required_body(request, PaidByHand)
    return reply(
        await runtime(request).settlement.paid_by_hand(payout_id(request), actor(user), wanted.transfer_ref)
    )


async def failed(request: web.Request) -> web.Response:
    user = caller(request)
    wanted = await required_body(request, Rejection)
    return reply(await runtime(request).settlement.failed(payout_id(request), actor(user), wanted.reason))


ADMIN = (Role.ADMIN,)
DECISION = "Errors: `payout_not_found` (404), `illegal_transition` (409, with `status` and `wanted`)."

OPERATIONS = [
    Operation(
        "GET", "/api/v1/workers/me/payout-settings", my_payout_settings,
        "The worker's settlement period and payout account (masked)", "payouts",
        roles=(Role.WORKER,), responses={200: PayoutSettings}, errors=(404,),
    ),
    Operation(
        "PUT", "/api/v1/workers/me/payout-settings", set_my_payout_settings,
        "Set the worker's settlement period and payout account", "payouts",
        roles=(Role.WORKER,), body=PayoutSettingsIn, responses={200: PayoutSettings}, errors=(404,),
        description="`method` is `bank_card` (12 to 19 digits, with `bank_name`), `alipay` (a mobile "
        "number or an e-mail address) or `wechat` (the payee's openid). Answers mask the account.",
    ),
    Operation(
        "GET", "/api/v1/admin/workers/{worker_id}/payout-settings", payout_settings,
        "A worker's settlement period and payout account (masked)", "payouts",
        roles=ADMIN, responses={200: PayoutSettings}, errors=(404,), path_params=WORKER_PARAM,
    ),
    Operation(
        "PUT", "/api/v1/admin/workers/{worker_id}/payout-settings", set_payout_settings,
        "Set a worker's settlement period and payout account", "payouts",
        roles=ADMIN, body=PayoutSettingsIn, responses={200: PayoutSettings}, errors=(404,),
        path_params=WORKER_PARAM,
    ),
    Operation(
        "POST", "/api/v1/workers/me/payouts", request_payout,
        "Ask for a payout of (part of) the available balance", "payouts",
        roles=(Role.WORKER,), body=PayoutAsk, responses={201: PayoutView}, errors=(409,), idempotent=True,
        description="The amount is set aside at once. Errors: `payout_account_missing` (409: no "
        "payout settings), `payout_exceeds_balance` (409, with `requested_cents` and `available_cents`).",
    ),
    Operation(
        "GET", "/api/v1/workers/me/payouts", my_payouts,
        "The worker's payouts with their steps, newest first", "payouts",
        roles=(Role.WORKER,), query=PayoutQuery, responses={200: PayoutList},
    ),
    Operation(
        "GET", "/api/v1/admin/payouts", all_payouts,
        "Payouts, newest first: `status=requested` is finance's queue", "payouts",
        roles=ADMIN, query=PayoutQuery, responses={200: PayoutList},
    ),
    Operation(
        "POST", "/api/v1/admin/payouts/{payout_id}/approve", approve,
        "Approve a requested payout; it is sent through its method's transfer, or waits to be paid by hand",
        "payouts", roles=ADMIN, responses={200: PayoutView}, errors=(404, 409), path_params=PAYOUT_PARAM,
        description=DECISION,
    ),
    Operation(
        "POST", "/api/v1/admin/payouts/{payout_id}/reject", reject,
        "Reject a requested or approved payout: the amount is back in the worker's balance", "payouts",
        roles=ADMIN, body=Rejection, responses={200: PayoutView}, errors=(404, 409),
        path_params=PAYOUT_PARAM, description=DECISION,
    ),
    Operation(
        "POST", "/api/v1/admin/payouts/{payout_id}/paid", paid,
        "Record an approved payout as paid by hand, with the bank's reference", "payouts",
        roles=ADMIN, body=PaidByHand, responses={200: PayoutView}, errors=(404, 409),
        path_params=PAYOUT_PARAM, description=DECISION,
    ),
    Operation(
        "POST", "/api/v1/admin/payouts/{payout_id}/fail", failed,
        "Record that an approved payout's transfer failed: the amount is back in the worker's balance",
        "payouts", roles=ADMIN, body=Rejection, responses={200: PayoutView}, errors=(404, 409),
        path_params=PAYOUT_PARAM, description=DECISION,
    ),
]  # fmt: skip
