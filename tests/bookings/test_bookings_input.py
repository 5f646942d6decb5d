"""Text PostgreSQL cannot hold, sent to the bookings API and the worker events: a clear
``invalid_payload`` naming the field, nothing changed, no traceback in the log."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from tests.support.bookings import book_and_pay, booking_request, start
from tests.support.clients import Peer
from tests.support.hubs import RunningHub, StartHub

NUL = "a\x00b"


@pytest.fixture(autouse=True)
def _capture_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not loud, [f"{r.name}: {r.getMessage()}" for r in loud]


async def post(hub: RunningHub, path: str, token: str, body: dict[str, Any]) -> tuple[int, Any]:
    # json.dumps escapes the NUL as \u0000, as a client's JSON encoder does.
    raw = json.dumps(body).encode()
    return await hub.http("POST", path, token, data=raw, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("path", "change", "where"),
    [
        ("/api/v1/bookings/quote", {"service_id": NUL}, ["service_id"]),
        ("/api/v1/bookings", {"service_id": NUL}, ["service_id"]),
        ("/api/v1/bookings", {"special_requests": NUL}, ["special_requests"]),
        ("/api/v1/bookings", {"worker_id": NUL}, ["worker_id"]),
        ("/api/v1/bookings", {"address": {"line": NUL, "lat": 31.2, "lng": 121.5}}, ["address", "line"]),
    ],
)
async def test_nul_in_a_booking_is_refused_and_nothing_is_booked(
    start_hub: StartHub, caplog: pytest.LogCaptureFixture, path: str, change: dict[str, Any], where: list[str]
) -> None:
    hub = await start(start_hub)
    token = hub.token("customer", "c-1")
    status, error = await post(hub, path, token, booking_request(**change))
    assert status == 422, error
    assert error["error"]["code"] == "invalid_payload"
    assert [d["loc"] for d in error["error"]["details"]] == [where]
    status, listed = await hub.http("GET", "/api/v1/bookings", token)
    assert (status, listed["items"]) == (200, [])
    assert_no_traceback(caplog)


@pytest.mark.parametrize(
    ("action", "role", "body", "where"),
    [
        ("cancel", "customer", {"reason": NUL}, ["reason"]),
        ("mark-paid", "admin", {"payment_ref": NUL}, ["payment_ref"]),
        ("assign", "admin", {"worker_id": NUL}, ["worker_id"]),
        ("redispatch", "admin", {"reason": NUL}, ["reason"]),
    ],
)
async def test_nul_in_a_booking_change_is_refused_and_nothing_changes(
    start_hub: StartHub,
    caplog: pytest.LogCaptureFixture,
    action: str,
    role: str,
    body: dict[str, Any],
    where: list[str],
) -> None:
    hub = await start(start_hub)
    customer = hub.token("customer", "c-1")
    status, booking = await post(hub, "/api/v1/bookings", customer, booking_request())
    assert status == 201, booking
    prefix = "/api/v1/admin/bookings" if role == "admin" else "/api/v1/bookings"
    who = hub.token(role, "admin-1" if role == "admin" else "c-1")
    status, error = await post(hub, f"{prefix}/{booking['id']}/{action}", who, body)
    assert status == 422, error
    assert [d["loc"] for d in error["error"]["details"]] == [where]
    status, now = await hub.http("GET", f"/api/v1/bookings/{booking['id']}", customer)
    assert (status, now["status"], len(now["timeline"])) == (200, "pending_payment", len(booking["timeline"]))
    assert_no_traceback(caplog)


@pytest.mark.parametrize(
    "path", ["/api/v1/services?q=a%00b", "/api/v1/workers?q=%00", "/api/v1/services?x%00=1"]
)
async def test_nul_in_a_query_is_refused(
    start_hub: StartHub, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    hub = await start(start_hub)
    status, error = await hub.http("GET", path)
    assert status == 422, error
    assert error["error"]["code"] == "invalid_payload"
    assert_no_traceback(caplog)


async def test_nul_in_a_worker_event_is_refused(
    start_hub: StartHub, peers: list[Peer], caplog: pytest.LogCaptureFixture
) -> None:
    hub = await start(start_hub, workers=1)
    worker = await Peer("/worker").connect(hub.url, hub.token("worker", "w-1"))
    peers.append(worker)
    await book_and_pay(hub)
    offer = await worker.next("offer")
    ack = await worker.call("offer:decline", {"offer_id": offer["offer_id"], "reason": NUL})
    assert ack["ok"] is False, ack
    assert ack["error"]["code"] == "invalid_payload"
    assert [d["loc"] for d in ack["error"]["details"]] == [["reason"]]
    # The offer is still open: declining it properly works.
    assert (await worker.ok("offer:decline", {"offer_id": offer["offer_id"], "reason": "busy"})) is not None
    assert_no_traceback(caplog)


@pytest.mark.parametrize(
    "query",
    ["from=0001-01-01", "from=9999-12-31&view=week", "from=2026-01-01&to=9999-12-31", "from=1899-12-31"],
)
async def test_dates_no_one_could_mean_are_refused(start_hub: StartHub, query: str) -> None:
    """Year 1 in Shanghai is before year 1 in UTC, and a week after 9999-12-31 does not exist:
    such dates answered 500; every date a client sends is bounded, in one place."""
    hub = await start(start_hub, workers=0)
    status, body = await hub.http("GET", f"/api/v1/workers/me/schedule?{query}", hub.token("worker", "w-1"))
    assert status == 422, body
    assert body["error"]["code"] in ("invalid_payload", "invalid_range"), body
    status, body = await hub.http(
        "POST",
        "/api/v1/bookings/quote",
        hub.token("customer", "c-1"),
        json=booking_request(date="0001-01-01"),
    )
    assert status == 422, body
