"""Reviews: the customer writes, edits and reads the booking's review, its worker replies, staff
hide and show; anyone reads a worker's shown reviews and the files they attach."""

from __future__ import annotations

import uuid
from typing import Any

import pydantic
from aiohttp import web

from bookings.http.bookings import UUID_PARAM, booking_id_param
from bookings.http.idempotency import create_once
from bookings.http.inputs import local_today, path_uuid, path_worker_id, required_body
from bookings.keys import runtime
from bookings.reviews.models import (
    HideIn,
    ReplyIn,
    Review,
    ReviewIn,
    ReviewPage,
    ReviewPatch,
    ReviewRecord,
    ReviewsQuery,
    StaffReviewPage,
    StaffReviewsQuery,
    UnhideIn,
)
from hub.auth import ANY_ROLE, STAFF, Principal, Role
from hub.chat.uploads import ALLOWED_TYPES, clean_filename
from hub.web.chat import attachment as content_disposition
from hub.web.openapi import Operation, authenticate, caller, read_body, read_query, reply

REVIEW_PARAM = {"review_id": {"type": "string", "format": "uuid"}}
WORKER_PARAM = {"worker_id": {"type": "string"}}
ATTACHMENT_PARAMS = {**REVIEW_PARAM, "upload_id": {"type": "string", "format": "uuid"}}


def review_id_param(request: web.Request) -> uuid.UUID:
    return path_uuid(request, "review_id", "review")


def optional_caller(request: web.Request) -> Principal | None:
    """Who is calling a public route, when they say (a bad token is refused like anywhere else)."""
    if "Authorization" not in request.headers:
        return None
    return authenticate(request, ANY_ROLE)


async def write(request: web.Request) -> web.Response:
    user = caller(request)
    booking_id = booking_id_param(request)
    wanted = await required_body(request, ReviewIn)
    rt = runtime(request)

    async def make(conn: Any) -> pydantic.BaseModel:
        return await rt.reviews.write(conn, user.user_id, booking_id, wanted)

    return await create_once(request, rt.pool, user, make)


async def edit(request: web.Request) -> web.Response:
    user = caller(request)
    booking_id = booking_id_param(request)
    patch = await required_body(request, ReviewPatch)
    return reply(await runtime(request).reviews.edit(user.user_id, booking_id, patch))


async def show(request: web.Request) -> web.Response:
    user = caller(request)
    return reply(await runtime(request).reviews.of_booking(user, booking_id_param(request)))


async def answer(request: web.Request) -> web.Response:
    user = caller(request)
    booking_id = booking_id_param(request)
    wanted = await required_body(request, ReplyIn)
    return reply(await runtime(request).reviews.reply(user.user_id, booking_id, wanted.text))


async def of_worker(request: web.Request) -> web.Response:
    worker_id = path_worker_id(request)
    query = read_query(request, ReviewsQuery)
    return reply(await runtime(request).reviews.shown(worker_id, query, local_today(request)))


async def of_worker_for_staff(request: web.Request) -> web.Response:
    worker_id = path_worker_id(request)
    query = read_query(request, StaffReviewsQuery)
    return reply(await runtime(request).reviews.of_worker_for_staff(worker_id, query))


async def record(request: web.Request) -> web.Response:
    return reply(await runtime(request).reviews.record(review_id_param(request)))


async def hide(request: web.Request) -> web.Response:
    user = caller(request)
    review_id = review_id_param(request)
    wanted = await required_body(request, HideIn)
    return reply(await runtime(request).reviews.hide(user, review_id, wanted))


async def unhide(request: web.Request) -> web.Response:
    user = caller(request)
    review_id = review_id_param(request)
    wanted = await read_body(request, UnhideIn)
    return reply(await runtime(request).reviews.unhide(user, review_id, wanted))


async def download(request: web.Request) -> web.Response:
    review_id = review_id_param(request)
    upload_id = path_uuid(request, "upload_id", "attachment")
    viewer = optional_caller(request)
    content_type, filename, content, sha256 = await runtime(request).reviews.attachment(
        review_id, upload_id, viewer
    )
    headers = {
        "ETag": f'"{sha256}"',
        # Public while the review is shown, but staff may hide it: caches keep it briefly.
        "Cache-Control": "public, max-age=300",
        "Content-Disposition": content_disposition(clean_filename(filename) or upload_id.hex),
        "X-Content-Type-Options": "nosniff",
    }
    return web.Response(body=content, content_type=content_type, headers=headers)


_TAG = "reviews"
BOOKING_REVIEW = "/api/v1/bookings/{booking_id}/review"
WRITE = (
    "Three scores from 1 to 5 (`quality`, `attitude`, `skill`), a `comment` of at most 2,000 "
    "characters, and at most 9 `upload_ids` of the customer's own uploads (images or video/mp4). "
    "Errors: `booking_not_found` (404, also someone else's), `booking_not_completed`, "
    "`already_reviewed`, `review_window_closed` (409), `attachment_not_yours`, "
    "`attachment_type_not_allowed` (422)."
)
OPERATIONS = [
    Operation(
        "POST", BOOKING_REVIEW, write, "Review the worker of a completed booking (once)",
        _TAG, roles=(Role.CUSTOMER,), body=ReviewIn, responses={201: Review}, errors=(404, 409),
        idempotent=True, path_params=UUID_PARAM, description=WRITE,
    ),
    Operation(
        "PATCH", BOOKING_REVIEW, edit, "Change the review while its edit window lasts",
        _TAG, roles=(Role.CUSTOMER,), body=ReviewPatch, responses={200: Review}, errors=(404, 409),
        path_params=UUID_PARAM,
        description="Fields left out stay as they are. After `HUB_REVIEW_EDIT_MINUTES`: 409 "
        "`review_locked` with `editable_until`. The same change again answers the review unchanged.",
    ),
    Operation(
        "GET", BOOKING_REVIEW, show, "The booking's review, for its customer, its worker and staff",
        _TAG, roles=ANY_ROLE, responses={200: Review}, errors=(404,), path_params=UUID_PARAM,
    ),
    Operation(
        "POST", f"{BOOKING_REVIEW}/reply", answer, "The worker answers the booking's review (once)",
        _TAG, roles=(Role.WORKER,), body=ReplyIn, responses={200: Review}, errors=(404, 409),
        path_params=UUID_PARAM,
        description="At most 1,000 characters; the customer is notified. The same answer again "
        "changes nothing; another is 409 `already_replied`.",
    ),
    Operation(
        "GET", "/api/v1/workers/{worker_id}/reviews", of_worker,
        "A worker's reviews with their replies, newest first", _TAG, auth=False, query=ReviewsQuery,
        responses={200: ReviewPage}, errors=(404,), path_params=WORKER_PARAM,
        description="Hidden reviews are not listed. `next_cursor` is the `cursor` of the next page.",
    ),
    Operation(
        "GET", "/api/v1/reviews/{review_id}/attachments/{upload_id}", download,
        "A photo or video a review attaches (always as an attachment, never rendered inline)",
        _TAG, auth=False, responses={200: None}, raw_responses={200: tuple(sorted(ALLOWED_TYPES))},
        errors=(401, 404), path_params=ATTACHMENT_PARAMS,
        description="For anyone while the review is shown; once staff hid it, only with a token of "
        "staff, its author or its worker.",
    ),
    Operation(
        "GET", "/api/v1/admin/workers/{worker_id}/reviews", of_worker_for_staff,
        "Every review of a worker, hidden ones flagged with their moderation", "admin", roles=STAFF,
        query=StaffReviewsQuery, responses={200: StaffReviewPage}, errors=(404,),
        path_params=WORKER_PARAM,
    ),
    Operation(
        "GET", "/api/v1/admin/reviews/{review_id}", record, "A review with its history", "admin",
        roles=STAFF, responses={200: ReviewRecord}, errors=(404,), path_params=REVIEW_PARAM,
    ),
    Operation(
        "POST", "/api/v1/admin/reviews/{review_id}/hide", hide,
        "Hide a review from the profile and the ratings, with a reason (kept and audited)", "admin",
        roles=STAFF, body=HideIn, responses={200: ReviewRecord}, errors=(404,), path_params=REVIEW_PARAM,
        description="Hiding a hidden review changes nothing.",
    ),
    Operation(
        "POST", "/api/v1/admin/reviews/{review_id}/unhide", unhide,
        "Show a hidden review again: back on the profile and in the ratings", "admin", roles=STAFF,
        body=UnhideIn, responses={200: ReviewRecord}, errors=(404,), path_params=REVIEW_PARAM,
        description="`reason` is optional. Showing a shown review changes nothing.",
    ),
]  # fmt: skip
