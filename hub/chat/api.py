"""HTTP routes of the real-time core: attachment uploads, the notification inbox, conversations."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from aiohttp import BodyPartReader, web

from hub.acks import InvalidPayload, NotFound
from hub.chat import uploads
from hub.http import authenticate
from hub.keys import CONTEXT
from hub.storage import notifications as inbox
from hub.storage import uploads as upload_store

MAX_PAGE = 100
CHUNK = 64 * 1024


async def upload(request: web.Request) -> web.Response:
    """Raw body with its Content-Type, or multipart/form-data with a ``file`` field."""
    user = authenticate(request)
    hub = request.app[CONTEXT]
    limit = hub.settings.chat.upload_max_bytes
    filename: str | None = request.headers.get("X-Filename")
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        part = await reader.next()
        while part is not None and getattr(part, "name", None) != "file":
            part = await reader.next()
        if part is None or not isinstance(part, BodyPartReader):
            raise InvalidPayload("send the file in a form field named 'file'", code="upload_missing")
        content_type = part.headers.get("Content-Type", "")
        filename = part.filename
        content = await _read_limited(part.read_chunk, limit)
    else:
        if request.content_length is not None and request.content_length > limit:
            raise InvalidPayload(f"the file is larger than {limit} bytes", code="upload_too_large")
        content_type = request.headers.get("Content-Type", "")
        content = await _read_limited(request.content.read, limit)
    mime = uploads.check(content_type, content, limit)
    stored = await upload_store.insert(hub.pool, user.user_id, mime, (filename or "")[:255] or None, content)
    return web.json_response(stored, status=201)


async def _read_limited(read: Callable[[int], Awaitable[bytes]], limit: int) -> bytes:
    """Stream a body in chunks, refusing it as soon as it passes ``limit`` (never buffering more)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise InvalidPayload(f"the file is larger than {limit} bytes", code="upload_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


async def download(request: web.Request) -> web.Response:
    authenticate(request)
    try:
        upload_id = uuid.UUID(request.match_info["upload_id"])
    except ValueError:
        raise NotFound("no such upload", code="upload_not_found") from None
    found = await upload_store.content(request.app[CONTEXT].pool, upload_id)
    if found is None:
        raise NotFound("no such upload", code="upload_not_found")
    content_type, filename, content, sha256 = found
    headers = {
        "ETag": f'"{sha256}"',
        "Cache-Control": "private, max-age=86400, immutable",
        # Never rendered inline as a page of the hub's origin, whatever the file holds.
        "Content-Disposition": f'attachment; filename="{(filename or upload_id.hex).replace(chr(34), "")}"',
        "X-Content-Type-Options": "nosniff",
    }
    return web.Response(body=content, content_type=content_type, headers=headers)


async def notifications(request: web.Request) -> web.Response:
    user = authenticate(request)
    before = _int_param(request, "before_seq", None, 1)
    limit = _int_param(request, "limit", 50, 1, MAX_PAGE)
    pool = request.app[CONTEXT].pool
    items = await inbox.page(pool, user.user_id, before, limit or 50)
    return web.json_response({"items": items, "unread": await inbox.unread_count(pool, user.user_id)})


async def conversations(request: web.Request) -> web.Response:
    user = authenticate(request)
    listed = await request.app[CONTEXT].chat.conversations(user)
    return web.json_response({"conversations": listed, "unread": sum(c["unread"] for c in listed)})


def _int_param(
    request: web.Request, name: str, default: int | None, minimum: int, maximum: int | None = None
) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"{minimum}..{maximum}" if maximum is not None else f">= {minimum}"
        raise InvalidPayload(
            f"{name} must be an integer {bounds}", details=[{"field": name, "problem": f"expected {bounds}"}]
        )
    return value


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/uploads", upload)
    app.router.add_get("/api/v1/uploads/{upload_id}", download)
    app.router.add_get("/api/v1/notifications", notifications)
    app.router.add_get("/api/v1/conversations", conversations)
