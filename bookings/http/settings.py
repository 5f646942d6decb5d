"""Admin settings: the dispatch rules (waves, deadlines, weights)."""

from __future__ import annotations

from aiohttp import web

from bookings.keys import runtime
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


OPERATIONS = [
    Operation(
        "GET", "/api/v1/admin/settings/dispatch", dispatch_rules, "Dispatch rules: waves, deadlines, weights",
        "admin", roles=STAFF, responses={200: DispatchRules},
    ),
    Operation(
        "PUT", "/api/v1/admin/settings/dispatch", update_dispatch_rules, "Change dispatch rules (partial)",
        "admin", roles=(Role.ADMIN,), body=RulesUpdate, responses={200: DispatchRules},
    ),
]  # fmt: skip
