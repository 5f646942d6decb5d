"""Points: earned once per completed booking by the rule an admin sets, spent for a discount
within the cap and the balance (two bookings never spend the same points), given back when the
booking is cancelled or expires unpaid; the discount is the platform's, so the ledger balances."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from bookings.payments.ledger import PROMOTIONS, booking_account
from bookings.storage import ledger as ledger_store
from hub.keys import CONTEXT
from tests.support.bookings import open_peer, start
from tests.support.clients import Peer
from tests.support.hubs import RunningHub, StartHub
from tests.support.money import (
    ADMIN,
    book,
    cancel,
    do_the_job,
    give_points,
    ledger_is_clean,
    mark_paid,
    quote,
)
from tests.support.waiting import wait_until


async def my_points(hub: RunningHub, customer: str = "c-1", **query: str) -> dict[str, Any]:
    status, body = await hub.http(
        "GET", "/api/v1/customers/me/points", hub.token("customer", customer), params=query
    )
    assert status == 200, body
    return dict(body)


async def set_rule(hub: RunningHub, **rule: int) -> dict[str, Any]:
    status, body = await hub.http("PUT", "/api/v1/admin/settings/points", hub.token(*ADMIN), json=rule)
    assert status == 200, body
    return dict(body)


async def test_the_rule_starts_from_the_environment_and_admins_change_it(start_hub: StartHub) -> None:
    hub = await start(start_hub, workers=0, HUB_POINTS_PER_YUAN="3", HUB_POINTS_MAX_SHARE_PCT="20")
    status, rule = await hub.http("GET", "/api/v1/admin/settings/points", hub.token("support", "s-1"))
    assert status == 200, rule
    assert rule == {"earn_per_yuan": 3, "points_per_yuan": 100, "max_share_pct": 20}
    assert await set_rule(hub, max_share_pct=40) == {
        "earn_per_yuan": 3,
        "points_per_yuan": 100,
        "max_share_pct": 40,
    }
    status, refused = await hub.http(
        "PUT", "/api/v1/admin/settings/points", hub.token(*ADMIN), json={"max_share_pct": 95}
    )
    assert status == 422, refused
    status, refused = await hub.http(
        "PUT", "/api/v1/admin/settings/points", hub.token("support", "s-1"), json={"max_share_pct": 10}
    )
    assert (status, refused["error"]["code"]) == (403, "role_forbidden")
    _, rule = await hub.http("GET", "/api/v1/admin/settings/points", hub.token(*ADMIN))
    assert rule["max_share_pct"] == 40


async def test_a_completed_booking_earns_points_once(start_hub: StartHub, peers: list[Peer]) -> None:
    hub = await start(start_hub, workers=1)
    worker = await open_peer(hub, peers, "/worker", "worker", "w-1")
    await set_rule(hub, earn_per_yuan=2)
    status, booking = await book(hub)
    assert status == 201, booking
    await mark_paid(hub, booking["id"])
    assert (await my_points(hub))["balance"] == 0  # paid is not done

    await do_the_job(worker, booking["id"], resend_finish=True)

    history = await my_points(hub)
    earned = booking["total_cents"] * 2 // 100
    assert history["balance"] == earned
    assert [(e["kind"], e["points"], e["booking_id"]) for e in history["items"]] == [
        ("earned", earned, booking["id"])
    ]
    await ledger_is_clean(hub)


async def test_points_buy_a_discount_within_the_cap_and_the_balance(
    start_hub: StartHub, peers: list[Peer]
) -> None:
    hub = await start(start_hub, workers=1)
    pool = hub.app[CONTEXT].pool
    worker = await open_peer(hub, peers, "/worker", "worker", "w-1")
    await give_points(hub, "c-1", 3000)
    status, plain = await quote(hub)
    assert status == 200, plain
    cap_points = plain["total_cents"] * 50 // 100  # 100 points a yuan: a point a fen

    status, over = await quote(hub, points=cap_points + 1)
    assert (status, over["error"]["code"]) == (422, "points_exceed_cap"), over
    assert over["error"]["details"][0]["max_points"] == cap_points
    await give_points(hub, "c-2", 10)
    status, short = await quote(hub, "c-2", points=11)
    assert (status, short["error"]["code"]) == (409, "points_insufficient"), short
    assert short["error"]["details"] == {"balance": 10}
    status, both = await quote(hub, points=100, package_order_id=str(uuid.uuid4()))
    assert status == 422, both
    await set_rule(hub, points_per_yuan=300)  # 3 points buy one fen
    status, odd = await quote(hub, points=100)
    assert (status, odd["error"]["code"]) == (422, "points_not_whole"), odd
    await set_rule(hub, points_per_yuan=100)

    status, priced = await quote(hub, points=1200)
    assert status == 200, priced
    line = priced["discounts"][-1]
    assert (line["code"], line["label"], line["amount_cents"]) == ("points", "1200 points", -1200)
    assert priced["total_cents"] == plain["total_cents"] - 1200
    assert priced["discounts_cents"] == plain["discounts_cents"] + 1200
    assert (await my_points(hub))["balance"] == 3000  # a quote spends nothing

    status, booking = await book(hub, points=1200)
    assert status == 201, booking
    assert booking["total_cents"] == priced["total_cents"]
    history = await my_points(hub)
    assert history["balance"] == 1800
    assert history["items"][0]["kind"] == "redeemed"
    assert history["items"][0]["points"] == -1200

    await mark_paid(hub, booking["id"])
    await do_the_job(worker, booking["id"])
    # The points' discount is the platform's: promotions pay it at completion, and it balances.
    assert await ledger_store.balance(pool, PROMOTIONS) == booking["price"]["discounts_cents"]
    assert await ledger_store.balance(pool, booking_account(uuid.UUID(booking["id"]))) == 0
    await ledger_is_clean(hub)


async def test_two_bookings_cannot_spend_the_same_points(start_hub: StartHub) -> None:
    hub = await start(start_hub, workers=0)
    await give_points(hub, "c-1", 1000)
    results = await asyncio.gather(*(book(hub, key=f"k-{n}", points=600) for n in range(8)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * 7, results
    assert {body["error"]["code"] for status, body in results if status == 409} == {"points_insufficient"}
    history = await my_points(hub)
    assert history["balance"] == 400
    assert [e["kind"] for e in history["items"]].count("redeemed") == 1
    # The Idempotency-Key that won replays its booking and spends nothing more.
    winner = next(n for n, (status, _) in enumerate(results) if status == 201)
    status, again = await book(hub, key=f"k-{winner}", points=600)
    assert status == 201
    assert again["id"] == results[winner][1]["id"]
    assert (await my_points(hub))["balance"] == 400


async def test_points_come_back_when_the_booking_is_cancelled_or_expires(start_hub: StartHub) -> None:
    hub = await start(start_hub, workers=1, HUB_BOOKING_PAYMENT_MINUTES="0.02")
    await give_points(hub, "c-1", 1000)

    status, paid = await book(hub, points=500)
    assert status == 201, paid
    await mark_paid(hub, paid["id"])
    assert (await my_points(hub))["balance"] == 500
    cancelled = await cancel(hub, paid["id"])
    assert cancelled["status"] == "cancelled"
    history = await my_points(hub)
    assert history["balance"] == 1000
    assert [(e["kind"], e["points"]) for e in history["items"][:2]] == [("returned", 500), ("redeemed", -500)]
    # The money paid (the total after the points) is refunded, and nothing of the points is money.
    _, refunds = await hub.http("GET", f"/api/v1/bookings/{paid['id']}/refunds", hub.token("customer", "c-1"))
    assert [r["amount_cents"] for r in refunds["items"]] == [paid["total_cents"]]

    status, unpaid = await book(hub, points=300)
    assert status == 201, unpaid
    assert (await my_points(hub))["balance"] == 700

    async def back() -> bool:
        return (await my_points(hub))["balance"] == 1000

    await wait_until(back)  # expired unpaid: the points come back
    _, expired = await hub.http("GET", f"/api/v1/bookings/{unpaid['id']}", hub.token("customer", "c-1"))
    assert expired["status"] == "expired"
    await cancel_again_changes_nothing(hub, paid["id"])
    await ledger_is_clean(hub)


async def cancel_again_changes_nothing(hub: RunningHub, booking_id: str) -> None:
    status, body = await hub.http(
        "POST", f"/api/v1/bookings/{booking_id}/cancel", hub.token("customer", "c-1"), json={}
    )
    assert status == 409, body
    assert (await my_points(hub))["balance"] == 1000


async def test_history_pages_newest_first(start_hub: StartHub) -> None:
    hub = await start(start_hub, workers=0)
    for n in range(5):
        await give_points(hub, "c-1", n + 1)
    first = await my_points(hub, limit="2")
    assert [e["points"] for e in first["items"]] == [5, 4]
    second = await my_points(hub, limit="2", cursor=first["next_cursor"])
    assert [e["points"] for e in second["items"]] == [3, 2]
    assert first["balance"] == 15
    assert (await my_points(hub, "c-9"))["items"] == []  # another customer's are not theirs
