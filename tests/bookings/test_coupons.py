"""Coupons and price rules over HTTP against a running hub: admins write coupons and price rules,
customers claim coupons (limits hold, also when 20 customers race for 5), quotes apply the best
one or the one named (or none), a booking redeems it atomically (two bookings racing for one
coupon: one wins) and gives it back when cancelled or expired before service, and a completed
booking with a coupon leaves a balanced ledger."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bookings.payments.invariants import violations
from bookings.payments.ledger import PROMOTIONS, REVENUE, booking_account, cash, worker_account
from bookings.storage import ledger as ledger_store
from hub.keys import CONTEXT
from tests.bookings.test_payments import hub_env_of
from tests.support.bookings import CENTRE, add_service, booking_request, open_peer, start
from tests.support.clients import Peer
from tests.support.hubs import RunningHub, StartHub, cli
from tests.support.waiting import wait_until

BASE = 15_000  # test-cleaning: 50.00 an hour, 180 minutes


def iso(at: datetime) -> str:
    return at.isoformat()


def coupon_body(code: str, **overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "code": code,
        "name_en": f"Coupon {code}",
        "name_zh": f"优惠券 {code}",
        "kind": "fixed",
        "amount_cents": 2000,
        "valid_from": iso(now - timedelta(days=1)),
        "valid_until": iso(now + timedelta(days=30)),
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


async def new_coupon(hub: RunningHub, code: str, **overrides: Any) -> dict[str, Any]:
    status, body = await hub.http(
        "POST", "/api/v1/admin/coupons", hub.token("admin", "admin-1"), json=coupon_body(code, **overrides)
    )
    assert status == 201, body
    return dict(body)


async def claim(hub: RunningHub, customer: str, coupon_id: str) -> tuple[int, Any]:
    return await hub.http("POST", f"/api/v1/coupons/{coupon_id}/claim", hub.token("customer", customer))


async def claimed(hub: RunningHub, customer: str, coupon_id: str) -> str:
    status, body = await claim(hub, customer, coupon_id)
    assert status == 201, body
    return str(body["id"])


async def wallet(hub: RunningHub, customer: str, state: str | None = None) -> list[dict[str, Any]]:
    path = "/api/v1/customers/me/coupons" + (f"?state={state}" if state else "")
    status, body = await hub.http("GET", path, hub.token("customer", customer))
    assert status == 200, body
    return list(body["items"])


async def quote(hub: RunningHub, customer: str = "c-1", **overrides: Any) -> tuple[int, Any]:
    return await hub.http(
        "POST", "/api/v1/bookings/quote", hub.token("customer", customer), json=booking_request(**overrides)
    )


async def plain_prices(hub: RunningHub) -> None:
    """No weekend or short-notice surcharge, whatever the day and hour the test runs at."""
    status, body = await hub.http(
        "PUT",
        "/api/v1/admin/settings/pricing",
        hub.token("admin", "admin-1"),
        json={"weekend_surcharge_pct": 0, "short_notice_surcharge_pct": 0},
    )
    assert status == 200, body


def lines(quoted: dict[str, Any]) -> dict[str, int]:
    return {line["code"]: line["amount_cents"] for line in quoted["discounts"]}


async def start_plain(start_hub: StartHub, workers: int = 1, **env: str) -> RunningHub:
    hub = await start(start_hub, workers=workers, **env)
    await plain_prices(hub)
    return hub


# Price rules ------------------------------------------------------------------------------------


async def test_price_rules_are_admin_settings_that_price_new_quotes_only(start_hub: StartHub) -> None:
    hub = await start(start_hub, workers=1)
    admin, support = hub.token("admin", "admin-1"), hub.token("support", "s-1")
    status, rules = await hub.http("GET", "/api/v1/admin/settings/pricing", support)
    assert status == 200, rules
    assert rules == {
        "weekend_surcharge_pct": 10,
        "short_notice_hours": 24,
        "short_notice_surcharge_pct": 15,
        "chosen_worker_fee_cents": 1000,
        "long_job_minutes": 360,
        "long_job_discount_pct": 5,
        "first_booking_discount_pct": 10,
        "first_booking_discount_cap_cents": 3000,
        "coupon_stacks_with_first_booking": False,
    }
    await plain_prices(hub)
    long_job = {"duration_minutes": 360}
    status, booking = await hub.http(
        "POST", "/api/v1/bookings", hub.token("customer", "c-1"), json=booking_request(**long_job)
    )
    assert status == 201, booking
    assert lines(booking["price"])["long_job"] == -1500  # 5 % of 300.00

    status, changed = await hub.http(
        "PUT", "/api/v1/admin/settings/pricing", admin, json={"long_job_discount_pct": 20}
    )
    assert status == 200, changed
    assert changed["long_job_discount_pct"] == 20
    assert changed["weekend_surcharge_pct"] == 0  # what the change did not name is kept
    status, quoted = await quote(hub, **long_job)
    assert status == 200, quoted
    assert lines(quoted)["long_job"] == -6000
    _, kept = await hub.http("GET", f"/api/v1/bookings/{booking['id']}", admin)
    assert kept["price"] == booking["price"]
    assert kept["total_cents"] == booking["total_cents"]

    for bad in (
        {"long_job_discount_pct": 101},
        {"long_job_discount_pct": None},
        {"long_job_discount_pct": "5"},
        {"chosen_worker_fee_cents": -1},
        {"surprise": 1},
    ):
        status, body = await hub.http("PUT", "/api/v1/admin/settings/pricing", admin, json=bad)
        assert status == 422, (bad, body)
        assert body["error"]["details"], body
    status, body = await hub.http("PUT", "/api/v1/admin/settings/pricing", support, json={})
    assert (status, body["error"]["code"]) == (403, "role_forbidden")
    _, after = await hub.http("GET", "/api/v1/admin/settings/pricing", admin)
    assert after == changed


# Claiming ---------------------------------------------------------------------------------------


async def test_claims_respect_the_limits_the_window_and_the_flags(start_hub: StartHub) -> None:
    hub = await start_plain(start_hub)
    coupon = await new_coupon(hub, "SPRING10", per_customer_limit=2, total_limit=3)
    assert (coupon["code"], coupon["claimed"]) == ("SPRING10", 0)
    await claimed(hub, "c-1", coupon["id"])
    status, by_code = await hub.http(
        "POST", "/api/v1/coupons/claim", hub.token("customer", "c-1"), json={"code": "spring10"}
    )
    assert status == 201, by_code
    assert by_code["state"] == "available"
    status, body = await claim(hub, "c-1", coupon["id"])
    assert (status, body["error"]["code"]) == (409, "coupon_limit_reached")
    await claimed(hub, "c-2", coupon["id"])
    status, body = await claim(hub, "c-3", coupon["id"])
    assert (status, body["error"]["code"]) == (409, "coupon_exhausted")
    assert [c["code"] for c in await wallet(hub, "c-1")] == ["SPRING10", "SPRING10"]
    assert await wallet(hub, "c-3") == []
    _, shown = await hub.http("GET", f"/api/v1/admin/coupons/{coupon['id']}", hub.token("admin", "a-1"))
    assert shown["claimed"] == 3

    now = datetime.now(UTC)
    hidden = await new_coupon(hub, "CAMPAIGNONLY", claimable=False)
    inactive = await new_coupon(hub, "ASLEEP", active=False)
    lapsed = await new_coupon(
        hub, "LASTYEAR", valid_from=iso(now - timedelta(days=9)), valid_until=iso(now - timedelta(days=1))
    )
    for coupon_id, expected in (
        (hidden["id"], (404, "coupon_not_found")),
        (inactive["id"], (409, "coupon_inactive")),
        (lapsed["id"], (409, "coupon_expired")),
        (str(uuid.uuid4()), (404, "coupon_not_found")),
        ("not-a-uuid", (404, "coupon_not_found")),
    ):
        status, body = await claim(hub, "c-4", coupon_id)
        assert (status, body["error"]["code"]) == expected, coupon_id
    for code, expected in (("NOSUCHCODE", "unknown_coupon_code"), ("CAMPAIGNONLY", "unknown_coupon_code")):
        status, body = await hub.http(
            "POST", "/api/v1/coupons/claim", hub.token("customer", "c-4"), json={"code": code}
        )
        assert (status, body["error"]["code"]) == (422, expected)
    status, body = await hub.http(
        "POST", "/api/v1/coupons/claim", hub.token("customer", "c-4"), json={"code": "a b"}
    )
    assert (status, body["error"]["details"][0]["loc"]) == (422, ["code"])
    status, listed = await hub.http("GET", "/api/v1/coupons", hub.token("customer", "c-4"))
    assert status == 200
    assert [c["code"] for c in listed["items"]] == []  # SPRING10 is gone; the others cannot be claimed
    assert await wallet(hub, "c-4") == []


async def test_twenty_customers_racing_for_five_coupons_get_exactly_five(start_hub: StartHub) -> None:
    hub = await start_plain(start_hub)
    coupon = await new_coupon(hub, "FIRST5", total_limit=5)
    results = await asyncio.gather(*(claim(hub, f"c-{n}", coupon["id"]) for n in range(20)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] * 5 + [409] * 15
    assert {body["error"]["code"] for status, body in results if status == 409} == {"coupon_exhausted"}
    pool = hub.app[CONTEXT].pool
    assert await pool.fetchval("SELECT claimed FROM coupons WHERE code = 'FIRST5'") == 5
    assert await pool.fetchval("SELECT count(*) FROM customer_coupons") == 5


# Quoting ----------------------------------------------------------------------------------------


async def test_a_quote_applies_the_best_coupon_or_the_one_named_or_none(start_hub: StartHub) -> None:
    hub = await start_plain(start_hub)
    await add_service(hub.app[CONTEXT].pool, "other-cleaning")
    fixed = await claimed(hub, "c-1", (await new_coupon(hub, "TWENTY"))["id"])
    pct = await claimed(
        hub,
        "c-1",
        (
            await new_coupon(
                hub, "PCT20", kind="percent", amount_cents=None, percent=20, max_discount_cents=5000
            )
        )["id"],
    )
    big_spend = await claimed(
        hub, "c-1", (await new_coupon(hub, "BIGSPEND", min_spend_cents=1_000_000))["id"]
    )
    elsewhere = await claimed(
        hub, "c-1", (await new_coupon(hub, "ELSEWHERE", service_ids=["other-cleaning"]))["id"]
    )
    by_category = await claimed(
        hub, "c-1", (await new_coupon(hub, "CLEANCAT", category_ids=["cleaning"]))["id"]
    )

    # c-1 has never booked: 10 % first-booking (15.00) or a coupon, whichever saves more.
    status, best = await quote(hub)
    assert status == 200, best
    assert lines(best) == {"coupon": -3000}  # 20 % of 150.00
    assert best["coupon_id"] == pct
    assert best["total_cents"] == BASE - 3000
    assert [d["coupon_id"] for d in best["discounts"]] == [pct]
    assert {c["id"]: c["discount_cents"] for c in best["applicable_coupons"]} == {
        fixed: 2000,
        by_category: 2000,
    }

    status, named = await quote(hub, coupon_id=fixed)
    assert status == 200, named
    assert (lines(named), named["coupon_id"]) == ({"coupon": -2000}, fixed)
    status, none = await quote(hub, coupon_id=None)
    assert status == 200, none
    assert (lines(none), none["coupon_id"], none["total_cents"]) == (
        {"first_booking": -1500},
        None,
        BASE - 1500,
    )

    for coupon_id, reason in ((big_spend, "below_min_spend"), (elsewhere, "not_for_this_service")):
        status, body = await quote(hub, coupon_id=coupon_id)
        assert (status, body["error"]["code"]) == (409, "coupon_not_applicable"), body
        assert body["error"]["details"]["reason"] == reason
    status, body = await quote(hub, coupon_id=str(uuid.uuid4()))
    assert (status, body["error"]["code"], body["error"]["details"][0]["loc"]) == (
        422,
        "unknown_coupon",
        ["coupon_id"],
    )
    status, body = await quote(hub, "c-2", coupon_id=fixed)  # someone else's
    assert (status, body["error"]["code"]) == (422, "unknown_coupon")
    status, body = await quote(hub, coupon_id="TWENTY")
    assert (status, body["error"]["details"][0]["loc"]) == (422, ["coupon_id"])

    # A weak coupon is kept for later rather than replacing a bigger first-booking discount.
    weak = await claimed(hub, "c-2", (await new_coupon(hub, "FIVE", amount_cents=500))["id"])
    status, kept = await quote(hub, "c-2")
    assert (lines(kept), kept["coupon_id"]) == ({"first_booking": -1500}, None)
    assert [c["id"] for c in kept["applicable_coupons"]] == [weak]

    status, _ = await hub.http(
        "PUT",
        "/api/v1/admin/settings/pricing",
        hub.token("admin", "admin-1"),
        json={"coupon_stacks_with_first_booking": True},
    )
    assert status == 200
    _, stacked = await quote(hub)
    assert lines(stacked) == {"first_booking": -1500, "coupon": -3000}
    assert stacked["total_cents"] == BASE - 4500
    assert stacked["discounts_cents"] == 4500


async def test_a_coupon_never_takes_the_total_below_one_fen(start_hub: StartHub) -> None:
    hub = await start_plain(start_hub)
    huge = await claimed(hub, "c-1", (await new_coupon(hub, "HUGE", amount_cents=1_000_000))["id"])
    status, quoted = await quote(hub, coupon_id=huge)
    assert status == 200, quoted
    assert quoted["total_cents"] == 1
    assert lines(quoted) == {"coupon": -(BASE - 1)}


# Redeeming and releasing ------------------------------------------------------------------------


async def test_two_bookings_racing_for_one_coupon_one_wins(start_hub: StartHub) -> None:
    hub = await start_plain(start_hub)
    held = await claimed(hub, "c-1", (await new_coupon(hub, "ONCE"))["id"])
    token = hub.token("customer", "c-1")

    async def book(n: int, **choice: Any) -> tuple[int, Any]:
        return await hub.http(
            "POST",
            "/api/v1/bookings",
            token,
            json=booking_request(**choice),
            headers={"Idempotency-Key": f"race-{n}"},
        )

    results = await asyncio.gather(book(1, coupon_id=held), book(2, coupon_id=held))
    assert sorted(status for status, _ in results) == [201, 409]
    booking = next(body for status, body in results if status == 201)
    refused = next(body for status, body in results if status == 409)
    assert refused["error"]["code"] == "coupon_unavailable"
    assert booking["price"]["coupon_id"] == held
    assert lines(booking["price"])["coupon"] == -2000
    assert [e["kind"] for e in booking["timeline"]] == ["created", "coupon_redeemed"]
    assert booking["timeline"][1]["data"]["coupon_id"] == held
    [used] = await wallet(hub, "c-1")
    assert (used["state"], used["booking_id"]) == ("used", booking["id"])
    pool = hub.app[CONTEXT].pool
    assert await pool.fetchval("SELECT count(*) FROM bookings") == 1  # the loser made nothing

    # Without naming it, the used coupon is no longer offered; naming it is refused.
    status, body = await book(3, coupon_id=held)
    assert (status, body["error"]["code"]) == (409, "coupon_not_applicable")
    assert body["error"]["details"]["reason"] == "used"
    status, plain = await book(4)
    assert status == 201, plain
    assert "coupon" not in lines(plain["price"])


async def test_cancelling_before_service_releases_the_coupon(start_hub: StartHub, peers: list[Peer]) -> None:
    hub = await start_plain(start_hub)
    held = await claimed(hub, "c-1", (await new_coupon(hub, "COMEBACK"))["id"])
    customer = await open_peer(hub, peers, "/customer", "customer", "c-1")
    status, booking = await hub.http(
        "POST", "/api/v1/bookings", hub.token("customer", "c-1"), json=booking_request()
    )
    assert status == 201, booking
    assert booking["price"]["coupon_id"] == held
    assert (await wallet(hub, "c-1"))[0]["state"] == "used"
    status, cancelled = await hub.http(
        "POST", f"/api/v1/bookings/{booking['id']}/cancel", hub.token("customer", "c-1"), json={}
    )
    assert status == 200, cancelled
    assert [e["kind"] for e in cancelled["timeline"]][-2:] == ["cancelled", "coupon_released"]
    [back] = await wallet(hub, "c-1")
    assert (back["state"], back["booking_id"]) == ("available", None)

    async def released_live() -> bool:
        update = await customer.next("booking:updated")
        return bool(update["entry"]["kind"] == "coupon_released")

    await wait_until(released_live)  # the customer sees it live

    status, again = await hub.http(
        "POST", "/api/v1/bookings", hub.token("customer", "c-1"), json=booking_request()
    )
    assert status == 201, again
    assert again["price"]["coupon_id"] == held  # usable again


async def test_a_booking_that_expires_unpaid_releases_its_coupon(start_hub: StartHub) -> None:
    hub = await start_plain(start_hub, HUB_BOOKING_PAYMENT_MINUTES="0.01")
    held = await claimed(hub, "c-1", (await new_coupon(hub, "PATIENT"))["id"])
    status, booking = await hub.http(
        "POST", "/api/v1/bookings", hub.token("customer", "c-1"), json=booking_request()
    )
    assert status == 201, booking
    assert booking["price"]["coupon_id"] == held

    async def expired() -> Any:
        _, body = await hub.http("GET", f"/api/v1/bookings/{booking['id']}", hub.token("admin", "a-1"))
        return body if body["status"] == "expired" else None

    body = await wait_until(expired)
    assert "coupon_released" in [e["kind"] for e in body["timeline"]]
    [back] = await wallet(hub, "c-1")
    assert back["state"] == "available"


async def test_a_coupon_lapsed_while_its_booking_was_open_comes_back_expired(start_hub: StartHub) -> None:
    hub = await start_plain(start_hub)
    coupon = await new_coupon(hub, "SOONGONE")
    await claimed(hub, "c-1", coupon["id"])
    status, booking = await hub.http(
        "POST", "/api/v1/bookings", hub.token("customer", "c-1"), json=booking_request()
    )
    assert status == 201
    pool = hub.app[CONTEXT].pool
    await pool.execute("UPDATE coupons SET valid_until = now() - interval '1 second' WHERE code = 'SOONGONE'")
    status, _ = await hub.http(
        "POST", f"/api/v1/bookings/{booking['id']}/cancel", hub.token("customer", "c-1"), json={}
    )
    assert status == 200
    assert [c["state"] for c in await wallet(hub, "c-1")] == ["expired"]
    assert await wallet(hub, "c-1", "available") == []


async def test_a_completed_booking_with_a_coupon_balances(start_hub: StartHub, peers: list[Peer]) -> None:
    hub = await start_plain(start_hub)
    pool = hub.app[CONTEXT].pool
    worker = await open_peer(hub, peers, "/worker", "worker", "w-1")
    await claimed(hub, "c-1", (await new_coupon(hub, "DONE"))["id"])
    status, booking = await hub.http(
        "POST", "/api/v1/bookings", hub.token("customer", "c-1"), json=booking_request()
    )
    assert status == 201, booking
    assert lines(booking["price"]) == {"coupon": -2000}
    status, _ = await hub.http(
        "POST",
        f"/api/v1/admin/bookings/{booking['id']}/mark-paid",
        hub.token("admin", "admin-1"),
        json={"payment_ref": "bank-coupon"},
    )
    assert status == 200
    offer = await worker.next("offer")
    await worker.ok("offer:accept", {"offer_id": offer["offer_id"]})
    here = {"booking_id": booking["id"], "lat": CENTRE[0], "lng": CENTRE[1]}
    for event, data in (
        ("job:depart", {**here, "eta_minutes": 5}),
        ("job:arrive", here),
        ("job:start", {"booking_id": booking["id"]}),
        ("job:finish", {"booking_id": booking["id"]}),
    ):
        await worker.ok(event, data)

    total = booking["total_cents"]
    # Earned at completion, from the price before discounts: the coupon does not lower it.
    pay = await pool.fetchval("SELECT earned_cents FROM bookings WHERE id = $1", uuid.UUID(booking["id"]))
    assert pay == BASE * 80 // 100  # the default commission
    assert (total, booking["price"]["discounts_cents"]) == (BASE - 2000, 2000)
    balances = {k: v for k, v in (await ledger_store.balances(pool, "")).items() if v}
    assert balances == {
        cash("manual"): total,
        worker_account("w-1"): -pay,
        PROMOTIONS: 2000,  # the platform pays for the coupon
        REVENUE: pay - BASE,
    }
    assert await ledger_store.balance(pool, booking_account(uuid.UUID(booking["id"]))) == 0
    assert await violations(pool) == []
    checked = cli("ledger-check", env=hub_env_of(hub))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Completed: the coupon stays used, and a new customer campaign would not count c-1 as new.
    assert [c["state"] for c in await wallet(hub, "c-1")] == ["used"]


# Campaigns --------------------------------------------------------------------------------------


async def new_campaign(hub: RunningHub, kind: str, coupon_id: str, **overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    body = {
        "kind": kind,
        "name_en": f"{kind} campaign",
        "name_zh": "活动",
        "coupon_id": coupon_id,
        "starts_at": iso(now - timedelta(hours=1)),
        "ends_at": iso(now + timedelta(days=7)),
        **overrides,
    }
    status, created = await hub.http(
        "POST", "/api/v1/admin/campaigns", hub.token("admin", "admin-1"), json=body
    )
    assert status == 201, created
    return dict(created)


async def test_new_customers_get_the_welcome_coupon_once_on_first_quote_or_claim(start_hub: StartHub) -> None:
    hub = await start_plain(start_hub)
    status, booking = await hub.http(
        "POST", "/api/v1/bookings", hub.token("customer", "c-3"), json=booking_request()
    )
    assert status == 201
    await hub.app[CONTEXT].pool.execute(
        "UPDATE bookings SET paid_at = now() WHERE id = $1", uuid.UUID(booking["id"])
    )
    gift = await new_coupon(hub, "WELCOME", claimable=False, amount_cents=3000)
    await new_campaign(hub, "new_customer", gift["id"])
    status, quoted = await quote(hub)
    assert status == 200, quoted
    [granted] = await wallet(hub, "c-1")
    assert (granted["code"], granted["source"], granted["state"]) == ("WELCOME", "new_customer", "available")
    assert quoted["coupon_id"] == granted["id"]  # and it is the best one now (30.00 > 15.00)
    await quote(hub)
    assert len(await wallet(hub, "c-1")) == 1  # once

    other = await new_coupon(hub, "ANY")
    await claimed(hub, "c-2", other["id"])  # a claim welcomes too
    assert sorted(c["code"] for c in await wallet(hub, "c-2")) == ["ANY", "WELCOME"]

    await quote(hub, "c-3")  # c-3 paid for a booking before the campaign began: not new
    assert await wallet(hub, "c-3") == []

    results = await asyncio.gather(*(quote(hub, "c-4") for _ in range(5)))  # at once: still once
    assert [status for status, _ in results] == [200] * 5
    assert [c["code"] for c in await wallet(hub, "c-4")] == ["WELCOME"]


async def test_holiday_coupons_are_claimed_while_the_campaign_runs(start_hub: StartHub) -> None:
    hub = await start_plain(start_hub)
    coupon = await new_coupon(hub, "NEWYEAR", claimable=False)
    running = await new_campaign(hub, "holiday", coupon["id"])
    now = datetime.now(UTC)
    later = await new_campaign(
        hub,
        "holiday",
        coupon["id"],
        starts_at=iso(now + timedelta(days=1)),
        ends_at=iso(now + timedelta(days=2)),
    )
    token = hub.token("customer", "c-1")
    status, got = await hub.http("POST", f"/api/v1/campaigns/{running['id']}/claim", token)
    assert status == 201, got
    assert (got["code"], got["source"], got["campaign_id"]) == ("NEWYEAR", "holiday", running["id"])
    status, body = await hub.http("POST", f"/api/v1/campaigns/{running['id']}/claim", token)
    assert (status, body["error"]["code"]) == (409, "coupon_limit_reached")
    status, body = await hub.http(
        "POST", f"/api/v1/campaigns/{later['id']}/claim", hub.token("customer", "c-2")
    )
    assert (status, body["error"]["code"]) == (409, "campaign_not_running")
    status, body = await hub.http("POST", f"/api/v1/campaigns/{uuid.uuid4()}/claim", token)
    assert (status, body["error"]["code"]) == (404, "campaign_not_found")
    status, live = await hub.http("GET", "/api/v1/campaigns", token)
    assert status == 200
    assert [c["id"] for c in live["items"]] == [running["id"]]
    assert live["items"][0]["coupon"]["code"] == "NEWYEAR"


async def test_group_buying_grants_everyone_when_full_and_nobody_when_late(start_hub: StartHub) -> None:
    hub = await start_plain(start_hub)
    pool = hub.app[CONTEXT].pool
    coupon = await new_coupon(hub, "TOGETHER", claimable=False, total_limit=10)
    campaign = await new_campaign(hub, "group", coupon["id"], group_size=3, group_hours=2)
    join = f"/api/v1/campaigns/{campaign['id']}/join"

    status, group = await hub.http("POST", join, hub.token("customer", "c-1"), json={})
    assert status == 200, group
    assert (group["status"], group["members"], group["size"]) == ("open", 1, 3)
    status, body = await hub.http("POST", join, hub.token("customer", "c-1"), json={"group_id": group["id"]})
    assert (status, body["error"]["code"]) == (409, "already_in_group")
    status, body = await hub.http("POST", join, hub.token("customer", "c-2"), json={"group_id": group["id"]})
    assert (status, body["members"]) == (200, 2)
    assert await wallet(hub, "c-1") == []  # not until the group is full
    _, live = await hub.http("GET", "/api/v1/campaigns", hub.token("customer", "c-3"))
    assert [g["id"] for g in live["items"][0]["open_groups"]] == [group["id"]]
    status, full = await hub.http("POST", join, hub.token("customer", "c-3"), json={"group_id": group["id"]})
    assert (status, full["status"], full["members"]) == (200, "filled", 3)
    for member in ("c-1", "c-2", "c-3"):
        assert [(c["code"], c["source"]) for c in await wallet(hub, member)] == [("TOGETHER", "group")]
    status, body = await hub.http("POST", join, hub.token("customer", "c-4"), json={"group_id": group["id"]})
    assert (status, body["error"]["code"]) == (409, "group_closed")

    # A group that does not fill by its deadline: nobody gets the coupon, the reservations go back.
    status, late = await hub.http("POST", join, hub.token("customer", "c-4"), json={})
    assert status == 200
    await hub.http("POST", join, hub.token("customer", "c-5"), json={"group_id": late["id"]})
    assert await pool.fetchval("SELECT claimed FROM coupons WHERE code = 'TOGETHER'") == 5
    await pool.execute(
        "UPDATE campaign_groups SET deadline = now() - interval '1 second' WHERE id = $1",
        uuid.UUID(late["id"]),
    )
    await wait_until(
        lambda: pool.fetchval(
            "SELECT status = 'failed' FROM campaign_groups WHERE id = $1", uuid.UUID(late["id"])
        )
    )
    assert await pool.fetchval("SELECT claimed FROM coupons WHERE code = 'TOGETHER'") == 3
    assert await wallet(hub, "c-4") == []
    assert await wallet(hub, "c-5") == []
    told = await pool.fetchval("SELECT count(*) FROM notifications WHERE kind = 'coupon' AND user_id = 'c-4'")
    assert told == 1
    status, body = await hub.http("POST", join, hub.token("customer", "c-6"), json={"group_id": late["id"]})
    assert (status, body["error"]["code"]) == (409, "group_closed")
    for path, expected in (
        (join, (404, "group_not_found")),
        (f"/api/v1/campaigns/{uuid.uuid4()}/join", (404, "campaign_not_found")),
    ):
        status, body = await hub.http(
            "POST", path, hub.token("customer", "c-6"), json={"group_id": str(uuid.uuid4())}
        )
        assert (status, body["error"]["code"]) == expected
    holiday = await new_campaign(hub, "holiday", coupon["id"])
    status, body = await hub.http(
        "POST", f"/api/v1/campaigns/{holiday['id']}/join", hub.token("customer", "c-6"), json={}
    )
    assert (status, body["error"]["code"]) == (409, "wrong_campaign_kind")


# Bad input --------------------------------------------------------------------------------------


async def test_bad_coupon_and_campaign_input_is_refused_and_changes_nothing(start_hub: StartHub) -> None:
    hub = await start_plain(start_hub)
    admin = hub.token("admin", "admin-1")
    pool: asyncpg.Pool = hub.app[CONTEXT].pool
    now = datetime.now(UTC)
    for bad in (
        coupon_body("PCT", kind="percent", amount_cents=None, percent=10),  # no cap
        coupon_body("BOTH", percent=10),
        coupon_body("BACKWARDS", valid_until=iso(now - timedelta(days=2))),
        coupon_body("x"),  # too short
        coupon_body("NEG", amount_cents=-5),
        coupon_body("FLOAT", amount_cents=20.5),
        coupon_body("NAIVE", valid_from="2025-01-01T00:00:00"),
        {**coupon_body("EXTRA"), "surprise": True},
        coupon_body("NOSERVICE", service_ids=["no-such-service"]),
        coupon_body("NOCAT", category_ids=["no-such-category"]),
    ):
        status, body = await hub.http("POST", "/api/v1/admin/coupons", admin, json=bad)
        assert status == 422, (bad, body)
        assert body["error"]["details"], body
    assert await pool.fetchval("SELECT count(*) FROM coupons") == 0

    coupon = await new_coupon(hub, "TAKEN", total_limit=5)
    status, body = await hub.http("POST", "/api/v1/admin/coupons", admin, json=coupon_body("taken"))
    assert (status, body["error"]["code"]) == (409, "coupon_code_taken")
    await claimed(hub, "c-1", coupon["id"])
    await claimed(hub, "c-2", coupon["id"])
    path = f"/api/v1/admin/coupons/{coupon['id']}"
    for bad, expected in (
        ({"total_limit": 1}, (409, "total_limit_below_claimed")),
        ({"valid_until": iso(now - timedelta(days=5))}, (422, "invalid_window")),
        ({"amount_cents": 1}, (422, "invalid_payload")),  # the discount cannot change
        ({"active": None}, (422, "invalid_payload")),
    ):
        status, body = await hub.http("PUT", path, admin, json=bad)
        assert (status, body["error"]["code"]) == expected, (bad, body)
    status, changed = await hub.http("PUT", path, admin, json={"total_limit": None, "name_en": "Taken"})
    assert status == 200, changed
    assert (changed["total_limit"], changed["name_en"], changed["amount_cents"]) == (None, "Taken", 2000)
    status, body = await hub.http("DELETE", path, admin)
    assert (status, body["error"]["code"]) == (409, "coupon_in_use")
    unused = await new_coupon(hub, "UNUSED")
    status, _ = await hub.http("DELETE", f"/api/v1/admin/coupons/{unused['id']}", admin)
    assert status == 204
    status, body = await hub.http("GET", f"/api/v1/admin/coupons/{unused['id']}", admin)
    assert (status, body["error"]["code"]) == (404, "coupon_not_found")
    status, body = await hub.http("POST", "/api/v1/admin/coupons", hub.token("customer", "c-1"), json={})
    assert (status, body["error"]["code"]) == (403, "role_forbidden")

    campaign = {
        "kind": "group",
        "name_en": "Group",
        "name_zh": "拼团",
        "coupon_id": coupon["id"],
        "starts_at": iso(now),
        "ends_at": iso(now + timedelta(days=1)),
    }
    for bad in (
        campaign,  # no group_size, group_hours
        {**campaign, "group_size": 1, "group_hours": 1},
        {**campaign, "kind": "holiday", "group_size": 3, "group_hours": 1},
        {**campaign, "group_size": 3, "group_hours": 1, "ends_at": iso(now - timedelta(days=1))},
        {**campaign, "group_size": 3, "group_hours": 1, "coupon_id": str(uuid.uuid4())},
        {**campaign, "kind": "flash_sale"},
    ):
        status, body = await hub.http("POST", "/api/v1/admin/campaigns", admin, json=bad)
        assert status == 422, (bad, body)
    assert await pool.fetchval("SELECT count(*) FROM campaigns") == 0
    created = await new_campaign(hub, "holiday", coupon["id"])
    status, body = await hub.http(
        "PUT",
        f"/api/v1/admin/campaigns/{created['id']}",
        admin,
        json={"ends_at": iso(now - timedelta(days=3))},
    )
    assert (status, body["error"]["code"]) == (422, "invalid_window")
    status, paused = await hub.http(
        "PUT", f"/api/v1/admin/campaigns/{created['id']}", admin, json={"active": False}
    )
    assert (status, paused["active"]) == (200, False)
    status, listed = await hub.http("GET", "/api/v1/admin/campaigns", hub.token("support", "s-1"))
    assert (status, [c["id"] for c in listed["items"]]) == (200, [created["id"]])
    status, listed = await hub.http("GET", "/api/v1/admin/coupons?active=true", hub.token("support", "s-1"))
    assert status == 200
    assert [c["code"] for c in listed["items"]] == ["TAKEN"]
