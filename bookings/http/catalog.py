"""Service categories and services: the public catalog and its keyword search."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from bookings import catalog, history
from bookings.http.inputs import CODE_RE, Code, Keyword, Limit, Minutes, customer_or_none, pool_of
from bookings.keys import runtime
from hub.acks import Payload
from hub.errors import NotFound
from hub.web.openapi import Operation, read_query, reply


class ServiceQuery(Payload):
    category: Code | None = None
    duration_minutes: Minutes | None = Field(default=None, description="only services allowing it")
    q: Keyword | None = Field(
        default=None,
        description="what the customer typed, Chinese, English or pinyin; synonyms and near spellings"
        " match too, and each service found says why (matched)",
    )
    limit: Limit = 50


async def list_categories(request: web.Request) -> web.Response:
    return reply(
        catalog.CategoryList(next_cursor=None, items=await catalog.list_categories(pool_of(request)))
    )


async def list_services(request: web.Request) -> web.Response:
    query = read_query(request, ServiceQuery)
    if query.q is None:
        found = await catalog.list_services(
            pool_of(request),
            category=query.category,
            duration_minutes=query.duration_minutes,
            limit=query.limit,
        )
        return reply(catalog.ServiceList(next_cursor=None, items=found))
    found = await runtime(request).search.find(
        query.q, category=query.category, duration_minutes=query.duration_minutes, limit=query.limit
    )
    customer = customer_or_none(request)
    if customer is not None and query.q.strip():
        # Kept only if the customer consents (bookings.history decides, under their consent's lock).
        async with pool_of(request).acquire() as conn, conn.transaction():
            await history.record_search(conn, customer.user_id, query.q.strip(), [s.id for s in found])
    return reply(catalog.ServiceList(next_cursor=None, items=found))


async def get_service(request: web.Request) -> web.Response:
    service_id = request.match_info["service_id"]
    known = CODE_RE.fullmatch(service_id)
    service = await catalog.get_service(pool_of(request), service_id) if known else None
    if service is None:
        raise NotFound("no such service", code="service_not_found")
    return reply(service)


OPERATIONS = [
    Operation(
        "GET",
        "/api/v1/catalog/categories",
        list_categories,
        "Service categories in catalog order",
        "catalog",
        auth=False,
        responses={200: catalog.CategoryList},
    ),
    Operation(
        "GET",
        "/api/v1/services",
        list_services,
        "Services, filtered by category, duration and what the customer typed (Chinese, English,"
        " pinyin, synonyms, near spellings); with a customer's token, the search joins their history"
        " if they consent",
        "catalog",
        auth=False,
        query=ServiceQuery,
        responses={200: catalog.ServiceList},
    ),
    Operation(
        "GET",
        "/api/v1/services/{service_id}",
        get_service,
        "One service with its price summary and durations",
        "catalog",
        auth=False,
        responses={200: catalog.Service},
        errors=(404,),
        path_params={"service_id": {"type": "string"}},
    ),
]
