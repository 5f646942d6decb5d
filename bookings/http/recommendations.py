"""What to show a customer first: popular services, their past services and workers, workers nearby."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import Field, model_validator

from bookings import recommend
from bookings.http.inputs import Lat, Lng, local_today, point, pool_of
from hub.acks import Payload
from hub.auth import Role
from hub.web.openapi import Operation, caller, read_query, reply


class RecommendationQuery(Payload):
    lat: Lat | None = Field(default=None, description="with lng; else the default saved address")
    lng: Lng | None = None
    limit: Annotated[int, Field(ge=1, le=50)] = 10

    @model_validator(mode="after")
    def _both(self) -> RecommendationQuery:
        point(self.lat, self.lng)
        return self


async def recommendations(request: web.Request) -> web.Response:
    user = caller(request)
    query = read_query(request, RecommendationQuery)
    found = await recommend.recommend(
        pool_of(request),
        user.user_id,
        local_today(request),
        point=point(query.lat, query.lng),
        limit=query.limit,
    )
    return reply(found)


OPERATIONS = [
    Operation(
        "GET",
        "/api/v1/recommendations",
        recommendations,
        "Popular services, the customer's past services and workers, workers nearby",
        "recommendations",
        roles=(Role.CUSTOMER,),
        query=RecommendationQuery,
        responses={200: recommend.Recommendations},
    ),
]
