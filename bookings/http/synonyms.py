"""Search synonyms an admin curates: what people type for a service or a category."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import Field, model_validator

from bookings.http.inputs import SINGLE_LINE, Code, Strict, path_uuid, pool_of, required_body
from bookings.keys import runtime
from bookings.search import service as search
from hub.auth import STAFF, Role
from hub.web.openapi import Operation, caller, reply


class NewSynonym(Strict):
    term: Annotated[str, Field(min_length=1, max_length=50, pattern=SINGLE_LINE)] = Field(
        description="what people type: 照顾小孩, babysitter (stored normalised: NFKC, lower case)"
    )
    service_id: Code | None = Field(default=None, description="the service it finds; or")
    category_id: Code | None = Field(default=None, description="the category whose services it finds")

    @model_validator(mode="after")
    def _one_target(self) -> NewSynonym:
        if (self.service_id is None) == (self.category_id is None):
            raise ValueError("name a service_id or a category_id, not both")
        return self


async def list_synonyms(request: web.Request) -> web.Response:
    return reply(await search.synonyms(pool_of(request)))


async def add_synonym(request: web.Request) -> web.Response:
    user = caller(request)
    body = await required_body(request, NewSynonym)
    added = await search.add_synonym(
        pool_of(request),
        body.term,
        service_id=body.service_id,
        category_id=body.category_id,
        created_by=user.user_id,
    )
    runtime(request).search.invalidate()
    return reply(added, status=201)


async def delete_synonym(request: web.Request) -> web.Response:
    synonym_id = path_uuid(request, "synonym_id", "synonym")
    await search.delete_synonym(pool_of(request), synonym_id)
    runtime(request).search.invalidate()
    return web.Response(status=204)


OPERATIONS = [
    Operation(
        "GET", "/api/v1/admin/search/synonyms", list_synonyms, "Search synonyms, by category and service",
        "admin", roles=STAFF, responses={200: search.SynonymList},
    ),
    Operation(
        "POST", "/api/v1/admin/search/synonyms", add_synonym,
        "Add a search synonym for a service or a category; every node searches with it within seconds",
        "admin", roles=(Role.ADMIN,), body=NewSynonym, responses={201: search.SynonymRecord},
        errors=(404, 409),
    ),
    Operation(
        "DELETE", "/api/v1/admin/search/synonyms/{synonym_id}", delete_synonym, "Remove a search synonym",
        "admin", roles=(Role.ADMIN,), responses={204: None}, errors=(404,),
        path_params={"synonym_id": {"type": "string", "format": "uuid"}},
    ),
]  # fmt: skip
