"""A customer's spending history is the ledger's: payments (of bookings and of packages), refunds
and cancellation fees, newest first, with the discounts of the bookings they concern, and totals
that are exactly what the ledger holds for the customer."""

from __future__ import annotations

from typing import Any

from hub.keys import CONTEXT
from tests.support.bookings import start
from tests.support.hubs import RunningHub, StartHub
from tests.support.money import (
    book,
    buy_package,
    cancel,
    give_points,
    ledger_is_clean,
    mark_paid,
    new_package,
)


async def spending(hub: RunningHub, customer: str = "c-1", **query: str) -> dict[str, Any]:
    status, body = await hub.http(
        "GET", "/api/v1/customers/me/spending", hub.token("customer", customer), params=query
    )
    assert status == 200, body
    return dict(body)


async def ledger_totals(hub: RunningHub, customer: str) -> tuple[int, int]:
    """What the customer paid and got back, summed straight from the ledger's cash lines."""
    row = await hub.app[CONTEXT].pool.fetchrow(
        """SELECT coalesce(sum(l.amount_cents) FILTER (WHERE t.kind = 'payment'), 0) AS paid,
                  -coalesce(sum(l.amount_cents) FILTER (WHERE t.kind = 'refund'), 0) AS refunded
             FROM ledger_transactions t JOIN ledger_lines l ON l.transaction_id = t.id
            WHERE t.customer_id = $1 AND l.account LIKE 'cash:%'""",
        customer,
    )
    return int(row["paid"]), int(row["refunded"])


async def test_spending_shows_what_the_ledger_holds(start_hub: StartHub) -> None:
    hub = await start(start_hub, workers=0)
    assert (await spending(hub))["totals"] == {
        "paid_cents": 0, "refunded_cents": 0, "fees_cents": 0, "net_cents": 0
    }  # fmt: skip

    status, kept = await book(hub)
    assert status == 201, kept
    await mark_paid(hub, kept["id"])
    status, dropped = await book(hub)
    assert status == 201, dropped
    await mark_paid(hub, dropped["id"])
    await cancel(hub, dropped["id"])  # no worker yet: free, refunded in full (by hand, at once)
    await give_points(hub, "c-1", 500)
    status, discounted = await book(hub, points=500)
    assert status == 201, discounted
    await mark_paid(hub, discounted["id"])
    order = await buy_package(hub, (await new_package(hub))["id"])
    status, other = await book(hub, "c-2")  # someone else's
    assert status == 201, other
    await mark_paid(hub, other["id"])

    seen = await spending(hub)
    paid = kept["total_cents"] + dropped["total_cents"] + discounted["total_cents"] + 36001
    assert seen["totals"] == {
        "paid_cents": paid,
        "refunded_cents": dropped["total_cents"],
        "fees_cents": 0,
        "net_cents": paid - dropped["total_cents"],
    }
    assert (seen["totals"]["paid_cents"], seen["totals"]["refunded_cents"]) == await ledger_totals(hub, "c-1")
    movements = [
        (m["kind"], m["amount_cents"], m["booking_id"], m["package_order_id"]) for m in seen["items"]
    ]
    assert movements == [
        ("payment", 36001, None, order["id"]),
        ("payment", discounted["total_cents"], discounted["id"], None),
        ("refund", dropped["total_cents"], dropped["id"], None),
        ("payment", dropped["total_cents"], dropped["id"], None),
        ("payment", kept["total_cents"], kept["id"], None),
    ]
    assert {m["method"] for m in seen["items"]} == {"manual"}
    by_booking = {b["booking_id"]: b for b in seen["bookings"]}
    assert set(by_booking) == {kept["id"], dropped["id"], discounted["id"]}
    line = by_booking[discounted["id"]]["discounts"][-1]
    assert (line["code"], line["label"], line["amount_cents"]) == ("points", "500 points", -500)
    assert by_booking[dropped["id"]]["status"] == "cancelled"

    first = await spending(hub, limit="2")
    assert [m["id"] for m in first["items"]] == [m["id"] for m in seen["items"][:2]]
    assert [b["booking_id"] for b in first["bookings"]] == [discounted["id"]]
    rest = await spending(hub, limit="10", cursor=first["next_cursor"])
    assert [m["id"] for m in rest["items"]] == [m["id"] for m in seen["items"][2:]]
    assert rest["next_cursor"] is None
    assert rest["totals"] == seen["totals"]  # of all time, whatever the page

    theirs = await spending(hub, "c-2")
    assert [m["booking_id"] for m in theirs["items"]] == [other["id"]]
    assert (theirs["totals"]["paid_cents"], theirs["totals"]["refunded_cents"]) == await ledger_totals(
        hub, "c-2"
    )
    await ledger_is_clean(hub)


async def test_bad_queries_are_refused(start_hub: StartHub) -> None:
    hub = await start(start_hub, workers=0)
    for query in (
        {"limit": "0"},
        {"limit": "101"},
        {"cursor": "yesterday"},
        {"cursor": "2025-01-01T00:00:00"},
        {"cursor": ""},
    ):
        status, body = await hub.http(
            "GET", "/api/v1/customers/me/spending", hub.token("customer", "c-1"), params=query
        )
        assert status == 422, (query, body)
