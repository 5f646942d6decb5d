"""Worker income and settlement against a running hub: the commission fixed at completion, income
per local day, week and month, settlement statements made once per worker and period (by the CLI,
by concurrent runs, by the timer), and payouts from request to paid, rejected or failed, the
balance set aside so that two requests cannot both spend it. The ledger is checked throughout."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bookings import orders
from bookings.keys import BOOKINGS
from bookings.payments import ledger, money
from bookings.payments.invariants import violations
from bookings.settlement import periods
from bookings.storage import bookings as booking_store
from bookings.storage import ledger as ledger_store
from hub.keys import CONTEXT
from tests.bookings.test_payments import hub_env_of
from tests.support.bookings import CENTRE, SERVICE, booking_request, open_peer, start
from tests.support.clients import Peer
from tests.support.hubs import RunningHub, StartHub, cli
from tests.support.waiting import wait_until

ADMIN = ("admin", "admin-1")
CARD = {
    "period": "weekly",
    "method": "bank_card",
    "account_name": "王小芳",
    "account_no": "6222020200112233445",
    "bank_name": "ICBC",
}


def pool_of(hub: RunningHub) -> asyncpg.Pool:
    return hub.app[CONTEXT].pool


async def completed(
    pool: asyncpg.Pool, worker_id: str, finished_at: datetime, gross: int = 30_000, rate: int = 20
) -> uuid.UUID:
    """A booking paid by hand and completed by ``worker_id`` at ``finished_at``, earned at ``rate``
    through the same movement as ``job:finish``."""
    booking_id = uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        await booking_store.insert(
            conn,
            booking_id,
            customer_id="c-1",
            service_id=SERVICE,
            chosen_worker_id=None,
            slot_start=finished_at - timedelta(hours=3),
            slot_end=finished_at,
            duration_minutes=180,
            address={"label": "", "line": "1 Rd", "city": "", "lat": CENTRE[0], "lng": CENTRE[1]},
            lat=CENTRE[0],
            lng=CENTRE[1],
            special_requests="",
            price={"base_cents": gross, "surcharges_cents": 0, "discounts_cents": 0},
            total_cents=gross,
            worker_pay_cents=0,
            payment_seconds=600,
        )
        posting = ledger.payment(booking_id, "c-1", "manual", gross, f"by-hand-{booking_id}")
        await ledger_store.post(conn, **posting.row())
        await conn.execute(
            "UPDATE bookings SET status = 'completed', worker_id = $2, finished_at = $3 WHERE id = $1",
            booking_id,
            worker_id,
            finished_at,
        )
        await money.complete(conn, await orders.require(conn, booking_id), rate)
    return booking_id


async def ledger_checked(hub: RunningHub) -> None:
    assert await violations(pool_of(hub)) == []
    checked = cli("ledger-check", env=hub_env_of(hub))
    assert checked.returncode == 0, checked.stdout + checked.stderr


async def as_worker(
    hub: RunningHub, method: str, path: str, worker: str = "w-1", **kw: Any
) -> tuple[int, Any]:
    return await hub.http(method, path, hub.token("worker", worker), **kw)


async def as_admin(hub: RunningHub, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    return await hub.http(method, path, hub.token(*ADMIN), **kw)


# Commission ----------------------------------------------------------------------------------------


async def do_the_job(hub: RunningHub, worker: Peer, start_time: str) -> dict[str, Any]:
    customer, admin = hub.token("customer", "c-1"), hub.token(*ADMIN)
    status, booking = await hub.http(
        "POST", "/api/v1/bookings", customer, json=booking_request(start_time=start_time)
    )
    assert status == 201, booking
    path = f"/api/v1/admin/bookings/{booking['id']}/mark-paid"
    status, _ = await hub.http("POST", path, admin, json={"payment_ref": f"bank-{booking['id']}"})
    assert status == 200
    offer = await worker.next("offer")
    await worker.ok("offer:accept", {"offer_id": offer["offer_id"]})
    here = {"booking_id": booking["id"], "lat": CENTRE[0], "lng": CENTRE[1]}
    await worker.ok("job:depart", {**here, "eta_minutes": 5})
    await worker.ok("job:arrive", here)
    await worker.ok("job:start", {"booking_id": booking["id"]})
    await worker.ok("job:finish", {"booking_id": booking["id"]})
    return dict(booking)


async def test_the_commission_is_fixed_on_each_booking_when_it_completes(
    start_hub: StartHub, peers: list[Peer]
) -> None:
    hub = await start(start_hub, workers=1, HUB_COMMISSION_PCT="30")
    worker = await open_peer(hub, peers, "/worker", "worker", "w-1")
    assert await as_admin(hub, "GET", "/api/v1/admin/settings/commission") == (200, {"rate_pct": 30})
    for bad in ({"rate_pct": 101}, {"rate_pct": -1}, {"rate_pct": "20"}, {}, {"rate_pct": 20, "x": 1}):
        status, body = await as_admin(hub, "PUT", "/api/v1/admin/settings/commission", json=bad)
        assert status == 422, (bad, body)
    status, _ = await hub.http(
        "PUT", "/api/v1/admin/settings/commission", hub.token("support", "s-1"), json={"rate_pct": 5}
    )
    assert status == 403
    assert await as_admin(hub, "PUT", "/api/v1/admin/settings/commission", json={"rate_pct": 25}) == (
        200,
        {"rate_pct": 25},
    )

    first = await do_the_job(hub, worker, "10:00")
    status, body = await as_admin(hub, "PUT", "/api/v1/admin/settings/commission", json={"rate_pct": 40})
    assert status == 200, body
    second = await do_the_job(hub, worker, "15:00")

    status, income = await as_worker(hub, "GET", "/api/v1/workers/me/income")
    assert status == 200, income
    by_booking = {item["booking_id"]: item for item in income["items"]}
    for booking, rate in ((first, 25), (second, 40)):
        item = by_booking[booking["id"]]
        gross = booking["price"]["base_cents"] + booking["price"]["surcharges_cents"]
        pay = (gross * (100 - rate) * 2 + 100) // 200  # half up
        assert (item["commission_pct"], item["gross_cents"], item["earned_cents"]) == (rate, gross, pay)
        assert item["commission_cents"] == gross - pay
        assert item["settled"] is False
    assert income["totals"]["bookings"] == 2
    assert income["totals"]["earned_cents"] == sum(i["earned_cents"] for i in income["items"])
    # What the worker is owed is what the ledger says, and it is the sum of the two fixed pays.
    owed = await money.owed(pool_of(hub), "w-1")
    assert owed == income["totals"]["earned_cents"]
    await ledger_checked(hub)


# Income --------------------------------------------------------------------------------------------


async def test_income_totals_are_per_local_day_week_and_month(start_hub: StartHub) -> None:
    hub = await start(start_hub, workers=2)
    pool = pool_of(hub)
    # Shanghai is UTC+8: 15:30 UTC on Sunday 30 November 2025 is 23:30 that Sunday there, but
    # 16:30 UTC that same UTC day is 00:30 on Monday 1 December there: another local day, ISO week
    # and month.
    await completed(pool, "w-1", datetime(2025, 11, 30, 15, 30, tzinfo=UTC), gross=10_000)
    await completed(pool, "w-1", datetime(2025, 11, 30, 16, 30, tzinfo=UTC), gross=20_000)
    await completed(pool, "w-1", datetime(2025, 12, 1, 3, 0, tzinfo=UTC), gross=40_000)
    await completed(pool, "w-2", datetime(2025, 11, 30, 16, 30, tzinfo=UTC), gross=99_900)  # another's

    def pays(*grosses: int) -> int:
        return sum(g * 80 // 100 for g in grosses)

    async def summary(period: str, first: str, last: str) -> list[tuple[str, int, int]]:
        status, body = await as_worker(
            hub, "GET", f"/api/v1/workers/me/income/summary?period={period}&from={first}&to={last}"
        )
        assert status == 200, body
        assert body["timezone"] == "Asia/Shanghai"
        return [(b["period"], b["bookings"], b["earned_cents"]) for b in body["buckets"]]

    assert await summary("day", "2025-11-30", "2025-12-01") == [
        ("2025-11-30", 1, pays(10_000)),
        ("2025-12-01", 2, pays(20_000, 40_000)),
    ]
    assert await summary("week", "2025-11-25", "2025-12-01") == [
        ("2025-W48", 1, pays(10_000)),
        ("2025-W49", 2, pays(20_000, 40_000)),
    ]
    assert await summary("month", "2025-11-15", "2025-12-15") == [
        ("2025-11", 1, pays(10_000)),
        ("2025-12", 2, pays(20_000, 40_000)),
    ]
    assert await summary("day", "2025-11-27", "2025-11-28") == [("2025-11-27", 0, 0), ("2025-11-28", 0, 0)]

    status, body = await as_worker(hub, "GET", "/api/v1/workers/me/income?from=2025-11-30&to=2025-11-30")
    assert status == 200, body
    assert [(i["completed_on"], i["gross_cents"]) for i in body["items"]] == [("2025-11-30", 10_000)]
    status, body = await as_worker(
        hub, "GET", "/api/v1/workers/me/income?from=2025-11-01&to=2025-12-31&limit=1"
    )
    assert [i["gross_cents"] for i in body["items"]] == [40_000]  # newest first, one page
    assert body["totals"] == {
        "bookings": 3,
        "gross_cents": 70_000,
        "commission_cents": 70_000 - pays(10_000, 20_000, 40_000),
        "earned_cents": pays(10_000, 20_000, 40_000),
    }
    for bad in ("from=2025-12-02&to=2025-12-01", "from=2020-01-01&to=2025-01-01", "period=year", "from=x"):
        status, body = await as_worker(hub, "GET", f"/api/v1/workers/me/income/summary?{bad}")
        assert status == 422, (bad, body)

    status, balance = await as_worker(hub, "GET", "/api/v1/workers/me/balance")
    assert status == 200, balance
    assert balance == {
        "owed_cents": pays(10_000, 20_000, 40_000),
        "in_flight_cents": 0,
        "available_cents": pays(10_000, 20_000, 40_000),
        "pending_settlement_cents": pays(10_000, 20_000, 40_000),
    }
    await ledger_checked(hub)


# Settlement ------------------------------------------------------------------------------------------


async def test_a_period_is_settled_once_however_often_and_concurrently_it_is_run(start_hub: StartHub) -> None:
    hub = await start(start_hub, workers=3)
    pool = pool_of(hub)
    assert (await as_worker(hub, "PUT", "/api/v1/workers/me/payout-settings", json=CARD))[0] == 200
    monthly = {**CARD, "period": "monthly"}
    assert (await as_worker(hub, "PUT", "/api/v1/workers/me/payout-settings", "w-3", json=monthly))[0] == 200
    # w-1 (weekly, with an account): two jobs in 2025-W48 and one the week after; w-2 (weekly by
    # default, no account): one job in 2025-W48; w-3 (monthly): one job in 2025-W48.
    in_w48 = datetime(2025, 11, 26, 4, 0, tzinfo=UTC)
    await completed(pool, "w-1", in_w48, gross=10_000)
    await completed(pool, "w-1", in_w48 + timedelta(days=1), gross=20_000)
    later = await completed(pool, "w-1", datetime(2025, 12, 3, 4, 0, tzinfo=UTC), gross=50_000)
    await completed(pool, "w-2", in_w48, gross=30_000)
    await completed(pool, "w-3", in_w48, gross=30_000)
    env = hub_env_of(hub)

    first = cli("settle", "--period", "2025-W48", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "2 statements made, 1 payouts asked for" in first.stdout
    again = cli("settle", "--period", "2025-W48", env=env)
    assert again.returncode == 0, again.stderr
    assert "0 statements made, 0 payouts asked for" in again.stdout
    settlement = hub.app[BOOKINGS].settlement
    runs = await asyncio.gather(*(settlement.settle(periods.parse("2025-W48")) for _ in range(5)))
    assert [run.statements for run in runs] == [0] * 5

    status, body = await as_worker(hub, "GET", "/api/v1/workers/me/statements")
    assert status == 200, body
    [statement] = body["items"]
    net = 10_000 * 80 // 100 + 20_000 * 80 // 100
    assert (statement["period"], statement["starts_on"], statement["ends_on"]) == (
        "2025-W48",
        "2025-11-24",
        "2025-11-30",
    )
    assert (statement["bookings"], statement["gross_cents"], statement["net_cents"]) == (2, 30_000, net)
    assert statement["commission_cents"] == 30_000 - net
    # The statement asked for a payout of its net, once: one reservation in the ledger.
    status, mine = await as_worker(hub, "GET", "/api/v1/workers/me/payouts")
    [payout] = mine["items"]
    assert (payout["id"], payout["amount_cents"], payout["status"]) == (
        statement["payout_id"],
        net,
        "requested",
    )
    assert payout["account"]["account_no"].endswith("3445")
    assert "6222" not in payout["account"]["account_no"]
    reservations = await pool.fetchval(
        "SELECT count(*) FROM ledger_transactions WHERE kind = 'payout_requested' AND worker_id = 'w-1'"
    )
    assert reservations == 1
    status, balance = await as_worker(hub, "GET", "/api/v1/workers/me/balance")
    assert balance["in_flight_cents"] == net
    assert balance["pending_settlement_cents"] == 50_000 * 80 // 100  # the job of the next week
    status, income = await as_worker(hub, "GET", "/api/v1/workers/me/income?from=2025-11-20&to=2025-12-05")
    assert {i["booking_id"]: i["settled"] for i in income["items"]}[str(later)] is False
    assert sum(i["settled"] for i in income["items"]) == 2

    # w-2 has a statement but no account: no payout, and is told so. w-3 is settled by month.
    status, body = await as_worker(hub, "GET", "/api/v1/workers/me/statements", "w-2")
    assert [(s["period"], s["payout_id"]) for s in body["items"]] == [("2025-W48", None)]
    status, notes = await as_worker(hub, "GET", "/api/v1/notifications", "w-2")
    [ready] = [n for n in notes["items"] if n["kind"] == "settlement"]
    assert "Set a payout account" in ready["body"]
    status, body = await as_worker(hub, "GET", "/api/v1/workers/me/statements", "w-3")
    assert body["items"] == []
    monthly_run = cli("settle", "--period", "2025-11", env=env)
    assert "1 statements made" in monthly_run.stdout, monthly_run.stdout + monthly_run.stderr
    status, notes = await as_worker(hub, "GET", "/api/v1/notifications")
    assert [n["title"] for n in notes["items"] if n["kind"] == "settlement"] == ["Statement ready"]

    for bad in ("2025-W60", "2025-13", "last-week", "1999-01"):
        refused = cli("settle", "--period", bad, env=env)
        assert refused.returncode == 2, (bad, refused.stdout, refused.stderr)
    this_week = periods.week_of(settlement.today()).key
    refused = cli("settle", "--period", this_week, env=env)
    assert (refused.returncode, "has not ended" in refused.stderr) == (2, True), refused.stderr
    await ledger_checked(hub)


async def test_the_timer_settles_the_week_that_ended(start_hub: StartHub) -> None:
    hub = await start(start_hub, workers=1, HUB_SETTLEMENT_CHECK_SECONDS="0.2")
    pool = pool_of(hub)
    last_week = periods.last_ended("weekly", hub.app[BOOKINGS].settlement.today())
    await completed(pool, "w-1", last_week.start("Asia/Shanghai") + timedelta(days=2), gross=10_000)

    async def statements() -> list[dict[str, Any]]:
        status, body = await as_worker(hub, "GET", "/api/v1/workers/me/statements")
        assert status == 200, body
        return list(body["items"])

    [statement] = await wait_until(statements)
    assert (statement["period"], statement["net_cents"]) == (last_week.key, 8_000)
    await ledger_checked(hub)


# Payouts ---------------------------------------------------------------------------------------------


async def test_payouts_are_set_aside_when_asked_and_paid_rejected_or_failed_once(start_hub: StartHub) -> None:
    hub = await start(start_hub, workers=1)
    pool = pool_of(hub)
    await completed(pool, "w-1", datetime(2025, 11, 26, 4, 0, tzinfo=UTC), gross=12_500)  # earns 10 000
    ask = "/api/v1/workers/me/payouts"

    async def request(amount: int, key: str | None = None) -> tuple[int, Any]:
        headers = {"Idempotency-Key": key} if key else {}
        return await as_worker(hub, "POST", ask, json={"amount_cents": amount}, headers=headers)

    async def available() -> int:
        status, balance = await as_worker(hub, "GET", "/api/v1/workers/me/balance")
        assert status == 200, balance
        assert balance["owed_cents"] == balance["available_cents"] + balance["in_flight_cents"]
        return int(balance["available_cents"])

    status, body = await request(1_000)
    assert (status, body["error"]["code"]) == (409, "payout_account_missing")
    status, settings = await as_worker(hub, "GET", "/api/v1/workers/me/payout-settings")
    assert (status, settings["account"], settings["period"]) == (200, None, "weekly")
    status, settings = await as_worker(hub, "PUT", "/api/v1/workers/me/payout-settings", json=CARD)
    assert status == 200, settings
    assert settings["account"] == {
        "method": "bank_card",
        "account_name": "王**",
        "account_no": "***************3445",
        "bank_name": "ICBC",
    }

    status, body = await request(10_001)
    assert (status, body["error"]["code"]) == (409, "payout_exceeds_balance")
    assert body["error"]["details"] == {"requested_cents": 10_001, "available_cents": 10_000}

    # Two requests racing for one balance: one is set aside, the other refused.
    results = await asyncio.gather(request(6_000), request(6_000))
    assert sorted(status for status, _ in results) == [201, 409]
    [payout] = [body for status, body in results if status == 201]
    assert payout["status"] == "requested"
    assert [s["status"] for s in payout["steps"]] == ["requested"]
    assert await available() == 4_000
    # The same Idempotency-Key answers the first payout again and sets nothing more aside.
    first = await request(1_000, key="k-1")
    replay = await request(1_000, key="k-1")
    assert first[0] == replay[0] == 201
    assert first[1]["id"] == replay[1]["id"]
    assert await available() == 3_000

    status, queue = await as_admin(hub, "GET", "/api/v1/admin/payouts?status=requested")
    assert status == 200, queue
    assert {p["id"] for p in queue["items"]} == {payout["id"], first[1]["id"]}

    # Approved: nobody transfers it (no provider), so finance pays by hand and records it.
    cash_before = await ledger_store.balance(pool, ledger.cash("manual"))
    decide = f"/api/v1/admin/payouts/{payout['id']}"
    status, body = await as_admin(hub, "POST", f"{decide}/paid", json={"transfer_ref": "ICBC-1"})
    assert (status, body["error"]["code"]) == (409, "illegal_transition")
    status, approved = await as_admin(hub, "POST", f"{decide}/approve")
    assert (status, approved["status"]) == (200, "approved"), approved
    status, done = await as_admin(hub, "POST", f"{decide}/paid", json={"transfer_ref": "ICBC-1"})
    assert (status, done["status"], done["transfer_ref"]) == (200, "paid", "ICBC-1"), done
    assert [s["status"] for s in done["steps"]] == ["requested", "approved", "paid"]
    for again in ("approve", "reject", "fail"):
        status, body = await as_admin(hub, "POST", f"{decide}/{again}", json={"reason": "late"})
        assert (status, body["error"]["code"]) == (409, "illegal_transition"), again
    assert await ledger_store.balance(pool, ledger.cash("manual")) == cash_before - 6_000
    assert await money.owed(pool, "w-1") + 1_000 == 4_000  # 10 000 earned, 6 000 paid, 1 000 in flight

    # Rejected: the amount is back in the balance.
    status, rejected = await as_admin(
        hub, "POST", f"/api/v1/admin/payouts/{first[1]['id']}/reject", json={"reason": "wrong account"}
    )
    assert (status, rejected["status"], rejected["reason"]) == (200, "rejected", "wrong account")
    assert await available() == 4_000
    # Approved, then its transfer failed: back in the balance too.
    status, third = await request(4_000)
    assert status == 201
    assert await available() == 0
    await as_admin(hub, "POST", f"/api/v1/admin/payouts/{third['id']}/approve")
    status, failed = await as_admin(
        hub, "POST", f"/api/v1/admin/payouts/{third['id']}/fail", json={"reason": "card closed"}
    )
    assert (status, failed["status"]) == (200, "failed")
    assert await available() == 4_000
    status, body = await as_admin(hub, "POST", f"/api/v1/admin/payouts/{uuid.uuid4()}/approve")
    assert (status, body["error"]["code"]) == (404, "payout_not_found")

    status, notes = await as_worker(hub, "GET", "/api/v1/notifications")
    titles = [n["title"] for n in reversed(notes["items"]) if n["kind"] == "payout"]
    assert titles.count("Payout requested") == 3
    assert {"Payout approved", "Payout sent", "Payout rejected", "Payout failed"} <= set(titles)
    await ledger_checked(hub)


async def test_payout_settings_are_checked_masked_and_editable_by_an_admin(start_hub: StartHub) -> None:
    hub = await start(start_hub, workers=1)
    path = "/api/v1/workers/me/payout-settings"
    for bad in (
        {**CARD, "account_no": "1234"},
        {**CARD, "bank_name": None},
        {**CARD, "method": "alipay"},  # a card number is no Alipay account
        {**CARD, "period": "daily"},
        {**CARD, "account_name": " "},
        {"period": "weekly"},
    ):
        status, body = await as_worker(hub, "PUT", path, json=bad)
        assert status == 422, (bad, body)
    alipay = {
        "period": "monthly",
        "method": "alipay",
        "account_name": "Li Na",
        "account_no": "lina@example.com",
    }
    status, body = await as_worker(hub, "PUT", path, json=alipay)
    assert status == 200, body
    assert body["account"]["account_no"] == "l***@example.com"
    assert body["account"]["bank_name"] is None
    wechat = {
        "period": "weekly",
        "method": "wechat",
        "account_name": "Li Na",
        "account_no": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
    }
    status, body = await as_admin(hub, "PUT", "/api/v1/admin/workers/w-1/payout-settings", json=wechat)
    assert status == 200, body
    assert (body["account"]["method"], body["updated_by"]) == ("wechat", "admin:admin-1")
    assert body["account"]["account_no"].endswith("S6o")
    assert "oUpF" not in body["account"]["account_no"]
    status, mine = await as_worker(hub, "GET", path)
    assert mine == body
    status, body = await as_worker(hub, "PUT", path, "nobody", json=alipay)
    assert (status, body["error"]["code"]) == (404, "worker_not_found")
    status, body = await as_admin(hub, "GET", "/api/v1/admin/workers/nobody/payout-settings")
    assert (status, body["error"]["code"]) == (404, "worker_not_found")
