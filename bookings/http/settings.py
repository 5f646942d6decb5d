"""Admin settings: the dispatch rules (waves, deadlines, weights)."""

from __future__ import annotations

from aiohttp import web

from bookings.http.operation_ids import published_as
from bookings.rules import DispatchRules, RulesUpdate
from bookings.runtime import runtime
from hub.auth import Role
from hub.http import authenticate
from hub.openapi import Operation, read_body, reply


async def dispatch_rules(request: web.Request) -> web.Response:
    authenticate(request, Role.ADMIN, Role.SUPPORT)
    rt = runtime(request)
    return reply(await rt.rules.get(rt.pool))


async def update_dispatch_rules(request: web.Request) -> web.Response:
    user = authenticate(request, Role.ADMIN)
    change = await read_body(request, RulesUpdate)
    rt = runtime(request)
    return reply(await rt.rules.update(rt.pool, change, user.user_id))


OPERATIONS = published_as("orders_api", [
    Operation(
        "GET", "/api/v1/admin/settings/dispatch", dispatch_rules, "Dispatch rules: waves, deadlines, weights",
        "admin", roles=("support", "admin"), responses={200: DispatchRules},
    ),
    Operation(
        "PUT", "/api/v1/admin/settings/dispatch", update_dispatch_rules, "Change dispatch rules (partial)",
        "admin", roles=("admin",), body=RulesUpdate, responses={200: DispatchRules},
    ),
])  # fmt: skip
