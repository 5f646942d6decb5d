"""The review use cases: write, edit, reply, hide and show again, read. Each is one transaction
that changes the review, the worker's rating totals, the review's history, and tells whom it
concerns (``orders.tell``: in the inbox, live, pushed); a low review also opens a console item.

Who may: the booking's customer writes (once, after completion, within ``within_days``) and
edits (for ``edit_minutes``); its worker replies once; staff hide and show. Everything else is
refused before anything is touched, and someone else's booking reads as no booking at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg

from bookings import orders
from bookings.config import ReviewConfig
from bookings.orders import Booking
from bookings.reviews import ratings, rules
from bookings.reviews.models import (
    HideIn,
    HistoryEntry,
    Moderation,
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
from bookings.reviews.rules import Scores
from bookings.reviews.views import public, scores_of
from bookings.storage import reviews as store
from bookings.storage import workers as worker_store
from hub import cursors
from hub.auth import STAFF, Principal, Role
from hub.console import items as work_items
from hub.console.models import NewItem, Priority
from hub.errors import Conflict, InvalidPayload, NotFound
from hub.storage import uploads as upload_store
from hub.storage.db import Conn, Executor
from hub.times import iso, iso_or_none

LOW_REVIEW = "low_review"  # the console item's kind
Actor = tuple[str, str]  # (role, id)
SYSTEM: Actor = ("system", "bookings")  # who resolves an item whose cause went away by itself


class Reviews:
    def __init__(self, pool: asyncpg.Pool, config: ReviewConfig) -> None:
        self.pool = pool
        self.config = config

    # The customer ------------------------------------------------------------------------------

    async def write(self, conn: Conn, customer_id: str, booking_id: uuid.UUID, wanted: ReviewIn) -> Review:
        """In the caller's transaction (``Idempotency-Key`` handling keeps its key in it)."""
        booking = await _customers_booking(conn, customer_id, booking_id)
        if booking.status != orders.Status.COMPLETED:  # said before anything about the attachments
            raise await self._why_not_written(conn, booking)
        attachments = await _attachments(conn, customer_id, wanted.upload_ids)
        scores = (wanted.quality, wanted.attitude, wanted.skill)
        row = await store.insert(
            conn, uuid.uuid4(), booking.id, customer_id, scores, wanted.comment, attachments,
            self.config.within_days,
        )  # fmt: skip
        if row is None:
            raise await self._why_not_written(conn, booking)
        await ratings.count_in(conn, row["worker_id"], scores)
        await store.add_history(conn, row["id"], "created", ("customer", customer_id), data=_scores(scores))
        await self._tell_worker(conn, booking, row, "New review")
        await self._follow_low(conn, booking, row)
        return self._review(row, staff=False)

    async def _why_not_written(self, conn: Conn, booking: Booking) -> Exception:
        if booking.status != orders.Status.COMPLETED:
            return Conflict(
                "a booking is reviewed once it is completed",
                code="booking_not_completed",
                details={"status": booking.status.value},
            )
        existing = await store.of_booking(conn, booking.id)
        if existing is not None:
            return Conflict(
                "this booking is already reviewed; change the review instead",
                code="already_reviewed",
                details={"review_id": str(existing["id"])},
            )
        if not await store.window_open(conn, booking.id, self.config.within_days):
            return Conflict(
                f"a booking is reviewed within {self.config.within_days} days of its service",
                code="review_window_closed",
                details={"finished_at": _iso(booking.finished_at), "within_days": self.config.within_days},
            )
        # Nothing else refuses it: the review the statement collided with was removed since.
        return Conflict("the review could not be written; try again", code="review_retry")

    async def edit(self, customer_id: str, booking_id: uuid.UUID, patch: ReviewPatch) -> Review:
        async with self.pool.acquire() as conn, conn.transaction():
            booking = await _customers_booking(conn, customer_id, booking_id)
            row = await _locked_of_booking(conn, booking.id)
            if not await store.within_edit_window(conn, row["id"], self.config.edit_minutes):
                raise Conflict(
                    "a review can no longer be changed once its edit window has passed",
                    code="review_locked",
                    details={"editable_until": iso(self._editable_until(row))},
                )
            before = scores_of(row)
            after: Scores = (
                row["quality"] if patch.quality is None else patch.quality,
                row["attitude"] if patch.attitude is None else patch.attitude,
                row["skill"] if patch.skill is None else patch.skill,
            )
            comment = row["comment"] if patch.comment is None else patch.comment
            attachments = row["attachments"]
            if patch.upload_ids is not None:
                attachments = await _attachments(conn, customer_id, patch.upload_ids)
            if (after, comment, attachments) == (before, row["comment"], row["attachments"]):
                return self._review(row, staff=False)  # a retry of an edit already made
            changed = await store.update_content(conn, row["id"], after, comment, attachments)
            if changed["hidden_at"] is None:
                await ratings.rescore(conn, changed["worker_id"], before, after)
            await store.add_history(
                conn, row["id"], "edited", ("customer", customer_id),
                data={"before": _scores(before), "after": _scores(after)},
            )  # fmt: skip
            await self._tell_worker(conn, booking, changed, "Review updated")
            await self._follow_low(conn, booking, changed)
            return self._review(changed, staff=False)

    # The worker --------------------------------------------------------------------------------

    async def reply(self, worker_id: str, booking_id: uuid.UUID, text: str) -> Review:
        """The worker's one answer; the same answer again is a retry and changes nothing."""
        async with self.pool.acquire() as conn, conn.transaction():
            booking = await orders.require_worker_booking(conn, booking_id, worker_id)
            row = await _locked_of_booking(conn, booking.id)
            if row["reply"] is not None:
                if row["reply"] == text:
                    return self._review(row, staff=False)
                raise Conflict(
                    "a review is answered once", code="already_replied", details={"review_id": str(row["id"])}
                )
            changed = await store.set_reply(conn, row["id"], text)
            await store.add_history(conn, row["id"], "replied", ("worker", worker_id))
            await orders.tell(
                conn, booking, booking.customer_id, "customer", "Your review was answered", _excerpt(text),
                kind="review_reply", review_id=str(row["id"]),
            )  # fmt: skip
            return self._review(changed, staff=False)

    # Staff -------------------------------------------------------------------------------------

    async def hide(self, user: Principal, review_id: uuid.UUID, wanted: HideIn) -> ReviewRecord:
        """Off the profile and out of the ratings, kept and audited; hiding it again changes nothing."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await _locked(conn, review_id)
            if row["hidden_at"] is None:
                by = (user.role.value, user.user_id)
                row = await store.set_hidden(conn, review_id, by, wanted.reason)
                await ratings.count_out(conn, row["worker_id"], scores_of(row))
                await store.add_history(conn, review_id, "hidden", by, wanted.reason)
                if row["booking_id"] is not None:
                    await self._follow_low(conn, await orders.require(conn, row["booking_id"]), row, by)
            return await self._record(conn, row)

    async def unhide(self, user: Principal, review_id: uuid.UUID, wanted: UnhideIn) -> ReviewRecord:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await _locked(conn, review_id)
            if row["hidden_at"] is not None:
                row = await store.set_hidden(conn, review_id, None, None)
                await ratings.count_in(conn, row["worker_id"], scores_of(row))
                await store.add_history(
                    conn, review_id, "unhidden", (user.role.value, user.user_id), wanted.reason
                )
            return await self._record(conn, row)

    async def record(self, review_id: uuid.UUID) -> ReviewRecord:
        row = await store.get(self.pool, review_id)
        if row is None:
            raise NotFound("no such review", code="review_not_found")
        return await self._record(self.pool, row)

    async def of_worker_for_staff(self, worker_id: str, query: StaffReviewsQuery) -> StaffReviewPage:
        """Every review of the worker, hidden ones flagged, newest first."""
        if await worker_store.name(self.pool, worker_id) is None:
            raise NotFound("no such worker", code="worker_not_found")
        rows, next_cursor = await self._page(worker_id, query, hidden=query.hidden)
        return StaffReviewPage(items=[self._review(r, staff=True) for r in rows], next_cursor=next_cursor)

    # Reading -----------------------------------------------------------------------------------

    async def of_booking(self, user: Principal, booking_id: uuid.UUID) -> Review:
        """The booking's review, for its customer, its worker and staff."""
        booking = await orders.get(self.pool, booking_id)
        if booking is None or not orders.can_see(user, booking):
            raise NotFound("no such booking", code="booking_not_found")
        row = await store.of_booking(self.pool, booking_id)
        if row is None:
            raise NotFound("the booking has no review yet", code="review_not_found")
        return self._review(row, staff=user.role in STAFF)

    async def shown(self, worker_id: str, query: ReviewsQuery, today: date) -> ReviewPage:
        """The worker's public reviews, newest first, for a worker customers can find."""
        worker = await worker_store.by_id(self.pool, worker_id, today)
        if worker is None or not worker["eligible"]:
            raise NotFound("no such worker", code="worker_not_found")
        rows, next_cursor = await self._page(worker_id, query, hidden=False)
        return ReviewPage(items=[public(r) for r in rows], next_cursor=next_cursor)

    async def _page(
        self, worker_id: str, query: ReviewsQuery, *, hidden: bool | None
    ) -> tuple[list[asyncpg.Record], str | None]:
        after = cursors.read(query.cursor, "reviews", datetime, uuid.UUID)
        rows = await store.of_worker(self.pool, worker_id, hidden=hidden, before=after, limit=query.limit + 1)
        return cursors.page("reviews", rows, query.limit, lambda row: (row["created_at"], row["id"]))

    async def attachment(
        self, review_id: uuid.UUID, upload_id: uuid.UUID, viewer: Principal | None
    ) -> tuple[str, str | None, bytes, str]:
        """(content type, filename, bytes, sha256) of a file the review attaches: for anyone while
        the review is shown; once hidden, for staff, its author and its worker only."""
        row = await store.get(self.pool, review_id)
        found = None
        if row is not None and self._may_see(row, viewer) and _attaches(row, upload_id):
            found = await upload_store.content(self.pool, upload_id)
        if found is None:
            raise NotFound("no such attachment", code="attachment_not_found")
        return found

    @staticmethod
    def _may_see(row: asyncpg.Record, viewer: Principal | None) -> bool:
        if row["hidden_at"] is None or viewer is None:
            return row["hidden_at"] is None
        if viewer.role in STAFF:
            return True
        return (viewer.role, viewer.user_id) in (
            (Role.CUSTOMER, row["customer_id"]),
            (Role.WORKER, row["worker_id"]),
        )

    # Shapes ------------------------------------------------------------------------------------

    def _editable_until(self, row: asyncpg.Record) -> datetime:
        created: datetime = row["created_at"]
        return created + timedelta(minutes=self.config.edit_minutes)

    def _review(self, row: asyncpg.Record, *, staff: bool) -> Review:
        moderation = None
        if staff and row["hidden_at"] is not None:
            moderation = Moderation(
                hidden_at=row["hidden_at"],
                by=row["hidden_by"] or "",
                role=row["hidden_role"] or "",
                reason=row["hidden_reason"] or "",
            )
        return Review(
            **public(row).model_dump(),
            booking_id=row["booking_id"],
            worker_id=row["worker_id"],
            customer_id=row["customer_id"],
            editable_until=self._editable_until(row),
            hidden=row["hidden_at"] is not None,
            moderation=moderation,
        )

    async def _record(self, db: Executor, row: asyncpg.Record) -> ReviewRecord:
        history = [HistoryEntry.model_validate(dict(h)) for h in await store.history(db, row["id"])]
        return ReviewRecord(**self._review(row, staff=True).model_dump(), history=history)

    # Telling -----------------------------------------------------------------------------------

    async def _tell_worker(self, conn: Conn, booking: Booking, row: asyncpg.Record, title: str) -> None:
        scores = scores_of(row)
        body = f"{rules.mask_name(row['customer_name'])}: {rules.overall(scores):.1f} / 5"
        if row["comment"]:
            body += f" · {_excerpt(row['comment'])}"
        await orders.tell(
            conn, booking, row["worker_id"], "worker", title, body,
            kind="review", review_id=str(row["id"]), overall=rules.overall(scores),
        )  # fmt: skip

    async def _follow_low(
        self, conn: Conn, booking: Booking, row: asyncpg.Record, by: Actor = SYSTEM
    ) -> None:
        """A shown review below ``low_below`` is a console item for support, opened once per
        review; one that is hidden, or edited up, resolves its open item."""
        scores = scores_of(row)
        if row["hidden_at"] is not None or not rules.is_low(scores, self.config.low_below):
            why = "the review was hidden" if row["hidden_at"] is not None else "the review was raised"
            await work_items.resolve_open(conn, LOW_REVIEW, str(booking.id), by, why)
            return
        overall = rules.overall(scores)
        await work_items.open_item(
            conn,
            NewItem(
                kind=LOW_REVIEW,
                subject=str(booking.id),
                cause=str(row["id"]),
                title=f"Low review ({overall:.2f} / 5) of worker {row['worker_id']}",
                priority=Priority.HIGH if rules.is_urgent(scores) else Priority.NORMAL,
                booking_id=booking.id,
                person=("worker", row["worker_id"]),
                data={
                    "review_id": str(row["id"]),
                    **_scores(scores),
                    "overall": overall,
                    "comment": _excerpt(row["comment"]),
                },
            ),
        )


async def _customers_booking(db: Executor, customer_id: str, booking_id: uuid.UUID) -> Booking:
    booking = await orders.get(db, booking_id)
    if booking is None or booking.customer_id != customer_id:
        raise NotFound("no such booking", code="booking_not_found")
    return booking


async def _locked(conn: Conn, review_id: uuid.UUID) -> asyncpg.Record:
    row = await store.lock(conn, review_id)
    if row is None:
        raise NotFound("no such review", code="review_not_found")
    return row


async def _locked_of_booking(conn: Conn, booking_id: uuid.UUID) -> asyncpg.Record:
    row = await store.lock_of_booking(conn, booking_id)
    if row is None:
        raise NotFound("the booking has no review yet", code="review_not_found")
    return row


async def _attachments(conn: Conn, customer_id: str, upload_ids: Sequence[uuid.UUID]) -> list[dict[str, Any]]:
    """What the review keeps of each upload: the customer's own, photos and videos only."""
    if not upload_ids:
        return []
    found = await upload_store.describe(conn, list(upload_ids), customer_id, Role.CUSTOMER.value)
    missing = [str(u) for u in upload_ids if u not in found]
    if missing:
        raise InvalidPayload(
            "attach only files you uploaded yourself (POST /api/v1/uploads)",
            code="attachment_not_yours",
            details={"upload_ids": missing},
        )
    rules.refuse_unattachable((u, found[u]["content_type"]) for u in upload_ids)
    return [
        {"upload_id": str(u), "content_type": found[u]["content_type"], "size": found[u]["size"]}
        for u in upload_ids
    ]


def _attaches(row: asyncpg.Record, upload_id: uuid.UUID) -> bool:
    return any(a["upload_id"] == str(upload_id) for a in row["attachments"])


def _scores(scores: Scores) -> dict[str, int]:
    return dict(zip(("quality", "attitude", "skill"), scores, strict=True))


def _excerpt(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _iso(at: datetime | None) -> str | None:
    return iso_or_none(at)
