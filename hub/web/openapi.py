"""Routes declared once, served and documented from the same declaration.

Every ``/api/v1`` route is an ``Operation``: method, path, handler, roles and the pydantic models
of its query, body and responses. ``add_operations`` registers the handler with aiohttp and keeps
the operation, and ``/api/v1/openapi.json`` is generated from what was kept, so the document
cannot drift from the routes (a test checks that every route is in it). pydantic's JSON Schema is
the dialect of OpenAPI 3.1, so models go in unchanged.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pydantic
from aiohttp import web
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from hub import acks, errors
from hub.auth import Principal, Role, TokenError
from hub.keys import VERIFIER

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=pydantic.BaseModel)

API_VERSION = "1.0.0"
_PATH_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")
_REF = "#/components/schemas/{model}"
_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    204: "No content",
    400: "Bad request",
    401: "Missing or invalid Bearer token",
    403: "The role or the person may not do this",
    404: "Not found",
    409: "The current state does not allow this",
    413: "Too large",
    415: "Unsupported media type",
    422: "Invalid input (details per field)",
    429: "Too many requests",
    503: "The database did not answer in time (db_unavailable); retry after Retry-After seconds",
}


class ErrorBody(pydantic.BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorEnvelope(pydantic.BaseModel):
    """Every error response: ``{"error": {"code", "message", "details"?}}``."""

    error: ErrorBody


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    # Who may call it, enforced by ``add_operations`` before the handler runs (``caller`` then
    # gives the principal); required unless ``auth`` is False (a public route).
    roles: tuple[Role, ...] = ()
    auth: bool = True
    query: type[pydantic.BaseModel] | None = None
    body: type[pydantic.BaseModel] | None = None
    # Content types of a raw (non-JSON) request body, e.g. uploads.
    raw_body: tuple[str, ...] = ()
    responses: Mapping[int, type[pydantic.BaseModel] | None] = field(default_factory=lambda: {200: None})
    # Response content types other than JSON (e.g. a download), by status: one or several.
    raw_responses: Mapping[int, str | tuple[str, ...]] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    idempotent: bool = False  # accepts an Idempotency-Key header
    database: bool = True  # uses the database, so it may answer 503 db_unavailable
    path_params: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        if self.auth == (not self.roles):
            raise ValueError(f"{self.method} {self.path}: declare roles, or auth=False for a public route")


OPERATIONS = web.AppKey("operations", list[Operation])
CALLER = web.RequestKey("caller", Principal)


def add_operations(app: web.Application, operations: Sequence[Operation]) -> None:
    kept = app.setdefault(OPERATIONS, [])
    for operation in operations:
        app.router.add_route(operation.method, operation.path, _guarded(operation))
        kept.append(operation)


def _guarded(op: Operation) -> Handler:
    """The handler behind the checks every route shares: the roles its operation declares (401
    without a valid token, 403 for a role not among them; the declaration is the only place roles
    are named), then path parameters that no handler could look up."""

    @functools.wraps(op.handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        if op.auth:
            request[CALLER] = authenticate(request, op.roles)
        check_path(request)
        return await op.handler(request)

    return guarded


def check_path(request: web.Request) -> None:
    """Path parameters carry text like any other input: one that PostgreSQL could not hold
    (``hub.acks.text_problem``) is refused here, once for every route. As everywhere else, a
    malformed id is answered like an unknown one: 404 ``<thing>_not_found`` for ``{<thing>_id}``."""
    for name, value in request.match_info.items():
        if acks.text_problem(value) is not None:
            what = name.removesuffix("_id")
            raise errors.NotFound(f"no such {what}", code=f"{what}_not_found")


def authenticate(request: web.Request, allowed: Sequence[Role]) -> Principal:
    """The caller's principal from ``Authorization: Bearer``; 401 if absent or invalid, 403 if
    its role is not among ``allowed``."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise errors.Unauthenticated("send Authorization: Bearer <JWT>", code="token_missing")
    try:
        principal = request.app[VERIFIER].verify(token)
    except TokenError as exc:
        raise errors.Unauthenticated(exc.message, code=exc.code) from None
    if principal.role not in allowed:
        raise errors.Forbidden(f"role {principal.role.value!r} may not use this route", code="role_forbidden")
    return principal


def caller(request: web.Request) -> Principal:
    """Who is calling: the principal ``add_operations`` authenticated for this route."""
    return request[CALLER]


# Views -----------------------------------------------------------------------------------------


async def read_body(request: web.Request, model: type[M]) -> M:
    """The JSON body validated against ``model``; 422 with per-field details otherwise."""
    if request.body_exists and request.content_type not in ("application/json", "application/octet-stream"):
        raise errors.InvalidPayload("send the body as application/json", code="unsupported_media_type")
    return acks.parse_json(model, await request.read())


def read_query(request: web.Request, model: type[M]) -> M:
    """Query parameters validated against ``model``, never strictly: they are text, so "3" is a
    valid integer here even for a field that is strict in a JSON body or a socket payload."""
    query: dict[str, Any] = {}
    for name in request.query:
        values = request.query.getall(name)
        query[name] = values if len(values) > 1 else values[0]
    try:
        return model.model_validate(query, strict=False)
    except pydantic.ValidationError as exc:
        raise errors.InvalidPayload(
            "the query parameters are not valid", details=acks.field_errors(exc)
        ) from None


def reply(
    data: pydantic.BaseModel, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=data.model_dump_json(), status=status, content_type="application/json", headers=headers
    )


# The document ----------------------------------------------------------------------------------


def document(operations: Sequence[Operation], title: str = "Home-services hub API") -> dict[str, Any]:
    wanted: set[tuple[type[pydantic.BaseModel], JsonSchemaMode]] = {(ErrorEnvelope, "serialization")}
    for op in operations:
        if op.body is not None:
            wanted.add((op.body, "validation"))
        wanted |= {(model, "serialization") for model in op.responses.values() if model is not None}
    refs, schemas = models_json_schema(
        sorted(wanted, key=lambda pair: (pair[0].__name__, pair[1])), ref_template=_REF
    )
    components: dict[str, Any] = dict(schemas.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(_openapi_path(op.path), {})[op.method.lower()] = _operation(op, refs, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": API_VERSION},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


Refs = Mapping[tuple[Any, JsonSchemaMode], Any]


def _openapi_path(path: str) -> str:
    return _PATH_PARAM.sub(lambda m: "{" + m.group(1) + "}", path)


def _operation(op: Operation, refs: Refs, components: dict[str, Any]) -> dict[str, Any]:
    module = op.handler.__module__.rsplit(".", 1)[-1]
    out: dict[str, Any] = {
        "operationId": f"{op.method.lower()}_{module}_{op.handler.__name__}",
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": _parameters(op, components),
        "responses": {},
    }
    allowed = op.roles
    if op.description or allowed:
        roles = f"Roles: {', '.join(allowed)}." if allowed else ""
        out["description"] = " ".join(part for part in (op.description, roles) if part)
    if allowed:
        # Machine-readable for clients and tests (the property-based run calls with these roles).
        out["x-roles"] = [str(role) for role in allowed]
    if op.auth:
        out["security"] = [{"bearer": []}]
    if op.body is not None:
        schema = refs[(op.body, "validation")]
        out["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    elif op.raw_body:
        out["requestBody"] = {
            "required": True,
            "content": {kind: {"schema": _raw_schema(kind)} for kind in op.raw_body},
        }
    for status, model in op.responses.items():
        response: dict[str, Any] = {"description": _STATUS_TEXT.get(status, "OK")}
        if status in op.raw_responses:
            kinds = op.raw_responses[status]
            response["content"] = {
                kind: {"schema": {"type": "string", "format": "binary"}}
                for kind in ((kinds,) if isinstance(kinds, str) else kinds)
            }
        elif model is not None:
            response["content"] = {"application/json": {"schema": refs[(model, "serialization")]}}
        out["responses"][str(status)] = response
    errors = set(op.errors) | ({401, 403} if op.auth else set()) | ({422} if op.body or op.query else set())
    if op.idempotent:
        errors |= {409, 422}
    if op.database:
        errors |= {503}
    error_schema = refs[(ErrorEnvelope, "serialization")]
    for status in sorted(errors - set(op.responses)):
        out["responses"][str(status)] = {
            "description": _STATUS_TEXT.get(status, "Error"),
            "content": {"application/json": {"schema": error_schema}},
        }
        if status == 503:
            out["responses"]["503"]["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before retrying",
                    "schema": {"type": "integer", "minimum": 1},
                }
            }
    return out


def _raw_schema(kind: str) -> dict[str, Any]:
    binary = {"type": "string", "format": "binary"}
    if kind == "multipart/form-data":  # one part, named "file"
        return {"type": "object", "properties": {"file": binary}, "required": ["file"]}
    return binary


def _query_schema(prop: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is present or absent, never null: drop ``None`` from optional fields."""
    options = prop.get("anyOf")
    if not isinstance(options, list) or {"type": "null"} not in options:
        return prop
    rest = [option for option in options if option != {"type": "null"}]
    out = {
        key: value
        for key, value in prop.items()
        if key != "anyOf" and not (key == "default" and value is None)
    }
    return {**rest[0], **out} if len(rest) == 1 else {**out, "anyOf": rest}


def _parameters(op: Operation, components: dict[str, Any]) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": op.path_params.get(name, {"type": "string"})}
        for name in _PATH_PARAM.findall(op.path)
    ]
    if op.query is not None:
        schema = op.query.model_json_schema(ref_template=_REF)
        components.update(schema.get("$defs", {}))
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            param: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": _query_schema(prop),
            }
            if "description" in prop:
                param["description"] = prop["description"]
            params.append(param)
    if op.idempotent:
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Retry-safe creation: the same key and body return the first response.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            }
        )
    return params


async def serve_document(request: web.Request) -> web.Response:
    operations: list[Operation] = request.app[OPERATIONS]
    return web.json_response(document(operations))
