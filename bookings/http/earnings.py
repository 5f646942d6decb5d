"""What workers earn: the commission an admin sets, a worker's income per booking and per period,
their balance and their settlement statements."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import Field

from bookings.keys import runtime
from bookings.payments.commission import CommissionRate
from bookings.settlement.income import Balance, IncomeList, IncomeQuery, IncomeSummary, SummaryQuery
from bookings.settlement.statements import StatementList
from hub.acks import Payload
from hub.auth import STAFF, Role
from hub.cursors import CursorParam
from hub.web.openapi import Operation, caller, read_body, read_query, reply


class Page(Payload):
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    cursor: CursorParam | None = None


async def commission_rate(request: web.Request) -> web.Response:
    return reply(await runtime(request).settlement.commission())


async def change_commission_rate(request: web.Request) -> web.Response:
    user = caller(request)
    rate = await read_body(request, CommissionRate)
    return reply(await runtime(request).settlement.set_commission(rate, user.user_id))


async def my_income(request: web.Request) -> web.Response:
    user = caller(request)
    query = read_query(request, IncomeQuery)
    return reply(await runtime(request).settlement.income(user.user_id, query))


async def my_income_summary(request: web.Request) -> web.Response:
    user = caller(request)
    query = read_query(request, SummaryQuery)
    return reply(await runtime(request).settlement.income_summary(user.user_id, query))


async def my_balance(request: web.Request) -> web.Response:
    user = caller(request)
    return reply(await runtime(request).settlement.balance(user.user_id))


async def my_statements(request: web.Request) -> web.Response:
    user = caller(request)
    page = read_query(request, Page)
    return reply(await runtime(request).settlement.statements(user.user_id, page.limit, page.cursor))


OPERATIONS = [
    Operation(
        "GET", "/api/v1/admin/settings/commission", commission_rate,
        "The commission rate fixed on each booking when it completes", "earnings",
        roles=STAFF, responses={200: CommissionRate},
    ),
    Operation(
        "PUT", "/api/v1/admin/settings/commission", change_commission_rate,
        "Change the commission rate: bookings completed from now on", "earnings",
        roles=(Role.ADMIN,), body=CommissionRate, responses={200: CommissionRate},
        description="Bookings completed before keep the rate they completed at.",
    ),
    Operation(
        "GET", "/api/v1/workers/me/income", my_income,
        "The worker's completed bookings with their pay and commission, newest first", "earnings",
        roles=(Role.WORKER,), query=IncomeQuery, responses={200: IncomeList},
        description="`from` and `to` are local dates (both included; by default the last 30 days). "
        "`totals` covers the whole range. Error: `invalid_range` (422).",
    ),
    Operation(
        "GET", "/api/v1/workers/me/income/summary", my_income_summary,
        "The worker's income per local day, ISO week or month", "earnings",
        roles=(Role.WORKER,), query=SummaryQuery, responses={200: IncomeSummary},
        description="The range is widened to whole weeks (Monday to Sunday) or months; every bucket "
        "is listed, empty ones too. Error: `invalid_range` (422).",
    ),
    Operation(
        "GET", "/api/v1/workers/me/balance", my_balance,
        "What the worker is owed, what is on its way, what they may ask for, what is unsettled", "earnings",
        roles=(Role.WORKER,), responses={200: Balance},
    ),
    Operation(
        "GET", "/api/v1/workers/me/statements", my_statements,
        "The worker's settlement statements, newest period first", "earnings",
        roles=(Role.WORKER,), query=Page, responses={200: StatementList},
    ),
]  # fmt: skip
