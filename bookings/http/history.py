"""A customer's consent to keep history, and the browsing history the app records with it."""

from __future__ import annotations

from typing import Annotated, Literal

from aiohttp import web
from pydantic import Field, StrictBool, model_validator

from bookings import history
from bookings.http.inputs import Code, Strict, UserId, pool_of, required_body
from hub.acks import Payload
from hub.auth import Role
from hub.cursors import CursorParam
from hub.web.openapi import Operation, caller, read_query, reply


class PrivacyIn(Strict):
    history: StrictBool = Field(description="keep browsing and search history; false deletes it")


class ViewIn(Strict):
    kind: Literal["service_view", "worker_view"]
    service_id: Code | None = Field(default=None, description="with service_view")
    worker_id: UserId | None = Field(default=None, description="with worker_view")

    @model_validator(mode="after")
    def _target(self) -> ViewIn:
        wanted = "service_id" if self.kind == "service_view" else "worker_id"
        given = {name for name in ("service_id", "worker_id") if getattr(self, name) is not None}
        if given != {wanted}:
            raise ValueError(f"a {self.kind} names its {wanted} alone")
        return self


class HistoryQuery(Payload):
    cursor: CursorParam | None = None
    limit: Annotated[int, Field(ge=1, le=history.KEEP)] = 50


async def get_privacy(request: web.Request) -> web.Response:
    return reply(await history.privacy(pool_of(request), caller(request).user_id))


async def set_privacy(request: web.Request) -> web.Response:
    user = caller(request)
    body = await required_body(request, PrivacyIn)
    async with pool_of(request).acquire() as conn, conn.transaction():
        return reply(await history.set_privacy(conn, user.user_id, body.history))


async def get_history(request: web.Request) -> web.Response:
    query = read_query(request, HistoryQuery)
    return reply(await history.history(pool_of(request), caller(request).user_id, query.limit, query.cursor))


async def record_view(request: web.Request) -> web.Response:
    user = caller(request)
    body = await required_body(request, ViewIn)
    async with pool_of(request).acquire() as conn, conn.transaction():
        recorded = await history.record_view(
            conn, user.user_id, body.kind, service_id=body.service_id, worker_id=body.worker_id
        )
    return reply(recorded, status=201 if recorded.recorded else 200)


async def clear_history(request: web.Request) -> web.Response:
    await history.clear(pool_of(request), caller(request).user_id)
    return web.Response(status=204)


_CUSTOMER = (Role.CUSTOMER,)
OPERATIONS = [
    Operation(
        "GET", "/api/v1/customers/me/privacy", get_privacy,
        "Whether browsing and search history is kept (off until the customer turns it on)",
        "customers", roles=_CUSTOMER, responses={200: history.Privacy},
    ),
    Operation(
        "PUT", "/api/v1/customers/me/privacy", set_privacy,
        "Turn history on or off; off deletes everything recorded",
        "customers", roles=_CUSTOMER, body=PrivacyIn, responses={200: history.Privacy},
    ),
    Operation(
        "GET", "/api/v1/customers/me/history", get_history,
        "The customer's browsing and search history, newest first",
        "customers", roles=_CUSTOMER, query=HistoryQuery, responses={200: history.History},
    ),
    Operation(
        "POST", "/api/v1/customers/me/history", record_view,
        "Record a service or worker profile the customer looked at: 201 kept, 200 not kept (no consent)",
        "customers", roles=_CUSTOMER, body=ViewIn, responses={201: history.Recorded, 200: history.Recorded},
        errors=(404,),
    ),
    Operation(
        "DELETE", "/api/v1/customers/me/history", clear_history,
        "Delete the customer's history (consent stays as it is)",
        "customers", roles=_CUSTOMER, responses={204: None},
    ),
]  # fmt: skip
