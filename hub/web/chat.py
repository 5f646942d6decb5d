"""HTTP routes of the real-time core: attachment uploads, the notification inbox, conversations."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import quote

import pydantic
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from hub.acks import Payload
from hub.auth import ANY_ROLE
from hub.chat import uploads
from hub.cursors import CursorParam
from hub.errors import InvalidPayload, NotFound
from hub.keys import CONTEXT, SETTINGS, UPLOAD_GATE
from hub.protocol import Conversations, ConversationSummary, NotificationPage, Upload
from hub.push import inbox
from hub.storage import uploads as upload_store
from hub.web.openapi import Operation, add_operations, caller, read_query, reply

MAX_PAGE = 100
CHUNK = 64 * 1024
UUID_PARAM = {"type": "string", "format": "uuid"}


class NotificationsQuery(Payload):
    cursor: CursorParam | None = None
    limit: Annotated[int, pydantic.Field(ge=1, le=MAX_PAGE)] = 50


async def upload(request: web.Request) -> web.Response:
    """Raw body with its Content-Type, or multipart/form-data with a ``file`` field."""
    user = caller(request)
    hub, gate = request.app[CONTEXT], request.app[UPLOAD_GATE]
    who = (user.user_id, user.role.value)
    with gate.slot(who):
        used = await upload_store.uploaded_since(hub.pool, *who, uploads.QUOTA_WINDOW_SECONDS)
        gate.check_quota(used, request.content_length or 0)  # before reading a byte, when it can
        limit = hub.settings.chat.upload_max_bytes
        filename: str | None = request.headers.get("X-Filename")
        if request.content_type.startswith("multipart/"):
            content_type, filename, content = await _read_multipart(request, limit)
        else:
            if request.content_length is not None and request.content_length > limit:
                raise InvalidPayload(f"the file is larger than {limit} bytes", code="upload_too_large")
            content_type = request.headers.get("Content-Type", "")
            content = await _read_limited(request.content.read, limit)
        gate.check_quota(used, len(content))
        mime = uploads.check(content_type, content, limit)
        name = uploads.clean_filename(filename)
        stored = await upload_store.insert(hub.pool, *who, mime, name, content)
    return reply(Upload(**stored), status=201)


async def _read_multipart(request: web.Request, limit: int) -> tuple[str, str | None, bytearray]:
    """(Content-Type, filename, bytes) of the form field named ``file``."""
    try:
        reader = await request.multipart()
        part = await reader.next()
        while part is not None and getattr(part, "name", None) != "file":
            part = await reader.next()
        if part is None or not isinstance(part, BodyPartReader):
            raise InvalidPayload("send the file in a form field named 'file'", code="upload_missing")
        return (
            part.headers.get("Content-Type", ""),
            part.filename,
            await _read_limited(part.read_chunk, limit),
        )
    except InvalidPayload:
        raise
    except (ValueError, HttpProcessingError) as exc:  # aiohttp's parser refusing the body
        raise InvalidPayload(f"the multipart body is malformed: {exc}", code="upload_malformed") from None


async def _read_limited(read: Callable[[int], Awaitable[bytes]], limit: int) -> bytearray:
    """Stream a body in chunks into one buffer, refusing it as soon as it passes ``limit`` (never
    buffering more). One buffer, not a list of chunks joined at the end: the file is held once,
    and no heap is left strewn with the chunks' holes once it is stored."""
    content = bytearray()
    while chunk := await read(CHUNK):
        if len(content) + len(chunk) > limit:
            raise InvalidPayload(f"the file is larger than {limit} bytes", code="upload_too_large")
        content += chunk
    return content


async def download(request: web.Request) -> web.Response:
    try:
        upload_id = uuid.UUID(request.match_info["upload_id"])
    except ValueError:
        raise NotFound("no such upload", code="upload_not_found") from None
    content_type, filename, content, sha256 = await request.app[CONTEXT].chat.upload(
        caller(request), upload_id
    )
    headers = {
        "ETag": f'"{sha256}"',
        "Cache-Control": "private, max-age=86400, immutable",
        # Never rendered inline as a page of the hub's origin, whatever the file holds. Cleaned
        # again: names stored before uploads were cleaned may hold line breaks.
        "Content-Disposition": attachment(uploads.clean_filename(filename) or upload_id.hex),
        "X-Content-Type-Options": "nosniff",
    }
    return web.Response(body=content, content_type=content_type, headers=headers)


def attachment(filename: str) -> str:
    """``Content-Disposition`` for a download (RFC 6266): an ASCII fallback for old clients, then
    the exact name, percent-encoded UTF-8 (RFC 5987), which every current client prefers."""
    fallback = "".join(char if " " <= char <= "~" and char not in '"\\' else "_" for char in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


async def notifications(request: web.Request) -> web.Response:
    user = caller(request)
    query = read_query(request, NotificationsQuery)
    listed = await inbox.listing(
        request.app[CONTEXT].pool, user.user_id, user.role, query.cursor, query.limit
    )
    return reply(NotificationPage.model_validate(listed))


async def conversations(request: web.Request) -> web.Response:
    user = caller(request)
    listed = await request.app[CONTEXT].chat.conversations(user)
    return reply(
        Conversations(
            items=[ConversationSummary(**c) for c in listed],
            next_cursor=None,
            unread=sum(c["unread"] for c in listed),
        )
    )


OPERATIONS = [
    Operation(
        "POST",
        "/api/v1/uploads",
        upload,
        summary="Upload a chat attachment",
        description=(
            "The raw file with its Content-Type (and an optional X-Filename header), or "
            "multipart/form-data with a `file` field. The file's first bytes must match its type."
        ),
        tag="chat",
        roles=ANY_ROLE,
        raw_body=(*sorted(uploads.ALLOWED_TYPES), "multipart/form-data"),
        responses={201: Upload},
        errors=(422, 429),
    ),
    Operation(
        "GET",
        "/api/v1/uploads/{upload_id}",
        download,
        summary="Download an attachment (always as an attachment, never rendered inline)",
        description=(
            "For its uploader, and for whoever may see a message that attaches it (a private "
            "note's: agents only). For anyone else 404 upload_not_found, as for an unknown id."
        ),
        tag="chat",
        roles=ANY_ROLE,
        responses={200: None},
        raw_responses={200: tuple(sorted(uploads.ALLOWED_TYPES))},
        errors=(404,),
        path_params={"upload_id": UUID_PARAM},
    ),
    Operation(
        "GET",
        "/api/v1/notifications",
        notifications,
        summary="The caller's notification inbox, newest first",
        tag="notifications",
        roles=ANY_ROLE,
        query=NotificationsQuery,
        responses={200: NotificationPage},
    ),
    Operation(
        "GET",
        "/api/v1/conversations",
        conversations,
        summary="The caller's conversations with their unread counts",
        tag="chat",
        roles=ANY_ROLE,
        responses={200: Conversations},
    ),
]


def add_routes(app: web.Application) -> None:
    chat = app[SETTINGS].chat
    app[UPLOAD_GATE] = uploads.UploadGate(chat.upload_quota_bytes, chat.upload_concurrency)
    add_operations(app, OPERATIONS)
