"""Complaints: a customer files one about their booking and follows it; staff take, investigate,
note, message, resolve or reject it (the same use cases as the ``/support`` events)."""

from __future__ import annotations

import uuid
from typing import Any

import pydantic
from aiohttp import web

from bookings.complaints.models import (
    AssignTo,
    ComplaintDetail,
    ComplaintList,
    ComplaintsQuery,
    ComplaintView,
    CustomerComplaint,
    MessageBody,
    NewComplaint,
    NoteBody,
    Reject,
    Resolve,
)
from bookings.complaints.service import Complaints
from bookings.http.bookings import UUID_PARAM, booking_id_param
from bookings.http.idempotency import create_once
from bookings.http.inputs import path_uuid, required_body
from bookings.keys import runtime
from hub.auth import STAFF, Role
from hub.chat.uploads import ALLOWED_TYPES, clean_filename
from hub.web.chat import attachment as content_disposition
from hub.web.openapi import Operation, caller, read_query, reply

COMPLAINT_PARAM = {"complaint_id": {"type": "string", "format": "uuid"}}
ATTACHMENT_PARAMS = {**COMPLAINT_PARAM, "upload_id": {"type": "string", "format": "uuid"}}
CUSTOMER_AND_STAFF = (Role.CUSTOMER, *STAFF)


def complaints(request: web.Request) -> Complaints:
    return runtime(request).complaints


def complaint_id(request: web.Request) -> uuid.UUID:
    return path_uuid(request, "complaint_id", "complaint")


async def file(request: web.Request) -> web.Response:
    user = caller(request)
    booking_id = booking_id_param(request)
    wanted = await required_body(request, NewComplaint)
    rt = runtime(request)

    async def make(conn: Any) -> pydantic.BaseModel:
        return await rt.complaints.file(conn, user.user_id, booking_id, wanted)

    return await create_once(request, rt.pool, user, make)


async def listing(request: web.Request) -> web.Response:
    query = read_query(request, ComplaintsQuery)
    return reply(await complaints(request).listing(caller(request), query))


async def show(request: web.Request) -> web.Response:
    found = await complaints(request).visible(caller(request), complaint_id(request))
    return reply(ComplaintView(found))


async def download(request: web.Request) -> web.Response:
    upload_id = path_uuid(request, "upload_id", "upload")
    content_type, filename, content, sha256 = await complaints(request).attachment(
        caller(request), complaint_id(request), upload_id
    )
    headers = {
        "ETag": f'"{sha256}"',
        "Cache-Control": "private, max-age=86400, immutable",
        "Content-Disposition": content_disposition(clean_filename(filename) or upload_id.hex),
        "X-Content-Type-Options": "nosniff",
    }
    return web.Response(body=content, content_type=content_type, headers=headers)


async def take(request: web.Request) -> web.Response:
    return reply(await complaints(request).take(caller(request), complaint_id(request)))


async def assign(request: web.Request) -> web.Response:
    wanted = await required_body(request, AssignTo)
    done = await complaints(request).assign(
        caller(request), complaint_id(request), wanted.owner_id, wanted.owner_role
    )
    return reply(done)


async def investigate(request: web.Request) -> web.Response:
    return reply(await complaints(request).investigate(caller(request), complaint_id(request)))


async def note(request: web.Request) -> web.Response:
    wanted = await required_body(request, NoteBody)
    return reply(await complaints(request).note(caller(request), complaint_id(request), wanted.body))


async def message(request: web.Request) -> web.Response:
    wanted = await required_body(request, MessageBody)
    return reply(await complaints(request).message(caller(request), complaint_id(request), wanted.body))


async def resolve(request: web.Request) -> web.Response:
    wanted = await required_body(request, Resolve)
    return reply(await complaints(request).resolve(caller(request), complaint_id(request), wanted))


async def reject(request: web.Request) -> web.Response:
    wanted = await required_body(request, Reject)
    return reply(await complaints(request).reject(caller(request), complaint_id(request), wanted.reason))


_TAG = "complaints"
_ACTION_ERRORS = (404, 409, 422)
_BASE = "/api/v1/complaints/{complaint_id}"


def _staff(verb: str, handler: Any, summary: str, body: type[pydantic.BaseModel] | None = None,
           description: str = "") -> Operation:  # fmt: skip
    return Operation(
        "POST", f"{_BASE}/{verb}", handler, summary, _TAG, roles=STAFF, body=body,
        responses={200: ComplaintDetail}, errors=_ACTION_ERRORS, path_params=COMPLAINT_PARAM,
        description=description,
    )  # fmt: skip


OPERATIONS = [
    Operation(
        "POST", "/api/v1/bookings/{booking_id}/complaints", file,
        "Complain about one of your bookings (one a worker took)", _TAG,
        roles=(Role.CUSTOMER,), body=NewComplaint, responses={201: CustomerComplaint},
        errors=(404, 409, 422), idempotent=True, path_params=UUID_PARAM,
        description="Errors: `booking_not_found` (404, not yours), `not_complainable` (409, no worker took "
        "it), `complaint_window_closed` (409), `complaint_open` (409, one is not resolved yet), "
        "`invalid_attachment` and `attachment_type_not_allowed` (422).",
    ),
    Operation(
        "GET", "/api/v1/complaints", listing,
        "Complaints: a customer's own; staff filter by status, owner and overdue", _TAG,
        roles=CUSTOMER_AND_STAFF, query=ComplaintsQuery, responses={200: ComplaintList}, errors=(422,),
        description="Newest first, `limit` and `cursor` to page. `owner`: `me`, `none`, or "
        "`support:<id>`/`admin:<id>` (staff only, like `overdue`).",
    ),
    Operation(
        "GET", _BASE, show, "A complaint: as its customer sees it, or with its history for staff", _TAG,
        roles=CUSTOMER_AND_STAFF, responses={200: ComplaintView},
        errors=(404,), path_params=COMPLAINT_PARAM,
    ),
    Operation(
        "GET", f"{_BASE}/attachments/{{upload_id}}", download, "A complaint's attachment", _TAG,
        roles=CUSTOMER_AND_STAFF, responses={200: None}, raw_responses={200: tuple(sorted(ALLOWED_TYPES))},
        errors=(404,), path_params=ATTACHMENT_PARAMS,
    ),
    _staff("take", take, "Own the complaint"),
    _staff("assign", assign, "Give the complaint to another agent or admin", AssignTo),
    _staff("investigate", investigate, "Start investigating (the customer and the worker are told)"),
    _staff("notes", note, "A note for staff only", NoteBody),
    _staff("messages", message, "A message to the customer (shown with the complaint, told)", MessageBody),
    _staff(
        "resolve", resolve, "Resolve: refund, redo, compensation or no action", Resolve,
        "In one transaction with the move to `resolved`. Errors besides `illegal_transition`: "
        "`nothing_paid`, `nothing_to_refund`, `refund_exceeds_paid` (409); a redo's `slot_too_soon`, "
        "`slot_too_far`, `outside_service_hours` (422); a coupon's `coupon_not_found` (404), "
        "`coupon_inactive`, `coupon_expired`, `coupon_exhausted`, `coupon_limit_reached` (409).",
    ),
    _staff("reject", reject, "Reject, with the reason the customer is told", Reject),
]  # fmt: skip
