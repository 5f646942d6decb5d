"""``Idempotency-Key`` on creates: the same key and body return the first response.

The key row is inserted in the same transaction as the thing created. A concurrent request with
the same key waits on that row's unique index until the first commits, then replays its response;
if the first fails, its transaction (and the key) rolls back and the retry creates afresh.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pydantic
from aiohttp import web

from bookings.storage import idempotency as store
from hub.auth import Principal
from hub.errors import InvalidPayload
from hub.storage.db import Conn

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255

Create = Callable[[Conn], Awaitable[pydantic.BaseModel]]


async def create_once(
    request: web.Request, pool: asyncpg.Pool, user: Principal, create: Create, status: int = 201
) -> web.Response:
    """Run ``create`` in a transaction, once per (user id, role, Idempotency-Key); answer with its
    result."""
    key = request.headers.get(HEADER)
    if key is None:
        async with pool.acquire() as conn, conn.transaction():
            created = await create(conn)
        return web.Response(body=created.model_dump_json(), status=status, content_type="application/json")
    if not 0 < len(key) <= MAX_KEY_LENGTH:
        raise InvalidPayload(
            f"{HEADER} must be 1..{MAX_KEY_LENGTH} characters",
            code="invalid_idempotency_key",
            details=[{"loc": ["header", HEADER], "message": "length out of range"}],
        )
    operation = f"{request.method} {request.path}"
    fingerprint = _fingerprint(operation, await request.read())
    code, body, replayed = await run_once(pool, user, key, operation, fingerprint, create, status)
    return web.json_response(body, status=code, headers={REPLAY_HEADER: "true"} if replayed else None)


async def run_once(
    pool: asyncpg.Pool,
    user: Principal,
    key: str,
    operation: str,
    fingerprint: str,
    create: Create,
    status: int = 201,
    where: tuple[str, str] = ("header", HEADER),
) -> tuple[int, Any, bool]:
    """(status, body, replayed): ``create`` once per (user id, role, key), in a transaction with
    the key; a retry with the same key and fingerprint gets the first answer. Over HTTP the key
    is the ``Idempotency-Key`` header; a socket event gives its own (``client_id``)."""
    user_id, role = user.user_id, user.role.value
    for _ in range(2):  # a second round only when the first holder of the key rolled back
        async with pool.acquire() as conn:
            async with conn.transaction():
                if await store.claim(conn, user_id, role, key, operation, fingerprint):
                    created = await create(conn)
                    body = created.model_dump(mode="json")
                    await store.save_response(conn, user_id, role, key, status, body)
                    return status, body, False
            first = await store.first_response(conn, user_id, role, key)
        if first is not None:
            if first["request_hash"] != fingerprint:
                raise InvalidPayload(
                    f"this {where[1]} was used with a different request",
                    code="idempotency_key_reused",
                    details=[{"loc": list(where), "message": "reused with another body or route"}],
                )
            return int(first["status_code"]), first["body"], True
    raise InvalidPayload("the request could not be completed; retry it", code="idempotency_retry")


def _fingerprint(operation: str, raw: bytes) -> str:
    """Equal for equal JSON, however its keys are ordered or spaced."""
    try:
        canonical: Any = json.dumps(json.loads(raw or b"{}"), sort_keys=True, separators=(",", ":"))
    except ValueError:
        canonical = raw.decode("utf-8", "replace")
    return hashlib.sha256(f"{operation}\n{canonical}".encode()).hexdigest()
