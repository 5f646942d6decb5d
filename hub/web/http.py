"""HTTP plumbing shared by every route: the JSON error envelope, Bearer auth, health and metrics.

``/healthz``, ``/readyz`` and ``/metrics`` are for load balancers and Prometheus and stay plain
routes; every ``/api/v1`` route is an ``Operation`` documented in ``/api/v1/openapi.json``. The
Socket.IO protocol is documented in ``/api/v1/asyncapi.json``, a route of ``hub.web.asyncapi``.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import engineio
import pydantic
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.log import server_logger

from hub import acks, errors
from hub.auth import ANY_ROLE, Role
from hub.keys import DATABASE, METRICS, SETTINGS
from hub.metrics import CONTENT_TYPE
from hub.outages import outage
from hub.storage import migrate
from hub.storage import outbox as outbox_store
from hub.times import Timestamp
from hub.web.openapi import Operation, add_operations, caller, reply, serve_document

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
T = TypeVar("T")
READINESS_TIMEOUT_SECONDS = 2.0


class Reply(pydantic.BaseModel):
    """Base of response bodies: building one from a dict with a field it does not declare fails,
    so the document cannot silently miss a field the route sends."""

    model_config = pydantic.ConfigDict(extra="forbid")


# The HTTP status of each kind of error; a subclass takes its nearest listed ancestor's.
HTTP_STATUS: dict[type[errors.HubError], int] = {
    errors.InvalidPayload: 422,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.RateLimited: 429,
    errors.ClientError: 400,
    errors.Unavailable: 503,
    errors.HubError: 500,
}


def http_status(exc: errors.HubError) -> int:
    return next(HTTP_STATUS[kind] for kind in type(exc).__mro__ if kind in HTTP_STATUS)


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"error": acks.refused(code, message, details)["error"]}
    return web.json_response(body, status=status, headers=headers)


@web.middleware
def error_middleware(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
    """Every error leaves as ``{"error": {"code", "message", "details"?}}``, never as HTML.

    Not for the Socket.IO endpoint, python-engineio's, which answers its own errors (and whose
    failures aiohttp's handler answers in the envelope too, ``hub.web.serving``): its request is
    handed on as it is, so that a websocket, whose request lasts as long as the connection, does
    not keep a coroutine frame of this middleware for all that time."""
    if isinstance(getattr(handler, "__self__", None), engineio.AsyncServer):
        return handler(request)
    return _enveloped(request, handler)


async def _enveloped(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.Unauthenticated as exc:
        return error_response(401, exc.code, exc.message, exc.details, {"WWW-Authenticate": _challenge(exc)})
    except errors.Unavailable as exc:
        return _unavailable_response(exc)
    except errors.HubError as exc:
        return error_response(http_status(exc), exc.code, exc.message, exc.details)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        allow = exc.headers.get("Allow")
        code = exc.reason.lower().replace(" ", "_")
        return error_response(exc.status, code, exc.reason, headers={"Allow": allow} if allow else None)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        refusal = outage(exc)
        if refusal is None:
            log.exception("unhandled error on %s %s", request.method, request.path)
            return error_response(500, "internal_error", "the server failed to handle this request")
        # An outage, not a bug: one line per request, no traceback.
        log.warning("%s %s: %s (%r); answered 503", request.method, request.path, refusal.code, exc)
        return _unavailable_response(refusal)


def _unavailable_response(exc: errors.Unavailable) -> web.Response:
    retry_after = str(max(1, math.ceil(exc.retry_after_seconds)))  # RFC 9110: whole seconds
    return error_response(503, exc.code, exc.message, exc.details, {"Retry-After": retry_after})


# Checks still finishing after their answer was given; referenced so they are not collected.
_overrun: set[asyncio.Task[Any]] = set()


async def within(seconds: float, work: Coroutine[Any, Any, T]) -> T:
    """``work``'s result, or ``TimeoutError`` after ``seconds`` without waiting any longer.

    ``asyncio.timeout`` is not enough: it cancels the work, then waits for the work to clean up,
    and handing a connection back to asyncpg's pool is shielded from cancellation and may itself
    wait on a server that does not answer. Here the work is cancelled and left to finish alone."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.wait({task}, timeout=seconds)
    finally:
        if not task.done():  # out of time, or the request itself was cancelled
            task.cancel()
            _overrun.add(task)
            task.add_done_callback(_forget_overrun)
    if not task.done():
        raise TimeoutError
    return task.result()


def _forget_overrun(task: asyncio.Task[Any]) -> None:
    _overrun.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: nobody is waiting for it any more


class ServerLog(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's request-handler log (``handler_args={"logger": ...}``), where a request its
    parser refused (a header or URL over 8 KB, a control character, a bad method) is the client
    error it is: one INFO line on this module's log instead of an ERROR with a traceback.

    aiohttp answers such a request itself, before the application or any middleware sees it;
    ``hub.web.serving`` replaces its request handler so that the answer is the JSON envelope."""

    def __init__(self) -> None:
        super().__init__(server_logger, {})

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        if isinstance(exc_info, HttpProcessingError):
            remote = args[0] if args else "?"
            log.info("refused a malformed request from %s: %s", remote, _first_line(exc_info))
            return
        super().exception(msg, *args, exc_info=exc_info, **kwargs)


def _first_line(exc: HttpProcessingError) -> str:
    text = " ".join(str(exc.message).split("\n", 2)[:2]).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text[:200]}"


def _challenge(exc: errors.Unauthenticated) -> str:
    # RFC 6750 §3: name the scheme; say why only when a token was sent and refused.
    if exc.code == "token_missing":
        return "Bearer"
    return f'Bearer error="invalid_token", error_description="{exc.code}"'


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers. Deliberately checks nothing else."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: the database answers and every migration is applied, within 2 s whatever the
    database does."""

    async def pending() -> list[str]:
        pool = request.app[DATABASE].pool
        async with pool.acquire(timeout=READINESS_TIMEOUT_SECONDS) as conn:
            return await migrate.pending(conn, *migrate.directories(request.app[SETTINGS].extensions))

    try:
        missing = await within(READINESS_TIMEOUT_SECONDS, pending())
    except TimeoutError:
        reason = f"database: no answer within {READINESS_TIMEOUT_SECONDS:g}s"
        return web.json_response({"status": "unavailable", "reason": reason}, status=503)
    except Exception as exc:
        return web.json_response({"status": "unavailable", "reason": f"database: {exc!r}"}, status=503)
    if missing:
        return web.json_response(
            {"status": "unavailable", "reason": f"migrations not applied: {', '.join(missing)}"}, status=503
        )
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[METRICS]
    try:
        stats = await within(READINESS_TIMEOUT_SECONDS, outbox_store.stats(request.app[DATABASE].pool))
        registry.outbox_pending.set(stats["pending"])
        registry.outbox_lag.set(stats["lag_seconds"])
    except Exception as exc:  # metrics must render even when the database is down
        log.warning("outbox stats unavailable for /metrics: %r", exc)
    return web.Response(body=registry.render(), headers={"Content-Type": CONTENT_TYPE})


class Me(Reply):
    user_id: str
    role: Role
    expires_at: int = pydantic.Field(description="Expiry of the token (Unix seconds).")


async def me(request: web.Request) -> web.Response:
    principal = caller(request)
    return reply(Me(user_id=principal.user_id, role=principal.role, expires_at=principal.expires_at))


class DeadLetter(Reply):
    event_id: str = pydantic.Field(json_schema_extra={"format": "uuid"})
    topic: str
    attempts: int
    created_at: Timestamp
    dead_at: Timestamp
    last_error: str | None


class OutboxStatus(Reply):
    pending: int = pydantic.Field(description="Events not yet delivered to every subscriber.")
    dead: int = pydantic.Field(description="Events given up on after the maximum number of attempts.")
    lag_seconds: float = pydantic.Field(description="Age of the oldest pending event; 0 when none.")
    dead_letters: list[DeadLetter] = pydantic.Field(description="The most recent dead events, newest first.")


async def outbox_status(request: web.Request) -> web.Response:
    """Operators' view of the outbox: backlog, lag and the most recent dead letters."""
    pool = request.app[DATABASE].pool
    stats = await outbox_store.stats(pool)
    dead = await outbox_store.dead_letters(pool)
    return reply(
        OutboxStatus(
            **stats,
            dead_letters=[DeadLetter(**{**row, "event_id": str(row["event_id"])}) for row in dead],
        )
    )


class OpenApiDocument(pydantic.BaseModel):
    """An OpenAPI 3.1 document (only its top level is described here)."""

    model_config = pydantic.ConfigDict(extra="allow")

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]


OPERATIONS = [
    Operation(
        "GET",
        "/api/v1/openapi.json",
        serve_document,
        summary="This document: every /api/v1 route, its parameters, bodies and responses",
        tag="meta",
        auth=False,
        responses={200: OpenApiDocument},
        database=False,
    ),
    Operation(
        "GET",
        "/api/v1/me",
        me,
        summary="Who the Bearer token says the caller is",
        tag="meta",
        roles=ANY_ROLE,
        responses={200: Me},
        database=False,
    ),
    Operation(
        "GET",
        "/api/v1/admin/outbox",
        outbox_status,
        summary="Outbox backlog, lag and the most recent dead letters",
        tag="admin",
        roles=(Role.ADMIN,),
        responses={200: OutboxStatus},
    ),
]


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    add_operations(app, OPERATIONS)
