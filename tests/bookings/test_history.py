"""A customer's browsing and search history over real HTTP: kept only with their consent,
deleted when they withdraw it, bounded; and the recommendations it feeds, each saying why."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from bookings import history
from bookings import seed as demo
from hub.keys import CONTEXT
from tests.bookings.test_people_api import insert_booking
from tests.support.hubs import RunningHub

PRIVACY = "/api/v1/customers/me/privacy"
HISTORY = "/api/v1/customers/me/history"
CUSTOMER = "customer-01"


@pytest.fixture
async def seeded(hub: RunningHub) -> RunningHub:
    async with hub.app[CONTEXT].pool.acquire() as conn:
        await demo.seed(conn)
    return hub


def token(hub: RunningHub, customer: str = CUSTOMER) -> str:
    return hub.token("customer", customer)


async def stored(hub: RunningHub, customer: str = CUSTOMER) -> int:
    """Rows kept for the customer, counted in the database itself."""
    count: int = await hub.app[CONTEXT].pool.fetchval(
        "SELECT count(*) FROM customer_history WHERE customer_id = $1", customer
    )
    return count


async def consent(hub: RunningHub, on: bool, customer: str = CUSTOMER) -> dict[str, Any]:
    status, body = await hub.http("PUT", PRIVACY, token(hub, customer), json={"history": on})
    assert status == 200, body
    assert body["history"] is on
    return body  # type: ignore[no-any-return]


async def view(hub: RunningHub, customer: str = CUSTOMER, **target: str) -> tuple[int, Any]:
    kind = "service_view" if "service_id" in target else "worker_view"
    return await hub.http("POST", HISTORY, token(hub, customer), json={"kind": kind, **target})


async def searched(hub: RunningHub, q: str, customer: str | None = CUSTOMER) -> list[str]:
    bearer = None if customer is None else token(hub, customer)
    status, body = await hub.http("GET", f"/api/v1/services?q={quote(q)}", bearer)
    assert status == 200, body
    return [s["id"] for s in body["items"]]


async def events(hub: RunningHub, customer: str = CUSTOMER) -> list[dict[str, Any]]:
    status, body = await hub.http("GET", f"{HISTORY}?limit=200", token(hub, customer))
    assert status == 200, body
    found: list[dict[str, Any]] = body["items"]
    return found


async def test_nothing_is_recorded_without_consent(seeded: RunningHub) -> None:
    status, body = await seeded.http("GET", PRIVACY, token(seeded))
    assert (status, body) == (200, {"history": False, "changed_at": None})  # off until turned on
    status, body = await view(seeded, service_id="nanny-hourly")
    assert (status, body) == (200, {"recorded": False, "event": None})
    status, body = await view(seeded, worker_id="worker-02")
    assert (status, body) == (200, {"recorded": False, "event": None})
    assert await searched(seeded, "照顾小孩") == ["nanny-hourly"]
    assert await stored(seeded) == 0
    status, body = await seeded.http("GET", HISTORY, token(seeded))
    assert (status, body) == (200, {"history": False, "items": [], "next_cursor": None})


async def test_consent_records_and_withdrawal_deletes(seeded: RunningHub) -> None:
    turned_on = await consent(seeded, True)
    assert turned_on["changed_at"] is not None
    status, body = await view(seeded, service_id="nanny-hourly")
    assert status == 201, body
    assert body["recorded"] is True
    assert body["event"]["kind"] == "service_view"
    assert body["event"]["service_id"] == "nanny-hourly"
    status, _ = await view(seeded, worker_id="worker-02")
    assert status == 201
    assert await searched(seeded, "照顾小孩") == ["nanny-hourly"]
    assert await searched(seeded, "月嫂", customer=None) == ["maternity-nurse-26d"]  # anonymous: not kept
    # Someone else's consent says nothing about this customer.
    assert await searched(seeded, "擦玻璃", customer="customer-02")
    assert await stored(seeded, "customer-02") == 0

    kept = await events(seeded)
    assert [(e["kind"], e["service_id"], e["worker_id"], e["query"]) for e in kept] == [
        ("search", None, None, "照顾小孩"),
        ("worker_view", None, "worker-02", None),
        ("service_view", "nanny-hourly", None, None),
    ]
    assert kept[0]["found"] == ["nanny-hourly"]

    # Turning it on again changes nothing; turning it off deletes everything recorded.
    assert (await consent(seeded, True))["changed_at"] == turned_on["changed_at"]
    await consent(seeded, False)
    assert await stored(seeded) == 0
    assert await events(seeded) == []
    status, body = await view(seeded, service_id="nanny-hourly")
    assert (status, body["recorded"]) == (200, False)
    await searched(seeded, "保洁")
    assert await stored(seeded) == 0


async def test_clearing_keeps_consent(seeded: RunningHub) -> None:
    await consent(seeded, True)
    await view(seeded, service_id="ac-cleaning")
    status, _ = await seeded.http("DELETE", HISTORY, token(seeded))
    assert status == 204
    assert await stored(seeded) == 0
    status, body = await seeded.http("GET", PRIVACY, token(seeded))
    assert body["history"] is True
    status, _ = await view(seeded, service_id="ac-cleaning")
    assert status == 201


async def test_a_refined_search_replaces_the_one_before(seeded: RunningHub) -> None:
    await consent(seeded, True)
    for typed in ("照", "照顾", "照顾小", "照顾小孩"):  # a search box, keystroke by keystroke
        await searched(seeded, typed)
    await searched(seeded, "擦玻璃")  # another search
    kept = await events(seeded)
    assert [(e["query"], e["found"]) for e in kept] == [
        ("擦玻璃", ["window-cleaning"]),
        ("照顾小孩", ["nanny-hourly"]),
    ]


async def test_history_is_bounded(seeded: RunningHub) -> None:
    await consent(seeded, True)
    pool = seeded.app[CONTEXT].pool
    await pool.execute(
        """INSERT INTO customer_history (customer_id, kind, service_id)
           SELECT $1, 'service_view', 'daily-cleaning' FROM generate_series(1, $2)""",
        CUSTOMER,
        history.KEEP,
    )
    status, body = await view(seeded, service_id="nanny-hourly")
    assert status == 201, body
    assert await stored(seeded) == history.KEEP
    kept = await events(seeded)
    assert len(kept) == history.KEEP
    assert kept[0]["service_id"] == "nanny-hourly"  # the oldest went
    paged: list[int] = []
    cursor = None
    while True:
        params = {"limit": "64", **({"cursor": cursor} if cursor else {})}
        status, page = await seeded.http("GET", HISTORY, token(seeded), params=params)
        assert status == 200, page
        paged += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == [e["id"] for e in kept]  # newest first, each once


async def test_a_withdrawal_racing_records_leaves_nothing(seeded: RunningHub) -> None:
    await consent(seeded, True)
    records = [view(seeded, service_id="window-cleaning") for _ in range(20)]
    *answers, _ = await asyncio.gather(*records, consent(seeded, False))
    assert {status for status, _ in answers} <= {200, 201}
    assert await stored(seeded) == 0


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"kind": "service_view", "service_id": "no-such-service"}, 404, "service_not_found"),
        ({"kind": "worker_view", "worker_id": "no-such-worker"}, 404, "worker_not_found"),
        ({"kind": "service_view", "worker_id": "worker-02"}, 422, "invalid_payload"),
        (
            {"kind": "service_view", "service_id": "nanny-hourly", "worker_id": "worker-02"},
            422,
            "invalid_payload",
        ),
        ({"kind": "search", "service_id": "nanny-hourly"}, 422, "invalid_payload"),
        ({"kind": "service_view"}, 422, "invalid_payload"),
        ({"kind": "service_view", "service_id": "BAD ID"}, 422, "invalid_payload"),
    ],
)
async def test_bad_records_are_refused_and_change_nothing(
    seeded: RunningHub, body: dict[str, Any], status: int, code: str
) -> None:
    await consent(seeded, True)
    answer_status, answer = await seeded.http("POST", HISTORY, token(seeded), json=body)
    assert (answer_status, answer["error"]["code"]) == (status, code)
    assert await stored(seeded) == 0


async def test_only_customers_have_a_history(seeded: RunningHub) -> None:
    worker = seeded.token("worker", "worker-02")
    for method, path, body in (
        ("GET", PRIVACY, None),
        ("PUT", PRIVACY, {"history": True}),
        ("GET", HISTORY, None),
        ("POST", HISTORY, {"kind": "service_view", "service_id": "nanny-hourly"}),
        ("DELETE", HISTORY, None),
    ):
        status, answer = await seeded.http(method, path, worker, json=body)
        assert (status, answer["error"]["code"]) == (403, "role_forbidden"), (method, path)
    status, answer = await seeded.http("PUT", PRIVACY, token(seeded), json={"history": "yes"})
    assert status == 422, answer
    # A worker's token on the public search is served anonymously: nothing is kept.
    status, _ = await seeded.http("GET", "/api/v1/services?q=nanny", worker)
    assert status == 200


# Recommendations ---------------------------------------------------------------------------------


async def for_you(hub: RunningHub, customer: str = CUSTOMER) -> dict[str, Any]:
    status, body = await hub.http("GET", "/api/v1/recommendations", token(hub, customer))
    assert status == 200, body
    found: dict[str, Any] = body["for_you"]
    return found


def services_of(found: dict[str, Any]) -> list[str]:
    return [s["service"]["id"] for s in found["services"]]


def reasons_of(found: dict[str, Any], service_id: str) -> list[str]:
    [item] = [s for s in found["services"] if s["service"]["id"] == service_id]
    return [r["text"] for r in item["because"]]


async def test_recommendations_follow_views_and_searches(seeded: RunningHub) -> None:
    assert await for_you(seeded) == {"history": False, "services": [], "workers": []}
    await consent(seeded, True)

    await view(seeded, service_id="ac-cleaning")
    found = await for_you(seeded)
    assert found["history"] is True
    assert services_of(found) == ["ac-cleaning"]
    assert reasons_of(found, "ac-cleaning") == ["because you looked at 空调清洗（挂机）"]  # noqa: RUF001 - its name

    await searched(seeded, "照顾小孩")  # a search weighs more than one look
    found = await for_you(seeded)
    assert services_of(found)[:2] == ["nanny-hourly", "ac-cleaning"]
    [reason] = found["services"][0]["because"]
    assert reason["kind"] == "searched"
    assert reason["subject"] == "照顾小孩"
    assert reason["text"] == "because you searched 照顾小孩"

    # A worker's profile: the worker, and the services they are certified for.
    await view(seeded, worker_id="worker-02")  # 李桂兰: maternity care and childcare
    found = await for_you(seeded)
    assert [w["worker"]["id"] for w in found["workers"]] == ["worker-02"]
    assert [r["text"] for r in found["workers"][0]["because"]] == ["because you looked at 李桂兰"]
    assert services_of(found)[0] == "nanny-hourly"
    assert reasons_of(found, "nanny-hourly") == [
        "because you searched 照顾小孩",
        "because you looked at 李桂兰",
    ]
    assert "because you looked at 李桂兰" in reasons_of(found, "maternity-nurse-26d")

    # Withdrawing consent forgets all of it.
    await consent(seeded, False)
    assert await for_you(seeded) == {"history": False, "services": [], "workers": []}


async def test_recent_weighs_more_and_bookings_count_without_consent(seeded: RunningHub) -> None:
    await insert_booking(seeded, CUSTOMER, "daily-cleaning", "completed", worker="worker-01", days_ago=3)
    found = await for_you(seeded)  # no consent: bookings alone
    assert services_of(found) == ["daily-cleaning"]
    assert reasons_of(found, "daily-cleaning") == ["because you booked 日常保洁"]
    assert [w["worker"]["id"] for w in found["workers"]] == ["worker-01"]

    await consent(seeded, True)
    pool = seeded.app[CONTEXT].pool
    long_ago = datetime.now(UTC) - timedelta(days=90)
    for _ in range(3):  # looked at three times, three months ago
        await pool.execute(
            """INSERT INTO customer_history (customer_id, kind, service_id, created_at)
               VALUES ($1, 'service_view', 'elder-care-hourly', $2)""",
            CUSTOMER,
            long_ago,
        )
    await view(seeded, service_id="window-cleaning")  # once, now
    found = await for_you(seeded)
    ranked = services_of(found)
    assert (
        ranked.index("daily-cleaning") < ranked.index("window-cleaning") < ranked.index("elder-care-hourly")
    )
    scores = {s["service"]["id"]: s["score"] for s in found["services"]}
    assert scores["elder-care-hourly"] < 0.1 < scores["window-cleaning"]
