"""A customer's spending history from the ledger."""

from __future__ import annotations

from aiohttp import web

from bookings import spending
from bookings.http.inputs import pool_of
from bookings.http.points import HistoryQuery
from bookings.spending import Spending
from hub.auth import Role
from hub.web.openapi import Operation, caller, read_query, reply


async def my_spending(request: web.Request) -> web.Response:
    user = caller(request)
    query = read_query(request, HistoryQuery)
    return reply(await spending.history(pool_of(request), user.user_id, query.cursor, query.limit))


OPERATIONS = [
    Operation(
        "GET", "/api/v1/customers/me/spending", my_spending,
        "The customer's payments, refunds and cancellation fees, newest first, with totals", "customers",
        roles=(Role.CUSTOMER,), query=HistoryQuery, responses={200: Spending},
        description="Read from the ledger. `bookings` gives the price breakdown (discounts: coupons, "
        "points, a package visit) of the bookings on this page; `totals` are of all time.",
    ),
]  # fmt: skip
