"""Admin settings: the dispatch rules (waves, deadlines, weights) and the price rules."""

from __future__ import annotations

from aiohttp import web

from bookings.keys import runtime
from bookings.price_rules import PriceRules, PriceRulesUpdate
from bookings.rules import DispatchRules, RulesUpdate
from hub.auth import STAFF, Role
from hub.web.openapi import Operation, caller, read_body, reply


async def dispatch_rules(request: web.Request) -> web.Response:
    rt = runtime(request)
    return reply(await rt.rules.get(rt.pool))


async def update_dispatch_rules(request: web.Request) -> web.Response:
    user = caller(request)
    change = await read_body(request, RulesUpdate)
    rt = runtime(request)
    return reply(await rt.rules.update(rt.pool, change, user.user_id))


async def price_rules(request: web.Request) -> web.Response:
    rt = runtime(request)
    return reply(await rt.pricing.get(rt.pool))


async def update_price_rules(request: web.Request) -> web.Response:
    user = caller(request)
    change = await read_body(request, PriceRulesUpdate)
    rt = runtime(request)
    return reply(await rt.pricing.update(rt.pool, change, user.user_id))


OPERATIONS = [
    Operation(
        "GET", "/api/v1/admin/settings/dispatch", dispatch_rules, "Dispatch rules: waves, deadlines, weights",
        "admin", roles=STAFF, responses={200: DispatchRules},
    ),
    Operation(
        "PUT", "/api/v1/admin/settings/dispatch", update_dispatch_rules, "Change dispatch rules (partial)",
        "admin", roles=(Role.ADMIN,), body=RulesUpdate, responses={200: DispatchRules},
    ),
    Operation(
        "GET", "/api/v1/admin/settings/pricing", price_rules, "Price rules: surcharges and discounts",
        "admin", roles=STAFF, responses={200: PriceRules},
    ),
    Operation(
        "PUT", "/api/v1/admin/settings/pricing", update_price_rules,
        "Change price rules (partial); new quotes use them, bookings keep their price",
        "admin", roles=(Role.ADMIN,), body=PriceRulesUpdate, responses={200: PriceRules},
    ),
]  # fmt: skip
