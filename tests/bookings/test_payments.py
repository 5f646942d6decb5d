"""Paying a booking on the ledger: a provider's verified notice, or an admin's mark-paid, applied
exactly once (duplicates and 20 concurrent copies change nothing), refused when it is not about a
payment the hub can accept, and every movement of the booking's life recorded so that the ledger
balances and nothing goes out that did not come in."""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

import asyncpg

from bookings import orders
from bookings.payments import money, paying
from bookings.payments.invariants import violations
from bookings.payments.ledger import PROMOTIONS, REVENUE, booking_account, cash, worker_account
from bookings.payments.providers.base import Notice, NoticeKind, NoticeStatus
from bookings.storage import ledger as ledger_store
from hub.errors import Conflict
from hub.keys import CONTEXT
from tests.support.bookings import CENTRE, booking_request, open_peer, start
from tests.support.clients import Peer
from tests.support.hubs import RunningHub, StartHub, cli


async def new_booking(hub: RunningHub, customer: str = "c-1", **overrides: Any) -> dict[str, Any]:
    status, booking = await hub.http(
        "POST", "/api/v1/bookings", hub.token("customer", customer), json=booking_request(**overrides)
    )
    assert status == 201, booking
    return dict(booking)


async def open_payment(pool: asyncpg.Pool, booking_id: str, method: str = "wechat") -> asyncpg.Record:
    """A payment attempt as ``POST .../payments`` stores it before asking the provider."""
    async with pool.acquire() as conn, conn.transaction():
        booking = await orders.require(conn, uuid.UUID(booking_id))
        return await paying.start(conn, booking, booking.customer_id, method, "app")


def paid(row: asyncpg.Record, **changes: Any) -> Notice:
    values: dict[str, Any] = {
        "kind": NoticeKind.PAYMENT,
        "status": NoticeStatus.SUCCEEDED,
        "out_trade_no": row["out_trade_no"],
        "provider_ref": "4200001234",
        "amount_cents": row["amount_cents"],
        "currency": "CNY",
        "merchant": "1900000109",
        **changes,
    }
    return Notice(**values)


async def apply(pool: asyncpg.Pool, method: str, notice: Notice) -> paying.Applied:
    async with pool.acquire() as conn, conn.transaction():
        return await paying.apply(conn, method, notice)


async def status_of(hub: RunningHub, booking_id: str) -> str:
    _, body = await hub.http("GET", f"/api/v1/bookings/{booking_id}", hub.token("admin", "admin-1"))
    return str(body["status"])


async def test_a_notice_pays_the_booking_once_whatever_the_duplicates(start_hub: StartHub) -> None:
    hub = await start(start_hub, workers=1)
    pool = hub.app[CONTEXT].pool
    booking = await new_booking(hub)
    row = await open_payment(pool, booking["id"])

    results = await asyncio.gather(*(apply(pool, "wechat", paid(row)) for _ in range(20)))
    outcomes = sorted(r.outcome.value for r in results)
    assert outcomes == ["applied"] + ["duplicate"] * 19
    assert [r.paid is not None for r in results].count(True) == 1
    assert await status_of(hub, booking["id"]) == "dispatching"
    assert await money.held(pool, uuid.UUID(booking["id"])) == booking["total_cents"]
    assert await ledger_store.balance(pool, cash("wechat")) == booking["total_cents"]
    again = await apply(pool, "wechat", paid(row))  # replayed a day later
    assert again.outcome == paying.Outcome.DUPLICATE
    assert await violations(pool) == []


async def test_notices_that_do_not_match_the_payment_change_nothing(start_hub: StartHub) -> None:
    hub = await start(start_hub, workers=1)
    pool = hub.app[CONTEXT].pool
    booking = await new_booking(hub)
    row = await open_payment(pool, booking["id"])
    wrong = {
        "wrong_amount": (paid(row, amount_cents=row["amount_cents"] - 1), "wechat"),
        "wrong_currency": (paid(row, currency="USD"), "wechat"),
        "wrong_method": (paid(row), "alipay"),
        "unknown_order": (paid(row, out_trade_no="PNOSUCHORDER000000000000000"), "wechat"),
    }
    for reason, (notice, method) in wrong.items():
        applied = await apply(pool, method, notice)
        assert (applied.outcome, applied.reason) == (paying.Outcome.REFUSED, reason)
    assert await status_of(hub, booking["id"]) == "pending_payment"
    balances = await ledger_store.balances(pool, "")
    assert {k: v for k, v in balances.items() if v} == {}
    # A failed attempt is final too: its success later is a duplicate, not money.
    failed = await apply(pool, "wechat", paid(row, status=NoticeStatus.FAILED))
    assert failed.outcome == paying.Outcome.APPLIED
    late = await apply(pool, "wechat", paid(row))
    assert late.outcome == paying.Outcome.DUPLICATE
    assert await status_of(hub, booking["id"]) == "pending_payment"


async def test_money_for_a_booking_that_expired_is_held_to_be_given_back(start_hub: StartHub) -> None:
    hub = await start(start_hub, workers=1)
    pool = hub.app[CONTEXT].pool
    booking = await new_booking(hub)
    row = await open_payment(pool, booking["id"])
    await pool.execute("UPDATE bookings SET status = 'expired' WHERE id = $1", uuid.UUID(booking["id"]))

    applied = await apply(pool, "wechat", paid(row))
    assert applied.outcome == paying.Outcome.APPLIED
    assert applied.unpayable == "illegal_transition"
    assert await status_of(hub, booking["id"]) == "expired"
    assert await money.held(pool, uuid.UUID(booking["id"])) == booking["total_cents"]
    assert await violations(pool) == []


async def test_a_booking_paid_by_hand_and_done_is_earned_and_balances(
    start_hub: StartHub, peers: list[Peer]
) -> None:
    hub = await start(start_hub, workers=1)
    pool = hub.app[CONTEXT].pool
    worker = await open_peer(hub, peers, "/worker", "worker", "w-1")
    booking = await new_booking(hub)
    admin = hub.token("admin", "admin-1")
    path = f"/api/v1/admin/bookings/{booking['id']}/mark-paid"
    for _ in range(2):  # an admin's retry: one payment, one ledger transaction
        status, body = await hub.http("POST", path, admin, json={"payment_ref": "bank-123"})
        assert status == 200, body
    status, payments = await hub.http(
        "GET", f"/api/v1/bookings/{booking['id']}/payments", hub.token("customer", "c-1")
    )
    assert status == 200, payments
    assert [(p["method"], p["status"], p["amount_cents"]) for p in payments["items"]] == [
        ("manual", "succeeded", booking["total_cents"])
    ]

    offer = await worker.next("offer")
    await worker.ok("offer:accept", {"offer_id": offer["offer_id"]})
    here = {"booking_id": booking["id"], "lat": CENTRE[0], "lng": CENTRE[1]}
    for event, data in (
        ("job:depart", {**here, "eta_minutes": 5}),
        ("job:arrive", here),
        ("job:start", {"booking_id": booking["id"]}),
        ("job:finish", {"booking_id": booking["id"]}),
        ("job:finish", {"booking_id": booking["id"]}),  # resent: earned once
    ):
        await worker.ok(event, data)

    total, discount = booking["total_cents"], booking["price"]["discounts_cents"]
    status, income = await hub.http("GET", "/api/v1/workers/me/income", hub.token("worker", "w-1"))
    assert status == 200, income
    [earned] = income["items"]
    pay = earned["earned_cents"]  # the price before discounts less the default 20 % commission
    assert earned["gross_cents"] == total + discount
    assert pay == (total + discount) * 80 // 100 + ((total + discount) * 80 % 100 >= 50)
    balances = await ledger_store.balances(pool, "")
    assert {k: v for k, v in balances.items() if v} == {
        k: v
        for k, v in {
            cash("manual"): total,
            worker_account("w-1"): -pay,
            REVENUE: pay - total - discount,
            PROMOTIONS: discount,
        }.items()
        if v
    }
    assert await ledger_store.balance(pool, booking_account(uuid.UUID(booking["id"]))) == 0
    checked = cli("ledger-check", env=hub_env_of(hub))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "ledger: ok" in checked.stdout


async def test_refunds_and_payouts_never_exceed_what_came_in(start_hub: StartHub) -> None:
    hub = await start(start_hub, workers=1)
    pool = hub.app[CONTEXT].pool
    booking = await new_booking(hub)
    booking_id = uuid.UUID(booking["id"])
    status, _ = await hub.http(
        "POST",
        f"/api/v1/admin/bookings/{booking['id']}/mark-paid",
        hub.token("admin", "admin-1"),
        json={"payment_ref": "bank-9"},
    )
    assert status == 200
    total = booking["total_cents"]

    async def refund(amount: int) -> str:
        status, body = await hub.http(
            "POST",
            f"/api/v1/admin/bookings/{booking['id']}/refunds",
            hub.token("support", "s-1"),
            json={"amount_cents": amount, "reason": "goodwill"},
        )
        return str(body["status"]) if status == 201 else str(body["error"]["code"])

    # Ten concurrent refunds of a third each: three fit, and (paid by hand) are given back at once.
    done = await asyncio.gather(*(refund(total // 3) for _ in range(10)))
    assert done.count("requested") == 3
    # The others are refused: as too much while a third is still left, or as nothing to refund once
    # the three took all of it (a price divisible by three), whichever they met.
    assert set(done) - {"requested"} <= {"refund_exceeds_paid", "nothing_to_refund"}
    _, refunds = await hub.http(
        "GET", f"/api/v1/bookings/{booking['id']}/refunds", hub.token("customer", "c-1")
    )
    assert [r["status"] for r in refunds["items"]] == ["succeeded"] * 3
    assert await money.held(pool, booking_id) == total - 3 * (total // 3)
    assert await ledger_store.balance(pool, cash("manual")) == total - 3 * (total // 3)

    async def payout(n: int) -> str:
        try:
            async with pool.acquire() as conn, conn.transaction():
                await money.pay_out(conn, "w-1", "manual", 100, f"p-{n}")
        except Conflict as exc:
            return exc.code
        return "paid"

    paid_out = await asyncio.gather(*(payout(n) for n in range(5)))
    assert paid_out == ["payout_exceeds_balance"] * 5  # nothing earned yet
    assert await violations(pool) == []


def hub_env_of(hub: RunningHub) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "HUB_DATABASE_URL": hub.settings.database_url or ""}
