"""Reviews against a running hub: who may review (the booking's customer, once, after completion,
within the review window), the edit window, the worker's one reply and its live notifications,
attachments from the customer's own uploads, moderation by staff (hidden reviews leave the list
and the ratings, audited), the public list's pages, the ratings kept exact under concurrent
reviews and rebuilt from the reviews by ``python -m hub ratings-rebuild``, and the migration of
the old single ratings."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from bookings.config import ReviewConfig
from bookings.extension import BookingsExtension
from bookings.storage import bookings as booking_store
from hub.env import ConfigError
from hub.keys import CONTEXT
from hub.storage.migrate import MIGRATIONS_DIR, migrate
from tests.bookings.test_payments import hub_env_of
from tests.support.bookings import CENTRE, SERVICE, book_and_pay, open_peer, start
from tests.support.clients import Peer
from tests.support.hubs import RunningHub, StartHub, cli

ADMIN = ("admin", "admin-1")
SUPPORT = ("support", "support-1")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64
PDF = b"%PDF-1.4\n" + b"\x00" * 64
GOOD = {"quality": 5, "attitude": 4, "skill": 3, "comment": "Careful and on time."}


def pool_of(hub: RunningHub) -> asyncpg.Pool:
    return hub.app[CONTEXT].pool


async def completed(hub: RunningHub, customer: str = "c-1", worker: str = "w-1", days_ago: float = 0) -> str:
    """A booking of ``customer`` that ``worker`` finished ``days_ago`` (written straight to the
    database: the full path over sockets is walked in the first test)."""
    booking_id = uuid.uuid4()
    pool = pool_of(hub)
    finished = await pool.fetchval("SELECT now() - make_interval(secs => $1)", days_ago * 86400)
    async with pool.acquire() as conn, conn.transaction():
        await booking_store.insert(
            conn,
            booking_id,
            customer_id=customer,
            service_id=SERVICE,
            chosen_worker_id=None,
            slot_start=finished - timedelta(hours=3),
            slot_end=finished,
            duration_minutes=180,
            address={"label": "", "line": "1 Rd", "city": "", "lat": CENTRE[0], "lng": CENTRE[1]},
            lat=CENTRE[0],
            lng=CENTRE[1],
            special_requests="",
            price={"base_cents": 15_000, "surcharges_cents": 0, "discounts_cents": 0},
            total_cents=15_000,
            worker_pay_cents=0,
            payment_seconds=600,
        )
        await conn.execute(
            """UPDATE bookings SET status = 'completed', worker_id = $2, paid_at = $3, accepted_at = $3,
                                   started_at = $3, finished_at = $3 WHERE id = $1""",
            booking_id,
            worker,
            finished,
        )
    return str(booking_id)


async def as_(hub: RunningHub, who: tuple[str, str], method: str, path: str, **kw: Any) -> tuple[int, Any]:
    return await hub.http(method, path, hub.token(*who), **kw)


async def review(
    hub: RunningHub, booking_id: str, customer: str = "c-1", body: Any = None, **changes: Any
) -> tuple[int, Any]:
    """POST the review: ``body`` as given, or GOOD with ``changes``."""
    path = f"/api/v1/bookings/{booking_id}/review"
    return await as_(
        hub, ("customer", customer), "POST", path, json={**GOOD, **changes} if body is None else body
    )


async def totals(hub: RunningHub, worker: str = "w-1") -> tuple[int, int, int, int]:
    row = await pool_of(hub).fetchrow(
        "SELECT quality_sum, attitude_sum, skill_sum, rating_count FROM workers WHERE id = $1", worker
    )
    return row["quality_sum"], row["attitude_sum"], row["skill_sum"], row["rating_count"]


async def truth(hub: RunningHub, worker: str = "w-1") -> tuple[int, int, int, int]:
    row = await pool_of(hub).fetchrow(
        """SELECT coalesce(sum(quality), 0)::int AS q, coalesce(sum(attitude), 0)::int AS a,
                  coalesce(sum(skill), 0)::int AS s, count(*)::int AS n
             FROM worker_reviews WHERE worker_id = $1 AND hidden_at IS NULL""",
        worker,
    )
    return row["q"], row["a"], row["s"], row["n"]


async def public_list(hub: RunningHub, worker: str = "w-1", query: str = "") -> Any:
    status, body = await hub.http("GET", f"/api/v1/workers/{worker}/reviews{query}")
    assert status == 200, body
    return body


async def upload(hub: RunningHub, who: tuple[str, str], content: bytes, content_type: str) -> str:
    status, body = await as_(
        hub, who, "POST", "/api/v1/uploads", data=content, headers={"Content-Type": content_type}
    )
    assert status == 201, body
    return str(body["upload_id"])


async def download(hub: RunningHub, url: str, who: tuple[str, str] | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {hub.token(*who)}"} if who else {}
    async with aiohttp.ClientSession() as session, session.get(hub.url + url, headers=headers) as response:
        return response.status, await response.read()


def rebuild(hub: RunningHub, *args: str) -> Any:
    return cli("ratings-rebuild", *args, env=hub_env_of(hub))


# Who may review ----------------------------------------------------------------------------------


async def test_only_the_bookings_customer_reviews_it_once_completed_and_the_worker_hears_at_once(
    start_hub: StartHub, peers: list[Peer]
) -> None:
    hub = await start(start_hub, workers=1)
    worker = await open_peer(hub, peers, "/worker", "worker", "w-1")
    booking = await book_and_pay(hub)
    path = f"/api/v1/bookings/{booking['id']}/review"
    offer = await worker.next("offer")
    await worker.ok("offer:accept", {"offer_id": offer["offer_id"]})

    status, body = await review(hub, booking["id"])
    assert (status, body["error"]["code"]) == (409, "booking_not_completed"), body
    assert body["error"]["details"] == {"status": "accepted"}

    here = {"booking_id": booking["id"], "lat": CENTRE[0], "lng": CENTRE[1]}
    await worker.ok("job:depart", {**here, "eta_minutes": 5})
    await worker.ok("job:arrive", here)
    await worker.ok("job:start", {"booking_id": booking["id"]})
    status, body = await review(hub, booking["id"])
    assert (status, body["error"]["code"]) == (409, "booking_not_completed"), body
    await worker.ok("job:finish", {"booking_id": booking["id"]})

    # Another customer's, the worker's, staff's: refused, and nothing is written.
    status, body = await review(hub, booking["id"], customer="c-2")
    assert (status, body["error"]["code"]) == (404, "booking_not_found"), body
    for who in (("worker", "w-1"), SUPPORT, ADMIN):
        status, body = await as_(hub, who, "POST", path, json=GOOD)
        assert (status, body["error"]["code"]) == (403, "role_forbidden"), body
    status, body = await review(hub, str(uuid.uuid4()))
    assert (status, body["error"]["code"]) == (404, "booking_not_found"), body
    assert await pool_of(hub).fetchval("SELECT count(*) FROM worker_reviews") == 0
    assert await totals(hub) == (0, 0, 0, 0)

    status, written = await review(hub, booking["id"])
    assert status == 201, written
    assert (written["quality"], written["attitude"], written["skill"]) == (5, 4, 3)
    assert written["overall"] == 4.0
    assert written["booking_id"] == booking["id"]
    assert written["worker_id"] == "w-1"
    assert written["hidden"] is False
    assert written["reply"] is None
    assert written["moderation"] is None
    told = await worker.next_where("notification", lambda n: n["kind"] == "review")
    assert told["data"]["review_id"] == written["id"]
    assert told["data"]["booking_id"] == booking["id"]
    assert await totals(hub) == (5, 4, 3, 1)

    # Once per booking.
    status, body = await review(hub, booking["id"], quality=1, attitude=1, skill=1)
    assert (status, body["error"]["code"]) == (409, "already_reviewed"), body
    assert body["error"]["details"] == {"review_id": written["id"]}
    assert await totals(hub) == (5, 4, 3, 1)

    # The booking's review is read by its customer, its worker and staff; nobody else.
    for who in (("customer", "c-1"), ("worker", "w-1"), SUPPORT):
        status, seen = await as_(hub, who, "GET", path)
        assert status == 200, seen
        assert seen["id"] == written["id"]
    for who in (("customer", "c-2"), ("worker", "w-2")):
        status, body = await as_(hub, who, "GET", path)
        assert (status, body["error"]["code"]) == (404, "booking_not_found"), body

    profile = (await hub.http("GET", "/api/v1/workers/w-1"))[1]
    assert profile["rating_count"] == 1
    assert profile["rating_avg"] == 4.0
    assert profile["scores"] == {"quality": 5.0, "attitude": 4.0, "skill": 3.0}
    assert [r["id"] for r in profile["recent_reviews"]] == [written["id"]]
    assert profile["recent_reviews"][0]["author"] == "匿名用户"  # c-1 has no name on file


async def test_a_retried_review_with_its_idempotency_key_is_answered_once(start_hub: StartHub) -> None:
    hub = await start(start_hub, workers=1)
    booking_id = await completed(hub)
    path = f"/api/v1/bookings/{booking_id}/review"
    token = hub.token("customer", "c-1")
    headers = {"Idempotency-Key": "review-1"}
    answers = await asyncio.gather(
        *(hub.http("POST", path, token, json=GOOD, headers=dict(headers)) for _ in range(3))
    )
    assert [status for status, _ in answers] == [201, 201, 201], answers
    assert len({body["id"] for _, body in answers}) == 1
    assert await totals(hub) == (5, 4, 3, 1)


async def test_scores_comment_and_attachments_are_checked_strictly(start_hub: StartHub) -> None:
    hub = await start(start_hub, workers=1)
    booking_id = await completed(hub)
    mine = [await upload(hub, ("customer", "c-1"), PNG, "image/png") for _ in range(10)]
    bad: list[dict[str, Any]] = [
        {**GOOD, "quality": 0},
        {**GOOD, "attitude": 6},
        {**GOOD, "skill": "5"},
        {**GOOD, "skill": 4.5},
        {**GOOD, "skill": True},
        {"quality": 5, "attitude": 5},
        {**GOOD, "comment": "x" * 2001},
        {**GOOD, "comment": "bell\x07"},
        {**GOOD, "upload_ids": mine},  # ten
        {**GOOD, "upload_ids": [mine[0], mine[0]]},
        {**GOOD, "upload_ids": ["not-a-uuid"]},
        {**GOOD, "stars": 5},
    ]
    for body in bad:
        status, answer = await review(hub, booking_id, body=body)
        assert (status, answer["error"]["code"]) == (422, "invalid_payload"), (body, answer)
    status, answer = await as_(hub, ("customer", "c-1"), "POST", f"/api/v1/bookings/{booking_id}/review")
    assert (status, answer["error"]["code"]) == (422, "body_missing"), answer
    assert await pool_of(hub).fetchval("SELECT count(*) FROM worker_reviews") == 0
    assert await totals(hub) == (0, 0, 0, 0)

    status, written = await review(hub, booking_id, comment="好" * 2000, upload_ids=mine[:9])
    assert status == 201, written
    assert len(written["attachments"]) == 9


async def test_only_the_customers_own_photos_and_videos_are_attached_and_served_with_the_review(
    start_hub: StartHub,
) -> None:
    hub = await start(start_hub, workers=1)
    booking_id = await completed(hub)
    photo = await upload(hub, ("customer", "c-1"), PNG, "image/png")
    video = await upload(hub, ("customer", "c-1"), MP4, "video/mp4")
    document = await upload(hub, ("customer", "c-1"), PDF, "application/pdf")
    theirs = await upload(hub, ("customer", "c-2"), PNG, "image/png")
    workers = await upload(hub, ("worker", "c-1"), PNG, "image/png")  # same id, another role

    for foreign in (theirs, workers, str(uuid.uuid4())):
        status, body = await review(hub, booking_id, upload_ids=[photo, foreign])
        assert (status, body["error"]["code"]) == (422, "attachment_not_yours"), body
        assert body["error"]["details"] == {"upload_ids": [foreign]}
    status, body = await review(hub, booking_id, upload_ids=[document])
    assert (status, body["error"]["code"]) == (422, "attachment_type_not_allowed"), body
    assert await pool_of(hub).fetchval("SELECT count(*) FROM worker_reviews") == 0

    status, written = await review(hub, booking_id, upload_ids=[photo, video])
    assert status == 201, written
    assert [(a["upload_id"], a["content_type"]) for a in written["attachments"]] == [
        (photo, "image/png"),
        (video, "video/mp4"),
    ]
    url = written["attachments"][0]["url"]
    assert url == f"/api/v1/reviews/{written['id']}/attachments/{photo}"
    assert await download(hub, url) == (200, PNG)  # anyone, while the review is shown
    status, _ = await download(hub, f"/api/v1/reviews/{written['id']}/attachments/{theirs}")
    assert status == 404  # not one of this review's files

    status, _ = await as_(
        hub, SUPPORT, "POST", f"/api/v1/admin/reviews/{written['id']}/hide", json={"reason": "a face"}
    )
    assert status == 200
    status, body = await hub.http("GET", url)
    assert (status, body["error"]["code"]) == (404, "attachment_not_found"), body
    for who in (SUPPORT, ("customer", "c-1"), ("worker", "w-1")):
        assert await download(hub, url, who) == (200, PNG), who
    status, _ = await download(hub, url, ("customer", "c-2"))
    assert status == 404


# Changing it ------------------------------------------------------------------------------------


async def test_the_author_edits_within_the_window_and_then_it_is_locked(start_hub: StartHub) -> None:
    hub = await start(start_hub, workers=1, HUB_REVIEW_EDIT_MINUTES="30")
    booking_id = await completed(hub)
    path = f"/api/v1/bookings/{booking_id}/review"
    status, written = await review(hub, booking_id)
    assert status == 201
    created = datetime.fromisoformat(written["created_at"])
    assert datetime.fromisoformat(written["editable_until"]) == created + timedelta(minutes=30)

    status, body = await as_(hub, ("customer", "c-2"), "PATCH", path, json={"quality": 1})
    assert (status, body["error"]["code"]) == (404, "booking_not_found"), body
    for patch in ({}, {"quality": None}, {"quality": 9}, {"rating": 3}):
        status, body = await as_(hub, ("customer", "c-1"), "PATCH", path, json=patch)
        assert (status, body["error"]["code"]) == (422, "invalid_payload"), (patch, body)

    status, edited = await as_(
        hub, ("customer", "c-1"), "PATCH", path, json={"skill": 5, "comment": "Better"}
    )
    assert status == 200, edited
    assert (edited["quality"], edited["attitude"], edited["skill"], edited["comment"]) == (5, 4, 5, "Better")
    assert edited["edited_at"] is not None
    assert await totals(hub) == (5, 4, 5, 1)
    status, again = await as_(hub, ("customer", "c-1"), "PATCH", path, json={"skill": 5})
    assert status == 200
    assert again["edited_at"] == edited["edited_at"]  # a retry changes nothing

    # The window passes (by the database's clock).
    await pool_of(hub).execute(
        "UPDATE worker_reviews SET created_at = now() - interval '31 minutes' WHERE id = $1",
        uuid.UUID(written["id"]),
    )
    status, body = await as_(hub, ("customer", "c-1"), "PATCH", path, json={"quality": 1})
    assert (status, body["error"]["code"]) == (409, "review_locked"), body
    assert "editable_until" in body["error"]["details"]
    assert await totals(hub) == (5, 4, 5, 1)
    status, record = await as_(hub, ADMIN, "GET", f"/api/v1/admin/reviews/{written['id']}")
    assert [h["action"] for h in record["history"]] == ["created", "edited"]
    assert record["history"][1]["data"] == {
        "before": {"quality": 5, "attitude": 4, "skill": 3},
        "after": {"quality": 5, "attitude": 4, "skill": 5},
    }


async def test_a_booking_is_reviewed_within_the_review_window(start_hub: StartHub) -> None:
    hub = await start(start_hub, workers=1, HUB_REVIEW_WITHIN_DAYS="30")
    late = await completed(hub, days_ago=31)
    status, body = await review(hub, late)
    assert (status, body["error"]["code"]) == (409, "review_window_closed"), body
    assert body["error"]["details"]["within_days"] == 30
    in_time = await completed(hub, days_ago=29)
    status, _ = await review(hub, in_time)
    assert status == 201
    assert await totals(hub) == (5, 4, 3, 1)


async def test_the_worker_replies_once_and_the_customer_hears_it(
    start_hub: StartHub, peers: list[Peer]
) -> None:
    hub = await start(start_hub, workers=2)
    booking_id = await completed(hub)
    path = f"/api/v1/bookings/{booking_id}/review/reply"
    status, body = await as_(hub, ("worker", "w-1"), "POST", path, json={"text": "Thank you!"})
    assert (status, body["error"]["code"]) == (404, "review_not_found"), body
    status, written = await review(hub, booking_id)
    assert status == 201
    customer = await open_peer(hub, peers, "/customer", "customer", "c-1")

    status, body = await as_(hub, ("worker", "w-2"), "POST", path, json={"text": "Not mine"})
    assert (status, body["error"]["code"]) == (404, "booking_not_found"), body
    status, body = await as_(hub, ("customer", "c-1"), "POST", path, json={"text": "Me too"})
    assert (status, body["error"]["code"]) == (403, "role_forbidden"), body
    for bad in ({"text": ""}, {"text": "   "}, {"text": "x" * 1001}, {}):
        status, body = await as_(hub, ("worker", "w-1"), "POST", path, json=bad)
        assert (status, body["error"]["code"]) == (422, "invalid_payload"), (bad, body)

    status, replied = await as_(hub, ("worker", "w-1"), "POST", path, json={"text": "Thank you!"})
    assert status == 200, replied
    assert replied["reply"]["text"] == "Thank you!"
    told = await customer.next_where("notification", lambda n: n["kind"] == "review_reply")
    assert told["data"] == {"booking_id": booking_id, "review_id": written["id"]}
    status, again = await as_(hub, ("worker", "w-1"), "POST", path, json={"text": "Thank you!"})
    assert status == 200
    assert again["reply"] == replied["reply"]
    status, body = await as_(hub, ("worker", "w-1"), "POST", path, json={"text": "Changed my mind"})
    assert (status, body["error"]["code"]) == (409, "already_replied"), body

    listed = await public_list(hub)
    assert listed["items"][0]["reply"]["text"] == "Thank you!"
    assert customer.pending("notification") == []  # told once


# Moderation -------------------------------------------------------------------------------------


async def test_staff_hide_and_show_a_review_which_leaves_and_rejoins_the_list_and_the_ratings(
    start_hub: StartHub,
) -> None:
    hub = await start(start_hub, workers=1)
    kept = await review(hub, await completed(hub, customer="c-1"))
    rude = await review(hub, await completed(hub, customer="c-2"), "c-2", quality=1, attitude=1, skill=2)
    assert kept[0] == rude[0] == 201
    rude_id = rude[1]["id"]
    assert await totals(hub) == (6, 5, 5, 2)
    hide, unhide = f"/api/v1/admin/reviews/{rude_id}/hide", f"/api/v1/admin/reviews/{rude_id}/unhide"

    for who in (("customer", "c-1"), ("worker", "w-1")):
        status, body = await as_(hub, who, "POST", hide, json={"reason": "mine"})
        assert (status, body["error"]["code"]) == (403, "role_forbidden"), body
    for bad in ({}, {"reason": ""}, {"reason": "  "}):
        status, body = await as_(hub, SUPPORT, "POST", hide, json=bad)
        assert (status, body["error"]["code"]) == (422, "invalid_payload"), body
    status, body = await as_(
        hub, SUPPORT, "POST", f"/api/v1/admin/reviews/{uuid.uuid4()}/hide", json={"reason": "x"}
    )
    assert (status, body["error"]["code"]) == (404, "review_not_found"), body
    assert await totals(hub) == (6, 5, 5, 2)

    status, hidden = await as_(hub, SUPPORT, "POST", hide, json={"reason": "Insults the worker"})
    assert status == 200, hidden
    assert hidden["hidden"] is True
    assert hidden["moderation"]["by"] == "support-1"
    assert hidden["moderation"]["role"] == "support"
    assert hidden["moderation"]["reason"] == "Insults the worker"
    assert await totals(hub) == (5, 4, 3, 1)
    assert [r["id"] for r in (await public_list(hub))["items"]] == [kept[1]["id"]]
    profile = (await hub.http("GET", "/api/v1/workers/w-1"))[1]
    assert [r["id"] for r in profile["recent_reviews"]] == [kept[1]["id"]]
    assert (profile["rating_count"], profile["rating_avg"]) == (1, 4.0)

    # Hiding again changes nothing; staff still see it, flagged; so do its customer and worker.
    status, _ = await as_(hub, ADMIN, "POST", hide, json={"reason": "again"})
    assert status == 200
    assert await totals(hub) == (5, 4, 3, 1)
    status, staff = await as_(hub, ADMIN, "GET", "/api/v1/admin/workers/w-1/reviews")
    assert status == 200, staff
    assert [(r["id"], r["hidden"]) for r in staff["items"]] == [(rude_id, True), (kept[1]["id"], False)]
    status, only_hidden = await as_(hub, SUPPORT, "GET", "/api/v1/admin/workers/w-1/reviews?hidden=true")
    assert [r["id"] for r in only_hidden["items"]] == [rude_id]
    status, own = await as_(
        hub, ("customer", "c-2"), "GET", f"/api/v1/bookings/{rude[1]['booking_id']}/review"
    )
    assert (status, own["hidden"], own["moderation"]) == (200, True, None)

    status, shown = await as_(hub, ADMIN, "POST", unhide, json={"reason": "Appeal accepted"})
    assert status == 200, shown
    assert (shown["hidden"], shown["moderation"]) == (False, None)
    assert await totals(hub) == (6, 5, 5, 2)
    status, _ = await as_(hub, ADMIN, "POST", unhide)  # again, and without a body: nothing changes
    assert status == 200
    assert await totals(hub) == (6, 5, 5, 2)
    assert len((await public_list(hub))["items"]) == 2

    # Audited: who, when, why.
    status, record = await as_(hub, SUPPORT, "GET", f"/api/v1/admin/reviews/{rude_id}")
    assert status == 200
    history = [(h["action"], h["actor_role"], h["actor_id"], h["reason"]) for h in record["history"]]
    assert history == [
        ("created", "customer", "c-2", ""),
        ("hidden", "support", "support-1", "Insults the worker"),
        ("unhidden", "admin", "admin-1", "Appeal accepted"),
    ]
    assert all(h["at"] for h in record["history"])
    assert await totals(hub) == await truth(hub)


async def test_a_hidden_review_edited_by_its_author_stays_out_of_the_ratings(start_hub: StartHub) -> None:
    hub = await start(start_hub, workers=1)
    booking_id = await completed(hub)
    status, written = await review(hub, booking_id)
    await as_(hub, SUPPORT, "POST", f"/api/v1/admin/reviews/{written['id']}/hide", json={"reason": "spam"})
    status, _ = await as_(
        hub, ("customer", "c-1"), "PATCH", f"/api/v1/bookings/{booking_id}/review", json={"quality": 1}
    )
    assert status == 200
    assert await totals(hub) == (0, 0, 0, 0)
    await as_(hub, SUPPORT, "POST", f"/api/v1/admin/reviews/{written['id']}/unhide", json={})
    assert await totals(hub) == (1, 4, 3, 1) == await truth(hub)


# The public list --------------------------------------------------------------------------------


async def test_the_public_list_is_newest_first_in_pages(start_hub: StartHub) -> None:
    hub = await start(start_hub, workers=2)
    ids = []
    for n in range(7):
        status, written = await review(
            hub, await completed(hub, customer=f"c-{n}"), f"c-{n}", quality=1 + n % 5
        )
        assert status == 201
        ids.append(written["id"])
    # Two of them at the same moment: the id breaks the tie.
    await pool_of(hub).execute(
        """UPDATE worker_reviews SET created_at = (SELECT created_at FROM worker_reviews WHERE id = $1)
            WHERE id = $2""",
        uuid.UUID(ids[2]),
        uuid.UUID(ids[3]),
    )
    expected = [r["id"] for r in await pool_of(hub).fetch(
        "SELECT id::text FROM worker_reviews ORDER BY created_at DESC, id DESC"
    )]  # fmt: skip
    seen, cursor = [], None
    while True:
        page = await public_list(hub, query="?limit=3" + (f"&cursor={cursor}" if cursor else ""))
        assert len(page["items"]) <= 3
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    assert len(seen) == 7

    for query in ("?limit=51", "?limit=0", "?cursor=bm9wZQ", "?cursor=%21%21"):
        status, body = await hub.http("GET", f"/api/v1/workers/w-1/reviews{query}")
        assert status == 422, (query, body)
    status, body = await hub.http("GET", "/api/v1/workers/nobody/reviews")
    assert (status, body["error"]["code"]) == (404, "worker_not_found"), body
    assert (await public_list(hub, worker="w-2")) == {"items": [], "next_cursor": None}


# Low reviews -------------------------------------------------------------------------------------


async def low_items(hub: RunningHub) -> list[Any]:
    return list(
        await pool_of(hub).fetch("SELECT * FROM work_items WHERE kind = 'low_review' ORDER BY opened_at")
    )


async def test_a_low_review_opens_exactly_one_console_item(start_hub: StartHub, peers: list[Peer]) -> None:
    hub = await start(start_hub, workers=1, HUB_REVIEW_LOW_BELOW="3.0")
    agent = await open_peer(hub, peers, "/support", "support", "support-1")
    fine, low, raised = [await completed(hub, customer=f"c-{n}") for n in range(3)]
    status, _ = await review(hub, fine, "c-0", quality=3, attitude=3, skill=3)  # 3.0 is not below 3.0
    assert status == 201
    assert await low_items(hub) == []

    # Below 2 overall: high priority; retried and edited lower, still the one item.
    status, written = await review(hub, low, "c-1", quality=1, attitude=2, skill=2, comment="Broke a vase")
    assert status == 201
    (item,) = await low_items(hub)
    assert (item["subject"], item["cause"], item["priority"], item["state"]) == (
        low,
        written["id"],
        "high",
        "open",
    )
    assert item["booking_id"] == uuid.UUID(low)
    assert (item["person_role"], item["person_id"]) == ("worker", "w-1")
    assert item["data"]["overall"] == round(5 / 3, 2)
    assert item["data"]["quality"] == 1
    announced = await agent.next_where("item:updated", lambda u: u["item"]["kind"] == "low_review")
    assert announced["item"]["id"] == str(item["id"])
    status, _ = await review(hub, low, "c-1", quality=1, attitude=1, skill=1)
    assert status == 409
    path = f"/api/v1/bookings/{low}/review"
    status, _ = await as_(hub, ("customer", "c-1"), "PATCH", path, json={"attitude": 1})
    assert status == 200
    assert len(await low_items(hub)) == 1

    # Hiding it is an answer: the item is resolved, by whom hid it.
    status, _ = await as_(
        hub, SUPPORT, "POST", f"/api/v1/admin/reviews/{written['id']}/hide", json={"reason": "abuse"}
    )
    assert status == 200
    (item,) = await low_items(hub)
    assert item["state"] == "resolved"
    resolver = await pool_of(hub).fetchrow(
        "SELECT actor_role, actor_id FROM work_item_history WHERE item_id = $1 AND action = 'resolved'",
        item["id"],
    )
    assert tuple(resolver) == ("support", "support-1")

    # An edit that makes a review low opens its item then (normal priority above 2), an edit up resolves it.
    status, third = await review(hub, raised, "c-2", quality=4, attitude=4, skill=4)
    assert status == 201
    assert len(await low_items(hub)) == 1
    path = f"/api/v1/bookings/{raised}/review"
    status, _ = await as_(hub, ("customer", "c-2"), "PATCH", path, json={"quality": 2, "skill": 2})
    assert status == 200
    opened = [i for i in await low_items(hub) if i["cause"] == third["id"]]
    assert [(i["priority"], i["state"]) for i in opened] == [("normal", "open")]
    status, _ = await as_(hub, ("customer", "c-2"), "PATCH", path, json={"quality": 5, "skill": 5})
    assert status == 200
    status, _ = await as_(hub, ("customer", "c-2"), "PATCH", path, json={"quality": 1})
    assert status == 200
    opened = [i for i in await low_items(hub) if i["cause"] == third["id"]]
    assert [i["state"] for i in opened] == ["resolved"]  # once per review, ever
    assert await totals(hub) == await truth(hub)


# Ratings ----------------------------------------------------------------------------------------


async def test_concurrent_reviews_of_one_worker_add_up_exactly_and_the_rebuild_agrees(
    start_hub: StartHub,
) -> None:
    hub = await start(start_hub, workers=2)
    bookings = [await completed(hub, customer=f"c-{n}") for n in range(20)]
    scores = [(1 + n % 5, 1 + (n * 2) % 5, 1 + (n * 3) % 5) for n in range(20)]
    answers = await asyncio.gather(
        *(
            review(hub, booking_id, customer=f"c-{n}", quality=q, attitude=a, skill=s)
            for n, (booking_id, (q, a, s)) in enumerate(zip(bookings, scores, strict=True))
        )
    )
    assert [status for status, _ in answers] == [201] * 20, answers
    expected = (sum(s[0] for s in scores), sum(s[1] for s in scores), sum(s[2] for s in scores), 20)
    assert await totals(hub) == expected == await truth(hub)
    profile = (await hub.http("GET", "/api/v1/workers/w-1"))[1]
    assert profile["rating_count"] == 20
    assert profile["rating_avg"] == round(sum(map(sum, scores)) / 60, 2)

    # Edits and moderation racing each other leave the totals exact too.
    patches = [
        as_(hub, ("customer", f"c-{n}"), "PATCH", f"/api/v1/bookings/{b}/review", json={"quality": 5})
        for n, b in enumerate(bookings[:10])
    ]
    hides = [
        as_(hub, SUPPORT, "POST", f"/api/v1/admin/reviews/{body['id']}/hide", json={"reason": "test"})
        for _, body in answers[5:15]
    ]
    assert {status for status, _ in await asyncio.gather(*patches, *hides)} == {200}
    assert await totals(hub) == await truth(hub)
    assert (await totals(hub))[3] == 10

    done = rebuild(hub)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "ratings: 2 workers checked, 0 changed"


async def test_the_rebuild_restores_totals_corrupted_by_hand(start_hub: StartHub) -> None:
    hub = await start(start_hub, workers=2)
    for n in range(3):
        status, _ = await review(hub, await completed(hub, customer=f"c-{n}"), f"c-{n}")
        assert status == 201
    assert await totals(hub) == (15, 12, 9, 3)
    await pool_of(hub).execute(
        "UPDATE workers SET quality_sum = 99, rating_count = 7 WHERE id = 'w-1';"
        "UPDATE workers SET skill_sum = 4, rating_count = 1 WHERE id = 'w-2'"
    )
    done = rebuild(hub, "--worker", "w-2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "worker w-2: quality 0, attitude 0, skill 4 over 1 -> quality 0, attitude 0, skill 0 over 0",
        "ratings: 1 workers checked, 1 changed",
    ]
    assert await totals(hub) == (99, 12, 9, 7)  # w-1 untouched by a rebuild of w-2
    done = rebuild(hub)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "worker w-1: quality 99, attitude 12, skill 9 over 7 -> quality 15, attitude 12, skill 9 over 3",
        "ratings: 2 workers checked, 1 changed",
    ]
    assert await totals(hub) == (15, 12, 9, 3)
    assert (await hub.http("GET", "/api/v1/workers/w-1"))[1]["rating_avg"] == 4.0
    done = rebuild(hub, "--worker", "nobody")
    assert done.returncode == 2
    assert "no worker 'nobody'" in done.stderr


# The migration ----------------------------------------------------------------------------------


async def test_old_single_ratings_become_all_three_scores(empty_database_url: str, tmp_path: Path) -> None:
    assert BookingsExtension.migrations is not None
    before, after = tmp_path / "before", tmp_path / "after"  # two folders: migrations are read once
    for folder in (before, after):
        folder.mkdir()
    for folder in (MIGRATIONS_DIR, BookingsExtension.migrations):
        for sql in folder.glob("*.sql"):
            shutil.copy(sql, after / sql.name)
            if sql.name[:4] < "0015":
                shutil.copy(sql, before / sql.name)
    conn = await asyncpg.connect(empty_database_url)
    try:
        await migrate(conn, before)
        await conn.execute(
            """INSERT INTO workers (id, name, gender, years_experience, area_lat, area_lng, rating_sum,
                                    rating_count)
               VALUES ('w-old', 'Old', 'female', 3, 31.2, 121.4, 9, 2)"""
        )
        await conn.execute(
            """INSERT INTO worker_reviews (id, worker_id, customer_id, rating, comment)
               VALUES ($1, 'w-old', 'c-1', 5, 'great'), ($2, 'w-old', 'c-2', 4, '')""",
            uuid.uuid4(),
            uuid.uuid4(),
        )
        assert "0015" in await migrate(conn, after)
        rows = await conn.fetch("SELECT quality, attitude, skill FROM worker_reviews ORDER BY quality DESC")
        assert [tuple(r) for r in rows] == [(5, 5, 5), (4, 4, 4)]
        worker = await conn.fetchrow("SELECT * FROM workers WHERE id = 'w-old'")
        assert (worker["quality_sum"], worker["attitude_sum"], worker["skill_sum"]) == (9, 9, 9)
        assert (worker["rating_sum"], worker["rating_count"]) == (9.0, 2)
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HUB_REVIEW_EDIT_MINUTES", "-1"),
        ("HUB_REVIEW_EDIT_MINUTES", "inf"),
        ("HUB_REVIEW_WITHIN_DAYS", "0"),
        ("HUB_REVIEW_LOW_BELOW", "5.5"),
        ("HUB_REVIEW_LOW_BELOW", "nan"),
        ("HUB_REVIEW_LOW_BELOW", "0.5"),
    ],
)
def test_review_settings_are_checked(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        ReviewConfig.from_env({variable: value})
    assert refused.value.variable == variable
    assert ReviewConfig.from_env({}) == ReviewConfig(edit_minutes=60.0, within_days=30, low_below=3.0)
