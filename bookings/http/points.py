"""Points: the rule an admin sets, and a customer's balance and history."""

from __future__ import annotations

from aiohttp import web

from bookings import points
from bookings.http.inputs import Limit, pool_of
from bookings.keys import runtime
from bookings.points import PointsHistory, PointsRule, PointsRuleUpdate
from hub.acks import Payload
from hub.auth import STAFF, Role
from hub.cursors import CursorParam
from hub.web.openapi import Operation, caller, read_body, read_query, reply


class HistoryQuery(Payload):
    cursor: CursorParam | None = None
    limit: Limit = 50


async def points_rule(request: web.Request) -> web.Response:
    return reply(await points.rule(pool_of(request), runtime(request).points_defaults))


async def update_points_rule(request: web.Request) -> web.Response:
    user = caller(request)
    change = await read_body(request, PointsRuleUpdate)
    return reply(
        await points.update_rule(pool_of(request), runtime(request).points_defaults, change, user.user_id)
    )


async def my_points(request: web.Request) -> web.Response:
    user = caller(request)
    query = read_query(request, HistoryQuery)
    return reply(await points.history(pool_of(request), user.user_id, query.cursor, query.limit))


OPERATIONS = [
    Operation(
        "GET", "/api/v1/admin/settings/points", points_rule,
        "Points rule: earned per yuan, points per yuan off, largest share of a total", "admin",
        roles=STAFF, responses={200: PointsRule},
    ),
    Operation(
        "PUT", "/api/v1/admin/settings/points", update_points_rule, "Change the points rule (partial)",
        "admin", roles=(Role.ADMIN,), body=PointsRuleUpdate, responses={200: PointsRule},
    ),
    Operation(
        "GET", "/api/v1/customers/me/points", my_points,
        "The customer's points balance and history (earned, redeemed, returned), newest first",
        "customers", roles=(Role.CUSTOMER,), query=HistoryQuery, responses={200: PointsHistory},
    ),
]  # fmt: skip
