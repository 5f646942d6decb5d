"""Complaints: a customer files one about a booking a worker took, with their own uploads; staff
take it, investigate, note (never seen by the customer), message the customer, and resolve it in
one transaction with a refund (sent through the card sandbox, the ledger clean and the worker's
pay untouched), a free redo offered to workers like any paid booking, a coupon or points, or
reject it; a complaint past its deadline is escalated once whatever runs the sweep. Every step
reaches the customer and the worker over their sockets; the console acts over /support too."""

from __future__ import annotations

import asyncio
import json
import uuid
import zoneinfo
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest

from bookings.complaints import machine
from bookings.complaints.machine import Action, Status
from bookings.keys import BOOKINGS
from bookings.payments.ledger import COMPLAINTS, booking_account
from bookings.storage import ledger as ledger_store
from hub.errors import Conflict
from hub.keys import CONTEXT
from tests.support.bookings import CENTRE, TIMEZONE, book_and_pay, booking_request, open_peer, start
from tests.support.card import running
from tests.support.clients import Peer
from tests.support.hubs import RunningHub, StartHub
from tests.support.money import book, buy_package, do_the_job, ledger_is_clean, new_package
from tests.support.waiting import WAIT, wait_until

STAFF = ("support", "s-1")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n" + b"%" * 64
MP3 = b"ID3" + b"\x00" * 64


# Helpers -----------------------------------------------------------------------------------------


def pool_of(hub: RunningHub) -> asyncpg.Pool:
    return hub.app[CONTEXT].pool


async def upload(hub: RunningHub, customer: str, content: bytes, content_type: str) -> str:
    status, body = await hub.http(
        "POST",
        "/api/v1/uploads",
        hub.token("customer", customer),
        data=content,
        headers={"Content-Type": content_type, "X-Filename": "evidence"},
    )
    assert status == 201, body
    return str(body["upload_id"])


async def complain(
    hub: RunningHub, booking_id: str, customer: str = "c-1", key: str | None = None, **body: Any
) -> tuple[int, Any]:
    wanted = {"category": "quality", "body": "The kitchen was not cleaned.", **body}
    headers = {"Idempotency-Key": key} if key else {}
    return await hub.http(
        "POST",
        f"/api/v1/bookings/{booking_id}/complaints",
        hub.token("customer", customer),
        json=wanted,
        headers=headers,
    )


async def filed(hub: RunningHub, booking_id: str, **body: Any) -> dict[str, Any]:
    status, complaint = await complain(hub, booking_id, **body)
    assert status == 201, complaint
    return dict(complaint)


async def staff(
    hub: RunningHub, complaint_id: str, verb: str, body: Any = None, who: tuple[str, str] = STAFF
) -> tuple[int, Any]:
    return await hub.http(
        "POST", f"/api/v1/complaints/{complaint_id}/{verb}", hub.token(*who), json=body or {}
    )


async def staff_ok(hub: RunningHub, complaint_id: str, verb: str, body: Any = None) -> dict[str, Any]:
    status, answer = await staff(hub, complaint_id, verb, body)
    assert status == 200, answer
    return dict(answer)


async def as_customer(hub: RunningHub, complaint_id: str, customer: str = "c-1") -> tuple[int, Any]:
    return await hub.http("GET", f"/api/v1/complaints/{complaint_id}", hub.token("customer", customer))


async def booking(hub: RunningHub, booking_id: str) -> dict[str, Any]:
    status, body = await hub.http("GET", f"/api/v1/bookings/{booking_id}", hub.token("admin", "admin-1"))
    assert status == 200, body
    return dict(body)


async def completed(hub: RunningHub, worker: Peer, customer: str = "c-1", hour: int = 10) -> dict[str, Any]:
    """A booking paid by hand and done by ``worker`` (who must be connected)."""
    day = local_day(1)
    paid = await book_and_pay(hub, customer, date=day, start_time=f"{hour:02d}:00")
    await do_the_job(worker, paid["id"])
    return await booking(hub, paid["id"])


def local_day(days_ahead: int) -> str:
    return (
        datetime.now(UTC).astimezone(zoneinfo.ZoneInfo(TIMEZONE)).date() + timedelta(days=days_ahead)
    ).isoformat()


async def count(hub: RunningHub, sql: str, *args: Any) -> int:
    return int(await pool_of(hub).fetchval(sql, *args))


async def items_of(hub: RunningHub, kind: str, booking_id: str) -> list[asyncpg.Record]:
    return await pool_of(hub).fetch(
        "SELECT state, priority, cause, due_at FROM work_items WHERE kind = $1 AND subject = $2",
        kind,
        booking_id,
    )


async def download(hub: RunningHub, url: str, who: tuple[str, str]) -> tuple[int, bytes]:
    """The raw answer of a download (``hub.http`` reads text)."""
    headers = {"Authorization": f"Bearer {hub.token(*who)}"}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT)) as session,
        session.get(hub.url + url, headers=headers) as response,
    ):
        return response.status, await response.read()


def titles(peer: Peer) -> list[str]:
    return [n["title"] for n in peer.pending("notification")]


# The status machine, alone -----------------------------------------------------------------------


def test_the_status_machine_allows_only_its_moves() -> None:
    legal = {
        (Status.OPEN, Action.INVESTIGATE): Status.INVESTIGATING,
        (Status.INVESTIGATING, Action.RESOLVE): Status.RESOLVED,
        (Status.INVESTIGATING, Action.REJECT): Status.REJECTED,
    }
    for status in Status:
        for action in Action:
            expected = legal.get((status, action))
            if expected is not None:
                assert machine.after(status, action) == expected
            elif machine.allowed(status, action):
                assert machine.after(status, action) == status  # takes, notes...: the status stays
            else:
                with pytest.raises(Conflict) as refused:
                    machine.after(status, action)
                assert refused.value.code == "illegal_transition"
                assert refused.value.details["status"] == status.value
                assert refused.value.details["wanted"] == action.value
    assert machine.allowed(Status.RESOLVED, Action.NOTE)  # what was learnt afterwards
    for closed in (Status.RESOLVED, Status.REJECTED):
        for action in (Action.TAKE, Action.MESSAGE, Action.ESCALATE, Action.RESOLVE, Action.REJECT):
            assert not machine.allowed(closed, action)


# Filing ------------------------------------------------------------------------------------------


async def test_only_the_customer_of_a_booking_a_worker_took_may_complain(
    start_hub: StartHub, peers: list[Peer]
) -> None:
    hub = await start(start_hub, workers=1)
    worker = await open_peer(hub, peers, "/worker", "worker", "w-1")
    waiting = await book_and_pay(hub, "c-1", start_time="15:00")  # dispatching: nobody took it yet
    status, refused = await complain(hub, waiting["id"])
    assert (status, refused["error"]["code"]) == (409, "not_complainable"), refused
    assert refused["error"]["details"] == {"status": "dispatching"}

    done = await completed(hub, worker)
    status, refused = await complain(hub, done["id"], customer="c-2")  # someone else's booking
    assert (status, refused["error"]["code"]) == (404, "booking_not_found")
    status, refused = await hub.http(
        "POST",
        f"/api/v1/bookings/{done['id']}/complaints",
        hub.token("worker", "w-1"),
        json={"category": "other", "body": "x"},
    )
    assert (status, refused["error"]["code"]) == (403, "role_forbidden")
    mine, theirs = await upload(hub, "c-1", PNG, "image/png"), await upload(hub, "c-2", PNG, "image/png")
    status, refused = await complain(hub, done["id"], attachments=[theirs])
    assert (status, refused["error"]["code"]) == (422, "invalid_attachment")
    assert refused["error"]["details"] == {"upload_ids": [theirs]}
    audio = await upload(hub, "c-1", MP3, "audio/mpeg")
    status, refused = await complain(hub, done["id"], attachments=[audio])
    assert (status, refused["error"]["code"]) == (422, "attachment_type_not_allowed")
    for bad in ({"category": "rude"}, {"body": " \n "}, {"body": "x" * 4001}, {"attachments": [mine] * 2}):
        status, refused = await complain(hub, done["id"], **bad)
        assert status == 422, (bad, refused)
    status, refused = await complain(hub, done["id"], attachments=[str(uuid.uuid4()) for _ in range(10)])
    assert status == 422, refused
    assert await count(hub, "SELECT count(*) FROM complaints") == 0  # nothing written by any of them
    assert await count(hub, "SELECT count(*) FROM work_items") == 0
    # Nobody was told anything either.
    assert "A complaint about a job" not in titles(worker)

    document = await upload(hub, "c-1", PDF, "application/pdf")
    status, complaint = await complain(
        hub, done["id"], key="k-1", category="damage", attachments=[mine, document]
    )
    assert status == 201, complaint
    again_status, again = await complain(
        hub, done["id"], key="k-1", category="damage", attachments=[mine, document]
    )
    assert (again_status, again["id"]) == (201, complaint["id"])  # the app's retry: the same complaint
    status, refused = await complain(hub, done["id"], category="other")
    assert (status, refused["error"]["code"]) == (409, "complaint_open")
    assert refused["error"]["details"] == {"complaint_id": complaint["id"]}
    assert await count(hub, "SELECT count(*) FROM complaints") == 1

    assert complaint["status"] == "open"
    assert [a["content_type"] for a in complaint["attachments"]] == ["image/png", "application/pdf"]
    # The customer and staff download the evidence; another customer cannot.
    url = complaint["attachments"][0]["url"]
    assert await download(hub, url, STAFF) == (200, PNG)
    assert await download(hub, url, ("customer", "c-1")) == (200, PNG)
    status, refused = await hub.http("GET", url, hub.token("customer", "c-2"))
    assert (status, refused["error"]["code"]) == (404, "complaint_not_found")
    status, refused = await hub.http("GET", url, hub.token("worker", "w-1"))
    assert (status, refused["error"]["code"]) == (403, "role_forbidden")
    status, refused = await as_customer(hub, complaint["id"], customer="c-2")
    assert (status, refused["error"]["code"]) == (404, "complaint_not_found")
    status, mine_listed = await hub.http("GET", "/api/v1/complaints", hub.token("customer", "c-1"))
    assert [c["id"] for c in mine_listed["items"]] == [complaint["id"]]
    status, none_listed = await hub.http("GET", "/api/v1/complaints", hub.token("customer", "c-2"))
    assert none_listed["items"] == []
    status, refused = await hub.http("GET", "/api/v1/complaints?overdue=true", hub.token("customer", "c-1"))
    assert (status, refused["error"]["code"]) == (422, "invalid_query")

    # Damage goes to the console as a high-priority item due at the deadline.
    [item] = await items_of(hub, "complaint", done["id"])
    assert (item["state"], item["priority"], item["cause"]) == ("open", "high", complaint["id"])
    assert item["due_at"].isoformat().startswith(complaint["due_at"][:16])
    note = await worker.next_where("notification", lambda n: n["title"] == "A complaint about a job")
    assert note["data"]["complaint_id"] == complaint["id"]
    assert "kitchen" not in json.dumps(note)  # the worker is told of it, not the customer's words

    # A job that ended longer ago than the window is past complaining about.
    other = await completed(hub, worker, "c-3", hour=15)
    await pool_of(hub).execute(
        "UPDATE bookings SET finished_at = now() - interval '31 days' WHERE id = $1", uuid.UUID(other["id"])
    )
    status, refused = await complain(hub, other["id"], customer="c-3")
    assert (status, refused["error"]["code"]) == (409, "complaint_window_closed")


# The status machine over HTTP, and notes ----------------------------------------------------------


async def test_staff_move_a_complaint_only_as_its_machine_allows_and_notes_stay_theirs(
    start_hub: StartHub, peers: list[Peer]
) -> None:
    hub = await start(start_hub, workers=1)
    worker = await open_peer(hub, peers, "/worker", "worker", "w-1")
    customer = await open_peer(hub, peers, "/customer", "customer", "c-1")
    done = await completed(hub, worker)
    complaint = await filed(hub, done["id"])
    cid = complaint["id"]

    status, refused = await staff(hub, cid, "resolve", {"resolution": "none", "note": "fine"})
    assert (status, refused["error"]["code"]) == (409, "illegal_transition")
    assert refused["error"]["details"]["status"] == "open"
    assert refused["error"]["details"]["wanted"] == "resolve"
    status, refused = await staff(hub, cid, "take", who=("customer", "c-1"))
    assert (status, refused["error"]["code"]) == (403, "role_forbidden")
    status, refused = await staff(hub, str(uuid.uuid4()), "take")
    assert (status, refused["error"]["code"]) == (404, "complaint_not_found")

    taken = await staff_ok(hub, cid, "take")
    assert taken["owner"] == {"role": "support", "id": "s-1"}
    moved = await staff_ok(hub, cid, "assign", {"owner_id": "s-2"})
    assert moved["owner"] == {"role": "support", "id": "s-2"}
    investigating = await staff_ok(hub, cid, "investigate")
    assert investigating["status"] == "investigating"
    status, refused = await staff(hub, cid, "investigate")
    assert (status, refused["error"]["code"]) == (409, "illegal_transition")
    await staff_ok(hub, cid, "notes", {"body": "PRIVATE: the worker has two earlier complaints"})
    await staff_ok(hub, cid, "messages", {"body": "Could you send a photo of the kitchen?"})
    rejected = await staff_ok(hub, cid, "reject", {"reason": "The photos show a clean kitchen."})
    assert (rejected["status"], rejected["answer"]) == ("rejected", "The photos show a clean kitchen.")
    for verb, body in (
        ("resolve", {"resolution": "none", "note": "x"}),
        ("reject", {"reason": "x"}),
        ("messages", {"body": "x"}),
        ("take", {}),
    ):
        status, refused = await staff(hub, cid, verb, body)
        assert (status, refused["error"]["code"]) == (409, "illegal_transition"), verb
    await staff_ok(hub, cid, "notes", {"body": "PRIVATE: closed, kept for the record"})  # notes go on

    status, detail = await hub.http("GET", f"/api/v1/complaints/{cid}", hub.token(*STAFF))
    assert status == 200, detail
    assert [s["action"] for s in detail["history"]] == [
        "filed", "taken", "assigned", "investigating", "noted", "messaged", "rejected", "noted",
    ]  # fmt: skip
    assert [s["actor"] for s in detail["history"][:2]] == [
        {"role": "customer", "id": "c-1"},
        {"role": "support", "id": "s-1"},
    ]
    # The customer sees the message and the answer, never a note: over HTTP...
    status, seen = await as_customer(hub, cid)
    assert status == 200, seen
    assert [m["body"] for m in seen["messages"]] == ["Could you send a photo of the kitchen?"]
    assert (seen["status"], seen["answer"]) == ("rejected", "The photos show a clean kitchen.")
    assert "history" not in seen
    assert "owner" not in seen
    _, listed = await hub.http("GET", "/api/v1/complaints", hub.token("customer", "c-1"))
    assert "PRIVATE" not in json.dumps(seen) + json.dumps(listed)
    # ...and in what they were sent.
    await customer.next_where("notification", lambda n: n["title"] == "Complaint closed")
    _, inbox = await hub.http("GET", "/api/v1/notifications", hub.token("customer", "c-1"))
    assert "PRIVATE" not in json.dumps(inbox)
    assert "PRIVATE" not in json.dumps(customer.pending("notification") + worker.pending("notification"))


# Refund -------------------------------------------------------------------------------------------


async def income(hub: RunningHub, worker: str = "w-1") -> dict[str, Any]:
    status, body = await hub.http("GET", "/api/v1/workers/me/income", hub.token("worker", worker))
    assert status == 200, body
    return dict(body)


async def test_a_refund_after_completion_goes_back_by_card_and_leaves_the_worker_paid(
    start_hub: StartHub, peers: list[Peer]
) -> None:
    async with running(start_hub) as card:
        hub = card.hub
        pool = pool_of(hub)
        worker = await open_peer(hub, peers, "/worker", "worker", "w-1")
        status, made = await hub.http(
            "POST", "/api/v1/bookings", hub.token("customer", "c-1"), json=booking_request()
        )
        assert status == 201, made
        status, payment = await hub.http(
            "POST",
            f"/api/v1/bookings/{made['id']}/payments",
            hub.token("customer", "c-1"),
            json={"method": "card", "channel": "hosted", "return_url": "https://app.example.com/orders"},
        )
        assert status == 201, payment
        await card.sandbox_post(f"/sandbox/pay/{payment['out_trade_no']}")
        await do_the_job(worker, made["id"])
        total = made["total_cents"]
        earned_before = await income(hub)
        assert [i["booking_id"] for i in earned_before["items"]] == [made["id"]]

        complaint = await filed(hub, made["id"], category="lateness", body="Came an hour late.")
        await staff_ok(hub, complaint["id"], "investigate")
        status, refused = await staff(
            hub,
            complaint["id"],
            "resolve",
            {"resolution": "refund", "amount_cents": total + 1, "note": "Sorry."},
        )
        assert (status, refused["error"]["code"]) == (409, "refund_exceeds_paid"), refused
        assert refused["error"]["details"] == {"requested_cents": total + 1, "refundable_cents": total}
        status, refused = await staff(
            hub, complaint["id"], "resolve", {"resolution": "refund", "note": "x", "points": 3}
        )
        assert status == 422, refused
        still = await staff_ok(hub, complaint["id"], "notes", {"body": "refund refused, trying less"})
        assert still["status"] == "investigating"  # the refusal changed nothing
        assert await count(hub, "SELECT count(*) FROM refunds") == 0

        part = total // 3
        resolved = await staff_ok(
            hub,
            complaint["id"],
            "resolve",
            {"resolution": "refund", "amount_cents": part, "note": "Sorry for the wait."},
        )
        assert (resolved["status"], resolved["resolution"]) == ("resolved", "refund")
        assert resolved["outcome"]["amount_cents"] == part

        async def refunds() -> list[tuple[int, str]]:
            _, body = await hub.http(
                "GET", f"/api/v1/bookings/{made['id']}/refunds", hub.token("customer", "c-1")
            )
            return [(r["amount_cents"], r["status"]) for r in body["items"]]

        await wait_until(lambda: _equal(refunds(), [(part, "succeeded")]))
        assert (await card.order(payment["out_trade_no"]))["refunded"] == part  # the money left
        # The platform bore it; the worker keeps what they earned.
        assert await ledger_store.balance(pool, COMPLAINTS) == part
        assert await ledger_store.balance(pool, booking_account(uuid.UUID(made["id"]))) == 0
        assert (await income(hub))["items"] == earned_before["items"]
        _, seen = await as_customer(hub, complaint["id"])
        assert seen["outcome"]["amount_cents"] == part
        await ledger_is_clean(hub)

        # A second complaint may take the rest; then there is nothing left to give back.
        second = await filed(hub, made["id"], category="billing", body="Still unhappy.")
        await staff_ok(hub, second["id"], "investigate")
        await staff_ok(hub, second["id"], "resolve", {"resolution": "refund", "note": "All of it."})
        await wait_until(lambda: _equal(refunds(), [(part, "succeeded"), (total - part, "succeeded")]))
        third = await filed(hub, made["id"], category="other", body="And more.")
        await staff_ok(hub, third["id"], "investigate")
        status, refused = await staff(hub, third["id"], "resolve", {"resolution": "refund", "note": "x"})
        assert (status, refused["error"]["code"]) == (409, "nothing_to_refund")
        assert await ledger_store.balance(pool, COMPLAINTS) == total
        await ledger_is_clean(hub)


async def _equal(found: Any, expected: Any) -> bool:
    return bool(await found == expected)


async def test_a_booking_a_package_visit_paid_has_no_payment_to_refund(
    start_hub: StartHub, peers: list[Peer]
) -> None:
    hub = await start(start_hub, workers=1)
    worker = await open_peer(hub, peers, "/worker", "worker", "w-1")
    order = await buy_package(hub, (await new_package(hub))["id"])
    status, made = await book(hub, package_order_id=order["id"])
    assert status == 201, made
    await do_the_job(worker, made["id"])
    complaint = await filed(hub, made["id"])
    await staff_ok(hub, complaint["id"], "investigate")
    status, refused = await staff(hub, complaint["id"], "resolve", {"resolution": "refund", "note": "x"})
    assert (status, refused["error"]["code"]) == (409, "nothing_paid")
    _, still = await hub.http("GET", f"/api/v1/complaints/{complaint['id']}", hub.token(*STAFF))
    assert (still["status"], still["resolution"]) == ("investigating", None)
    # Points make up for it instead.
    await staff_ok(
        hub, complaint["id"], "resolve", {"resolution": "compensation", "points": 300, "note": "Sorry."}
    )
    await ledger_is_clean(hub)


# Redo ---------------------------------------------------------------------------------------------


async def test_a_redo_is_a_free_booking_linked_both_ways_and_offered_to_workers(
    start_hub: StartHub, peers: list[Peer]
) -> None:
    hub = await start(start_hub, workers=1)
    worker = await open_peer(hub, peers, "/worker", "worker", "w-1")
    first = await completed(hub, worker)
    complaint = await filed(hub, first["id"])
    await staff_ok(hub, complaint["id"], "investigate")
    before = await count(hub, "SELECT count(*) FROM bookings")

    status, refused = await staff(
        hub, complaint["id"], "resolve",
        {"resolution": "redo", "date": local_day(-1), "start_time": "10:00", "note": "x"},
    )  # fmt: skip
    assert (status, refused["error"]["code"]) == (422, "slot_too_soon"), refused
    status, refused = await staff(
        hub, complaint["id"], "resolve", {"resolution": "redo", "date": local_day(2), "note": "x"}
    )
    assert status == 422, refused
    assert await count(hub, "SELECT count(*) FROM bookings") == before  # nothing made

    resolved = await staff_ok(
        hub, complaint["id"], "resolve",
        {"resolution": "redo", "date": local_day(2), "start_time": "14:00", "note": "We will redo it."},
    )  # fmt: skip
    redo_id = resolved["outcome"]["redo_booking_id"]
    offer = await worker.next_where("offer", lambda o: o["booking_id"] == redo_id)  # dispatched as usual

    redo = await booking(hub, redo_id)
    assert (redo["redo_of"], redo["status"], redo["total_cents"]) == (first["id"], "dispatching", 0)
    assert redo["paid_at"] is not None
    assert (redo["customer_id"], redo["service"], redo["address"], redo["duration_minutes"]) == (
        first["customer_id"], first["service"], first["address"], first["duration_minutes"],
    )  # fmt: skip
    assert [d["code"] for d in redo["price"]["discounts"]] == ["redo"]
    assert (await booking(hub, first["id"]))["redos"] == [redo_id]
    _, seen = await hub.http("GET", f"/api/v1/bookings/{redo_id}", hub.token("customer", "c-1"))
    assert seen["redo_of"] == first["id"]

    # The worker does it again and is paid what the first job paid; the platform pays for it all.
    await worker.ok("offer:accept", {"offer_id": offer["offer_id"]})
    here = {"booking_id": redo_id, "lat": CENTRE[0], "lng": CENTRE[1]}
    for event, data in (
        ("job:depart", {**here, "eta_minutes": 5}),
        ("job:arrive", here),
        ("job:start", {"booking_id": redo_id}),
        ("job:finish", {"booking_id": redo_id}),
    ):
        await worker.ok(event, data)
    earned = {i["booking_id"]: i["earned_cents"] for i in (await income(hub))["items"]}
    assert earned[redo_id] == earned[first["id"]] > 0
    _, refunds = await hub.http("GET", f"/api/v1/bookings/{redo_id}/payments", hub.token(*STAFF))
    assert refunds["items"] == []  # nothing was paid for it
    await ledger_is_clean(hub)


# Compensation ---------------------------------------------------------------------------------------


async def test_a_compensation_is_a_coupon_in_the_wallet_or_points_with_the_reason(
    start_hub: StartHub, peers: list[Peer]
) -> None:
    hub = await start(start_hub, workers=1)
    worker = await open_peer(hub, peers, "/worker", "worker", "w-1")
    now = datetime.now(UTC)
    status, coupon = await hub.http(
        "POST",
        "/api/v1/admin/coupons",
        hub.token("admin", "admin-1"),
        json={
            "code": "SORRY20",
            "name_en": "Our apologies",
            "name_zh": "致歉券",
            "kind": "fixed",
            "amount_cents": 2000,
            "valid_from": (now - timedelta(days=1)).isoformat(),
            "valid_until": (now + timedelta(days=30)).isoformat(),
            "claimable": False,
        },
    )
    assert status == 201, coupon
    first = await completed(hub, worker, "c-1", hour=10)
    second = await completed(hub, worker, "c-1", hour=15)

    one = await filed(hub, first["id"])
    await staff_ok(hub, one["id"], "investigate")
    status, refused = await staff(
        hub, one["id"], "resolve", {"resolution": "compensation", "coupon_id": str(uuid.uuid4()), "note": "x"}
    )
    assert (status, refused["error"]["code"]) == (404, "coupon_not_found")
    status, refused = await staff(
        hub, one["id"], "resolve",
        {"resolution": "compensation", "coupon_id": coupon["id"], "points": 5, "note": "x"},
    )  # fmt: skip
    assert status == 422, refused
    resolved = await staff_ok(
        hub, one["id"], "resolve",
        {"resolution": "compensation", "coupon_id": coupon["id"], "note": "Sorry about the kitchen."},
    )  # fmt: skip
    assert resolved["outcome"]["code"] == "SORRY20"
    _, wallet = await hub.http("GET", "/api/v1/customers/me/coupons", hub.token("customer", "c-1"))
    [granted] = [c for c in wallet["items"] if c["code"] == "SORRY20"]
    assert (granted["source"], granted["note"], granted["state"]) == (
        "complaint", "Sorry about the kitchen.", "available",
    )  # fmt: skip

    _, points_before = await hub.http("GET", "/api/v1/customers/me/points", hub.token("customer", "c-1"))
    two = await filed(hub, second["id"], category="behaviour", body="Rude.")
    await staff_ok(hub, two["id"], "investigate")
    await staff_ok(
        hub, two["id"], "resolve", {"resolution": "compensation", "points": 500, "note": "For the trouble."}
    )
    _, points_after = await hub.http("GET", "/api/v1/customers/me/points", hub.token("customer", "c-1"))
    assert points_after["balance"] == points_before["balance"] + 500
    newest = points_after["items"][0]
    assert (newest["kind"], newest["points"], newest["note"], newest["booking_id"]) == (
        "compensation", 500, "For the trouble.", second["id"],
    )  # fmt: skip
    await ledger_is_clean(hub)  # points and coupons are not money


# The deadline -------------------------------------------------------------------------------------


async def test_a_complaint_past_its_deadline_is_escalated_once_whoever_sweeps(
    start_hub: StartHub, peers: list[Peer]
) -> None:
    hub = await start(start_hub, workers=1, HUB_COMPLAINT_RESPONSE_HOURS="2")
    worker = await open_peer(hub, peers, "/worker", "worker", "w-1")
    done = await completed(hub, worker)
    complaint = await filed(hub, done["id"], category="safety", body="The worker left the gas on.")
    cid = uuid.UUID(complaint["id"])
    row = await pool_of(hub).fetchrow("SELECT created_at, due_at FROM complaints WHERE id = $1", cid)
    assert row["due_at"] - row["created_at"] == timedelta(hours=2)
    [item] = await items_of(hub, "complaint", done["id"])
    assert item["priority"] == "high"
    await staff_ok(hub, complaint["id"], "take")

    # Time passes (in the database, not by sleeping): every node's sweep finds it at once.
    await pool_of(hub).execute(
        "UPDATE complaints SET due_at = now() - interval '1 minute' WHERE id = $1", cid
    )
    complaints = hub.app[BOOKINGS].complaints
    escalated = await asyncio.gather(*(complaints.escalate_overdue() for _ in range(4)))
    await wait_until(lambda: _escalated(hub, cid))  # the hub's own sweep races them too
    await asyncio.gather(complaints.escalate_overdue(), hub.app[BOOKINGS].sweep())
    assert sum(escalated) <= 1
    overdue = await items_of(hub, "complaint_overdue", done["id"])
    assert [(i["state"], i["priority"], i["cause"]) for i in overdue] == [("open", "urgent", complaint["id"])]
    steps = await count(
        hub, "SELECT count(*) FROM complaint_steps WHERE complaint_id = $1 AND action = 'escalated'", cid
    )
    assert steps == 1

    async def owner_told() -> bool:
        _, inbox = await hub.http("GET", "/api/v1/notifications", hub.token(*STAFF))
        return [n["title"] for n in inbox["items"]].count("Complaint overdue") == 1

    await wait_until(owner_told)
    _, listed = await hub.http("GET", "/api/v1/complaints?overdue=true&owner=me", hub.token(*STAFF))
    assert [c["id"] for c in listed["items"]] == [complaint["id"]], listed
    _, others = await hub.http("GET", "/api/v1/complaints?owner=support:s-9", hub.token(*STAFF))
    assert others["items"] == []
    _, open_ones = await hub.http("GET", "/api/v1/complaints?status=open,investigating", hub.token(*STAFF))
    assert [c["overdue"] for c in open_ones["items"]] == [True]

    # Closing it resolves both of its console items.
    await staff_ok(hub, complaint["id"], "investigate")
    await staff_ok(
        hub, complaint["id"], "resolve", {"resolution": "none", "note": "Checked with the worker."}
    )
    for kind in ("complaint", "complaint_overdue"):
        assert [i["state"] for i in await items_of(hub, kind, done["id"])] == ["resolved"]
    _, closed = await hub.http("GET", "/api/v1/complaints?overdue=true", hub.token(*STAFF))
    assert closed["items"] == []


async def _escalated(hub: RunningHub, complaint_id: uuid.UUID) -> bool:
    found = await pool_of(hub).fetchval("SELECT escalated_at FROM complaints WHERE id = $1", complaint_id)
    return found is not None


# The console's socket, and who hears of each step ------------------------------------------------


async def test_the_console_acts_over_its_socket_and_each_step_reaches_customer_and_worker(
    start_hub: StartHub, peers: list[Peer]
) -> None:
    hub = await start(start_hub, workers=1)
    worker = await open_peer(hub, peers, "/worker", "worker", "w-1")
    customer = await open_peer(hub, peers, "/customer", "customer", "c-1")
    console = await open_peer(hub, peers, "/support", "support", "s-1")
    done = await completed(hub, worker)
    complaint = await filed(hub, done["id"], category="quality", body="Windows still dirty.")
    ref = {"complaint_id": complaint["id"]}

    def about(title: str, which: dict[str, Any] = complaint) -> Any:
        return lambda n: n["title"] == title and n["data"].get("complaint_id") == which["id"]

    await customer.next_where("notification", about("Complaint received"))
    await worker.next_where("notification", about("A complaint about a job"))

    assert await console.error("complaint:get", {"complaint_id": str(uuid.uuid4())}) == "complaint_not_found"
    assert await console.error("complaint:take", {"complaint_id": "not-a-uuid"}) == "invalid_payload"
    assert await console.error("complaint:resolve", {**ref, "resolution": "none", "note": "x"}) == (
        "illegal_transition"
    )
    taken = await console.ok("complaint:take", ref)
    assert taken["owner"] == {"role": "support", "id": "s-1"}
    assert (await console.ok("complaint:investigate", ref))["status"] == "investigating"
    await customer.next_where("notification", about("Complaint under investigation"))
    await worker.next_where("notification", about("Complaint under investigation"))

    noted = await console.ok("complaint:note", {**ref, "body": "SECRET: customer complained twice before"})
    assert noted["history"][-1]["action"] == "noted"
    await console.ok("complaint:message", {**ref, "body": "We will make it right."})
    said = await customer.next_where("notification", about("Support replied to your complaint"))
    assert said["body"] == "We will make it right."
    moved = await console.ok("complaint:assign", {**ref, "owner_id": "admin-1", "owner_role": "admin"})
    assert moved["owner"] == {"role": "admin", "id": "admin-1"}

    # A refund beyond what was paid is refused over the socket as over HTTP, changing nothing.
    too_much = {**ref, "resolution": "refund", "amount_cents": done["total_cents"] + 1, "note": "x"}
    assert await console.error("complaint:resolve", too_much) == "refund_exceeds_paid"
    resolved = await console.ok(
        "complaint:resolve", {**ref, "resolution": "none", "note": "The windows were cleaned again."}
    )
    assert (resolved["status"], resolved["resolution"], resolved["closed_by"]) == (
        "resolved", "none", {"role": "support", "id": "s-1"},
    )  # fmt: skip
    told = await customer.next_where("notification", about("Complaint resolved"))
    assert "The windows were cleaned again." in told["body"]
    await worker.next_where("notification", about("Complaint resolved"))
    assert await console.error("complaint:reject", {**ref, "reason": "x"}) == "illegal_transition"
    got = await console.ok("complaint:get", ref)
    assert [s["action"] for s in got["history"]] == [
        "filed", "taken", "investigating", "noted", "messaged", "assigned", "resolved",
    ]  # fmt: skip

    # Another complaint, rejected over the socket.
    second = await filed(hub, done["id"], category="other", body="Also the floor.")
    ref2 = {"complaint_id": second["id"]}
    await console.ok("complaint:investigate", ref2)
    rejected = await console.ok("complaint:reject", {**ref2, "reason": "Covered by the earlier complaint."})
    assert rejected["status"] == "rejected"
    await customer.next_where("notification", about("Complaint closed", second))
    await worker.next_where("notification", about("Complaint closed", second))
    # The note reached nobody but staff.
    sent = customer.pending("notification") + worker.pending("notification")
    assert "SECRET" not in json.dumps(sent)
    _, seen = await as_customer(hub, complaint["id"])
    assert "SECRET" not in json.dumps(seen)
    # A customer or a worker cannot use the console's events at all.
    assert await customer.error("complaint:take", ref) == "unknown_event"
