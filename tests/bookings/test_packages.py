"""Service packages: bought and paid on the payments' path (by hand, or a provider's notice
applied once however often it comes), then booked visit by visit: a visit pays its booking at
once and moves its share of the price from the package to the booking in the ledger; a booking
cancelled before service gives its visit back; visits run out and expire; the ledger balances."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from bookings.payments import paying
from bookings.payments.ledger import PROMOTIONS, booking_account, cash, package_account
from bookings.storage import ledger as ledger_store
from bookings.storage import packages as package_store
from hub.keys import CONTEXT
from tests.bookings.test_payments import apply, paid
from tests.support.bookings import open_peer, start
from tests.support.clients import Peer
from tests.support.hubs import RunningHub, StartHub
from tests.support.money import (
    ADMIN,
    book,
    buy_package,
    cancel,
    do_the_job,
    ledger_is_clean,
    new_package,
    quote,
)


async def my_packages(hub: RunningHub, customer: str = "c-1") -> list[dict[str, Any]]:
    status, body = await hub.http("GET", "/api/v1/customers/me/packages", hub.token("customer", customer))
    assert status == 200, body
    return list(body["items"])


async def held_by_package(hub: RunningHub, order_id: str) -> int:
    return -await ledger_store.balance(hub.app[CONTEXT].pool, package_account(uuid.UUID(order_id)))


async def test_admins_define_packages_and_customers_see_those_on_sale(start_hub: StartHub) -> None:
    hub = await start(start_hub, workers=0)
    package = await new_package(hub)
    hidden = await new_package(hub, name="Old offer", active=False)
    status, on_sale = await hub.http("GET", "/api/v1/packages")
    assert status == 200, on_sale
    assert [p["id"] for p in on_sale["items"]] == [package["id"]]
    _, everything = await hub.http("GET", "/api/v1/admin/packages", hub.token("support", "s-1"))
    assert {p["id"] for p in everything["items"]} == {package["id"], hidden["id"]}
    status, refused = await hub.http(
        "POST", "/api/v1/admin/packages", hub.token(*ADMIN),
        json={"service_id": "no-such", "name": "x", "visits": 1, "visit_minutes": 60, "price_cents": 1,
              "validity_days": 1},
    )  # fmt: skip
    assert (status, refused["error"]["code"]) == (422, "unknown_service"), refused
    status, gone = await hub.http(
        "POST", f"/api/v1/packages/{hidden['id']}/purchase", hub.token("customer", "c-1")
    )
    assert (status, gone["error"]["code"]) == (404, "package_not_found")
    status, changed = await hub.http(
        "PUT", f"/api/v1/admin/packages/{package['id']}", hub.token(*ADMIN), json={"price_cents": 40000}
    )
    assert status == 200, changed
    assert (changed["price_cents"], changed["visits"]) == (40000, 3)


async def test_a_package_is_bought_paid_and_its_visits_pay_bookings(
    start_hub: StartHub, peers: list[Peer]
) -> None:
    hub = await start(start_hub, workers=1)
    pool = hub.app[CONTEXT].pool
    worker = await open_peer(hub, peers, "/worker", "worker", "w-1")
    package = await new_package(hub)
    order = await buy_package(hub, package["id"], pay=False)
    # Not paid yet: no visit to book with.
    status, early = await book(hub, package_order_id=order["id"])
    assert (status, early["error"]["code"]) == (409, "package_not_paid"), early
    # Paid by hand, twice (an admin's retry): paid once.
    for _ in range(2):
        status, active = await hub.http(
            "POST", f"/api/v1/admin/package-orders/{order['id']}/mark-paid", hub.token(*ADMIN),
            json={"payment_ref": "bank-77"},
        )  # fmt: skip
        assert status == 200, active
    assert (active["status"], active["visits_left"]) == ("active", 3)
    expires = datetime.fromisoformat(active["expires_at"])
    assert timedelta(days=89) < expires - datetime.now(UTC) <= timedelta(days=90)
    assert await held_by_package(hub, order["id"]) == 36001
    assert await ledger_store.balance(pool, cash("manual")) == 36001
    # The terms were copied: changing the package changes nothing bought.
    await hub.http("PUT", f"/api/v1/admin/packages/{package['id']}", hub.token(*ADMIN), json={"visits": 10})
    [mine] = await my_packages(hub)
    assert (mine["id"], mine["visits"], mine["visits_left"], mine["status"]) == (order["id"], 3, 3, "active")

    status, priced = await quote(hub, package_order_id=order["id"])
    assert status == 200, priced
    assert priced["total_cents"] == 12000  # a third of the price
    status, booking = await book(hub, package_order_id=order["id"])
    assert status == 201, booking
    assert booking["status"] == "dispatching"  # paid at once, no payment
    assert booking["total_cents"] == 12000
    list_price = booking["price"]["base_cents"] + booking["price"]["surcharges_cents"]
    assert [(d["code"], d["label"], d["amount_cents"]) for d in booking["price"]["discounts"]] == [
        ("package", "Three cleanings", -(list_price - 12000))
    ]
    _, payments = await hub.http(
        "GET", f"/api/v1/bookings/{booking['id']}/payments", hub.token("customer", "c-1")
    )
    assert payments["items"] == []
    assert await held_by_package(hub, order["id"]) == 24001
    assert -await ledger_store.balance(pool, booking_account(uuid.UUID(booking["id"]))) == 12000
    assert (await my_packages(hub))[0]["visits_left"] == 2

    await do_the_job(worker, booking["id"])
    # Earned as if paid: the worker's pay owed, the package's discount paid by promotions.
    assert await ledger_store.balance(pool, booking_account(uuid.UUID(booking["id"]))) == 0
    assert await ledger_store.balance(pool, PROMOTIONS) == booking["price"]["discounts_cents"]
    await ledger_is_clean(hub)

    # The last two visits: the last takes what rounding left.
    for share in (12000, 12001):
        status, booked = await book(hub, package_order_id=order["id"])
        assert status == 201, booked
        assert booked["total_cents"] == share
    assert await held_by_package(hub, order["id"]) == 0
    status, none_left = await book(hub, package_order_id=order["id"])
    assert (status, none_left["error"]["code"]) == (409, "package_used_up"), none_left
    assert (await my_packages(hub))[0]["status"] == "used_up"
    await ledger_is_clean(hub)


async def test_a_cancelled_booking_gives_its_visit_back(start_hub: StartHub) -> None:
    hub = await start(start_hub, workers=0)
    order = await buy_package(hub, (await new_package(hub))["id"])
    status, booking = await book(hub, package_order_id=order["id"])
    assert status == 201, booking
    assert (await my_packages(hub))[0]["visits_left"] == 2

    cancelled = await cancel(hub, booking["id"])
    assert cancelled["status"] == "cancelled"
    assert (await my_packages(hub))[0]["visits_left"] == 3
    assert await held_by_package(hub, order["id"]) == 36001
    assert await ledger_store.balance(hub.app[CONTEXT].pool, booking_account(uuid.UUID(booking["id"]))) == 0
    _, refunds = await hub.http(
        "GET", f"/api/v1/bookings/{booking['id']}/refunds", hub.token("customer", "c-1")
    )
    assert refunds["items"] == []  # nothing of it was money: the visit is what comes back
    status, again = await book(hub, package_order_id=order["id"])
    assert status == 201, again
    assert again["total_cents"] == 12000
    await ledger_is_clean(hub)


async def test_visits_are_counted_one_booking_at_a_time(start_hub: StartHub) -> None:
    hub = await start(start_hub, workers=0)
    order = await buy_package(hub, (await new_package(hub))["id"])
    results = await asyncio.gather(*(book(hub, key=f"k-{n}", package_order_id=order["id"]) for n in range(6)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] * 3 + [409] * 3, results
    assert {body["error"]["code"] for status, body in results if status == 409} == {"package_used_up"}
    assert sorted(body["total_cents"] for status, body in results if status == 201) == [12000, 12000, 12001]
    assert await held_by_package(hub, order["id"]) == 0
    await ledger_is_clean(hub)


async def test_packages_are_only_for_their_customer_service_and_time(start_hub: StartHub) -> None:
    hub = await start(start_hub, workers=0)
    pool = hub.app[CONTEXT].pool
    order = await buy_package(hub, (await new_package(hub, visit_minutes=150))["id"])
    status, other = await book(hub, "c-2", package_order_id=order["id"])
    assert (status, other["error"]["code"]) == (422, "unknown_package_order"), other
    status, long = await book(hub, package_order_id=order["id"], duration_minutes=180)
    assert (status, long["error"]["code"]) == (422, "visit_too_long"), long
    status, both = await book(hub, package_order_id=order["id"], points=100)
    assert status == 422, both
    await pool.execute(
        "UPDATE package_orders SET expires_at = now() - interval '1 second' WHERE id = $1",
        uuid.UUID(order["id"]),
    )
    status, expired = await book(hub, package_order_id=order["id"], duration_minutes=150)
    assert (status, expired["error"]["code"]) == (409, "package_expired"), expired
    assert (await my_packages(hub))[0]["status"] == "expired"
    assert await my_packages(hub, "c-2") == []
    status, body = await hub.http(
        "GET", f"/api/v1/package-orders/{order['id']}/payments", hub.token("customer", "c-2")
    )
    assert (status, body["error"]["code"]) == (404, "package_order_not_found")
    await ledger_is_clean(hub)


async def test_a_providers_notice_pays_a_package_once(start_hub: StartHub) -> None:
    hub = await start(start_hub, workers=0)
    pool = hub.app[CONTEXT].pool
    order = await buy_package(hub, (await new_package(hub))["id"], pay=False)
    async with pool.acquire() as conn, conn.transaction():
        row = await package_store.order(conn, uuid.UUID(order["id"]))
        assert row is not None
        payment = await paying.start_package(conn, row, "c-1", "wechat", "app")
    assert payment["booking_id"] is None
    assert payment["amount_cents"] == 36001

    results = await asyncio.gather(*(apply(pool, "wechat", paid(payment)) for _ in range(10)))
    assert sorted(r.outcome.value for r in results) == ["applied"] + ["duplicate"] * 9
    assert (await my_packages(hub))[0]["status"] == "active"
    assert await held_by_package(hub, order["id"]) == 36001
    assert await ledger_store.balance(pool, cash("wechat")) == 36001
    _, payments = await hub.http(
        "GET", f"/api/v1/package-orders/{order['id']}/payments", hub.token("customer", "c-1")
    )
    assert [(p["status"], p["package_order_id"]) for p in payments["items"]] == [("succeeded", order["id"])]
    # Paid: no new payment can be started for it.
    status, refused = await hub.http(
        "POST", f"/api/v1/package-orders/{order['id']}/payments", hub.token("customer", "c-1"),
        json={"method": "card", "channel": "hosted"},
    )  # fmt: skip
    assert status in (409, 422), refused
    await ledger_is_clean(hub)
