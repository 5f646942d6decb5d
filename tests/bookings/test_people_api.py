"""Vetting, worker and customer profiles, saved addresses and recommendations over real HTTP."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bookings import seed as demo
from bookings.eligibility import ELIGIBLE_WORKER_SQL
from bookings.storage.workers import offerable
from hub.keys import CONTEXT
from tests.support.hubs import RunningHub

TODAY = datetime.now(ZoneInfo("Asia/Shanghai")).date()  # the hub's booking time zone
NEW_WORKER = {
    "id": "w-new",
    "name": "钱小梅",
    "gender": "female",
    "birth_year": 1985,
    "years_experience": 5,
    "skills": ["daily_cleaning", "window_cleaning"],
    "bio": "做事认真<script>alert(1)</script>",
    "area_lat": 31.23,
    "area_lng": 121.47,
    "area_radius_km": 8,
    "training": ["家政服务员培训"],
    "past_cases": [{"title": "三居室保洁", "description": "每周两次", "year": 2023}],
}


@pytest.fixture
async def seeded(hub: RunningHub) -> RunningHub:
    async with hub.app[CONTEXT].pool.acquire() as conn:
        await demo.seed(conn)
    return hub


def listed(body: dict[str, Any]) -> set[str]:
    return {w["id"] for w in body["items"]}


async def test_onboarding_and_vetting(seeded: RunningHub) -> None:
    hub = seeded
    admin = hub.token("admin", "admin-1")
    key = {"Idempotency-Key": "onboard-1"}
    status, created = await hub.http(
        "POST", "/api/v1/admin/workers", admin, json=NEW_WORKER, headers=dict(key)
    )
    assert status == 201, created
    assert created["vetting_status"] == "pending"
    assert created["eligible"] is False
    assert created["bio"] == NEW_WORKER["bio"]  # stored as text, never interpreted
    assert created["level"] == "intermediate"
    status, again = await hub.http("POST", "/api/v1/admin/workers", admin, json=NEW_WORKER, headers=dict(key))
    assert (status, again["id"]) == (201, "w-new")
    # Keys are per person, role included: a customer whose id is the admin's has keys of their own.
    home = {"label": "Home", "line": "88 Nanjing Rd", "lat": 31.2304, "lng": 121.4737}
    customer = hub.token("customer", "admin-1")
    status, address = await hub.http(
        "POST", "/api/v1/customers/me/addresses", customer, json=home, headers=dict(key)
    )
    assert status == 201, address
    status, body = await hub.http("POST", "/api/v1/admin/workers", admin, json=NEW_WORKER)
    assert (status, body["error"]["code"]) == (409, "worker_exists")

    vet = "/api/v1/admin/workers/w-new/vetting"
    status, body = await hub.http("PUT", vet, admin, json={"status": "vetted"})
    assert (status, body["error"]["code"]) == (409, "identity_not_verified")
    status, body = await hub.http("PUT", vet, admin, json={"status": "vetted", "identity_verified": True})
    assert (status, body["error"]["code"]) == (409, "health_certificate_missing")

    certs = "/api/v1/admin/workers/w-new/certificates"
    expires = (TODAY + timedelta(days=200)).isoformat()
    # An unverified or expired health certificate does not count.
    status, _ = await hub.http("POST", certs, admin, json={"kind": "health", "expires_on": expires})
    assert status == 201
    status, body = await hub.http("PUT", vet, admin, json={"status": "vetted", "identity_verified": True})
    assert status == 409, body
    status, health = await hub.http(
        "POST", certs, admin, json={"kind": "health", "expires_on": expires, "verified": True, "number": "H1"}
    )
    assert status == 201, health
    assert health["expired"] is False
    status, record = await hub.http(
        "PUT", vet, admin, json={"status": "vetted", "identity_verified": True, "note": "证件齐全"}
    )
    assert status == 200, record
    assert (record["vetting_status"], record["vetted_by"], record["vetting_note"]) == (
        "vetted",
        "admin-1",
        "证件齐全",
    )
    # Vetted, but no skill certificate yet: not bookable.
    assert record["eligible"] is False
    status, body = await hub.http("GET", "/api/v1/workers?limit=100")
    assert "w-new" not in listed(body)

    status, skill = await hub.http(
        "POST",
        certs,
        admin,
        json={"kind": "skill", "skill": "window_cleaning", "expires_on": expires, "verified": True},
    )
    assert status == 201, skill
    status, body = await hub.http("GET", "/api/v1/workers?service=window-cleaning&limit=100")
    assert "w-new" in listed(body)
    status, body = await hub.http("GET", "/api/v1/workers?service=daily-cleaning&limit=100")
    assert "w-new" not in listed(body)  # no daily-cleaning certificate
    status, profile = await hub.http("GET", "/api/v1/workers/w-new")
    assert status == 200, profile
    assert profile["certified_skills"] == ["window_cleaning"]

    status, _ = await hub.http("DELETE", f"{certs}/{skill['id']}", admin)
    assert status == 204
    status, body = await hub.http("DELETE", f"{certs}/{skill['id']}", admin)
    assert (status, body["error"]["code"]) == (404, "certificate_not_found")
    status, body = await hub.http("GET", "/api/v1/workers/w-new")
    assert status == 404

    status, body = await hub.http("PUT", vet, admin, json={"status": "suspended", "note": "投诉待查"})
    assert (status, body["vetting_status"], body["identity_verified"]) == (200, "suspended", True)


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "skill", "expires_on": "2030-01-01"},  # a skill certificate names its skill
        {"kind": "health", "skill": "elder_care", "expires_on": "2030-01-01"},
        {"kind": "health", "expires_on": "2030-01-01", "issued_on": "2031-01-01"},
        {"kind": "health", "expires_on": "not a date"},
        {"kind": "health", "expires_on": "2030-01-01", "verified": "yes"},
        {"kind": "passport", "expires_on": "2030-01-01"},
    ],
)
async def test_invalid_certificates_are_422(seeded: RunningHub, body: dict[str, Any]) -> None:
    admin = seeded.token("admin", "admin-1")
    status, answer = await seeded.http(
        "POST", "/api/v1/admin/workers/worker-01/certificates", admin, json=body
    )
    assert status == 422, answer


async def test_vetting_routes_are_for_admins(seeded: RunningHub) -> None:
    for role in ("customer", "worker", "support"):
        token = seeded.token(role, "someone")
        status, _ = await seeded.http("GET", "/api/v1/admin/workers", token)
        assert status == 403
        status, _ = await seeded.http(
            "PUT", "/api/v1/admin/workers/worker-01/vetting", token, json={"status": "vetted"}
        )
        assert status == 403
    status, _ = await seeded.http("GET", "/api/v1/admin/workers")
    assert status == 401
    admin = seeded.token("admin", "admin-1")
    status, body = await seeded.http(
        "PUT", "/api/v1/admin/workers/nobody/vetting", admin, json={"status": "vetted"}
    )
    assert (status, body["error"]["code"]) == (404, "worker_not_found")
    status, body = await seeded.http(
        "POST",
        "/api/v1/admin/workers/nobody/certificates",
        admin,
        json={"kind": "health", "expires_on": "2030-01-01"},
    )
    assert status == 404, body
    status, body = await seeded.http(
        "DELETE", "/api/v1/admin/workers/worker-01/certificates/not-a-uuid", admin
    )
    assert status == 404, body


async def test_admin_list_filters(seeded: RunningHub) -> None:
    admin = seeded.token("admin", "admin-1")
    status, body = await seeded.http("GET", "/api/v1/admin/workers?vetting_status=pending", admin)
    assert status == 200, body
    assert listed(body) == {demo.PENDING_WORKER}
    assert body["items"][0]["identity_verified"] is False
    status, body = await seeded.http("GET", "/api/v1/admin/workers?expiring_within_days=30&limit=100", admin)
    assert status == 200, body
    assert listed(body) == {demo.EXPIRED_WORKER, demo.EXPIRING_WORKER}
    expired = next(w for w in body["items"] if w["id"] == demo.EXPIRED_WORKER)
    assert expired["eligible"] is False
    assert any(c["kind"] == "health" and c["expired"] for c in expired["certificates"])
    status, body = await seeded.http("GET", "/api/v1/admin/workers?expiring_within_days=0&limit=100", admin)
    assert listed(body) == {demo.EXPIRED_WORKER}
    status, body = await seeded.http("GET", "/api/v1/admin/workers?q=13900000003", admin)
    assert listed(body) == {"worker-03"}


async def test_eligibility_predicate_honours_the_job_date(seeded: RunningHub) -> None:
    pool = seeded.app[CONTEXT].pool
    health_expires = await pool.fetchval(
        "SELECT expires_on FROM worker_certificates WHERE worker_id = 'worker-01' AND kind = 'health'"
    )
    assert "worker-01" in await offerable(pool, None, "window_cleaning", TODAY)
    assert await offerable(pool, ["worker-01"], "window_cleaning", health_expires) == ["worker-01"]
    assert await offerable(pool, ["worker-01"], "window_cleaning", health_expires + timedelta(days=1)) == []
    assert await offerable(pool, ["worker-01"], "elder_care", TODAY) == []  # not a skill of hers
    rows = await pool.fetch(f"SELECT w.id FROM workers w WHERE {ELIGIBLE_WORKER_SQL}", "elder_care", TODAY)
    elder = {r["id"] for r in rows}
    assert demo.EXPIRING_WORKER in elder
    assert demo.EXPIRING_WORKER not in await offerable(pool, None, "elder_care", TODAY + timedelta(days=22))


async def test_worker_edits_own_profile(seeded: RunningHub) -> None:
    token = seeded.token("worker", "worker-03")
    status, me = await seeded.http("GET", "/api/v1/workers/me", token)
    assert status == 200, me
    assert me["id"] == "worker-03"
    assert me["vetting_status"] == "vetted"
    assert me["certificates"]
    status, me = await seeded.http(
        "PUT",
        "/api/v1/workers/me",
        token,
        json={"bio": "新的简介\n第二行", "photo_url": None, "area_radius_km": 12},
    )
    assert status == 200, me
    assert (me["bio"], me["photo_url"], me["area"]["radius_km"]) == ("新的简介\n第二行", None, 12)
    assert me["name"] == "张丽"  # untouched
    for bad in (
        {"vetting_status": "vetted"},
        {"rating_count": 99},
        {"name": None},
        {"name": ""},
        {"skills": ["Bad Skill"]},
    ):
        status, body = await seeded.http("PUT", "/api/v1/workers/me", token, json=bad)
        assert status == 422, (bad, body)
    status, body = await seeded.http("GET", "/api/v1/workers/me", seeded.token("worker", "not-onboarded"))
    assert (status, body["error"]["code"]) == (404, "worker_not_found")
    status, _ = await seeded.http("GET", "/api/v1/workers/me", seeded.token("customer", "c-1"))
    assert status == 403


async def test_customer_profile_created_on_first_use(hub: RunningHub) -> None:
    token = hub.token("customer", "c-new")
    status, me = await hub.http("GET", "/api/v1/customers/me", token)
    assert status == 200, me
    assert (me["id"], me["name"], me["phone"]) == ("c-new", "", None)
    status, me = await hub.http(
        "PUT", "/api/v1/customers/me", token, json={"name": "赵女士", "phone": "13912345678"}
    )
    assert (status, me["name"], me["phone"]) == (200, "赵女士", "13912345678")
    status, body = await hub.http("PUT", "/api/v1/customers/me", token, json={"phone": "call me"})
    assert status == 422, body
    status, _ = await hub.http("GET", "/api/v1/customers/me", hub.token("worker", "w-1"))
    assert status == 403


async def test_addresses(hub: RunningHub) -> None:
    alice, bob = hub.token("customer", "c-alice"), hub.token("customer", "c-bob")
    base = "/api/v1/customers/me/addresses"
    home = {"label": "家", "line": "静安区南京西路1266号", "city": "上海市", "lat": 31.2297, "lng": 121.452}
    status, first = await hub.http("POST", base, alice, json=home, headers={"Idempotency-Key": "a1"})
    assert status == 201, first
    assert first["is_default"] is True  # the first address becomes the default
    status, replay = await hub.http("POST", base, alice, json=home, headers={"Idempotency-Key": "a1"})
    assert (status, replay["id"]) == (201, first["id"])
    office = {
        "label": "公司",
        "line": "浦东新区世纪大道100号",
        "lat": 31.2353,
        "lng": 121.5055,
        "is_default": True,
    }
    status, second = await hub.http("POST", base, alice, json=office)
    assert status == 201, second
    status, body = await hub.http("GET", base, alice)
    assert [(a["id"], a["is_default"]) for a in body["items"]] == [
        (second["id"], True),
        (first["id"], False),
    ]

    status, updated = await hub.http(
        "PUT", f"{base}/{first['id']}", alice, json={"is_default": True, "label": "老家"}
    )
    assert (status, updated["is_default"], updated["label"]) == (200, True, "老家")
    status, body = await hub.http("GET", base, alice)
    assert sum(a["is_default"] for a in body["items"]) == 1

    # Bob sees nothing of Alice's, and cannot touch it.
    status, body = await hub.http("GET", base, bob)
    assert (status, body["items"]) == (200, [])
    status, body = await hub.http("PUT", f"{base}/{first['id']}", bob, json={"label": "mine"})
    assert (status, body["error"]["code"]) == (404, "address_not_found")
    status, _ = await hub.http("DELETE", f"{base}/{first['id']}", bob)
    assert status == 404
    for bad_id in ("not-a-uuid", str(uuid.uuid4())):
        status, _ = await hub.http("PUT", f"{base}/{bad_id}", alice, json={"label": "x"})
        assert status == 404

    # Deleting the default hands it to the remaining address.
    status, _ = await hub.http("DELETE", f"{base}/{first['id']}", alice)
    assert status == 204
    status, body = await hub.http("GET", base, alice)
    assert [(a["id"], a["is_default"]) for a in body["items"]] == [(second["id"], True)]


@pytest.mark.parametrize(
    "body",
    [
        {"line": "x", "lat": 91, "lng": 0},
        {"line": "x", "lat": 0, "lng": 181},
        {"line": "x", "lat": "31", "lng": 121},
        {"line": "", "lat": 31, "lng": 121},
        {"line": "a\u0000b", "lat": 31, "lng": 121},
        {"line": "x", "lat": 31, "lng": 121, "is_default": 1},
        {"line": "x", "lat": 31, "lng": 121, "customer_id": "c-other"},
        {"lat": 31, "lng": 121},
    ],
)
async def test_invalid_addresses_are_422(hub: RunningHub, body: dict[str, Any]) -> None:
    status, answer = await hub.http(
        "POST", "/api/v1/customers/me/addresses", hub.token("customer", "c-1"), json=body
    )
    assert status == 422, answer


async def insert_booking(
    hub: RunningHub, customer: str, service: str, status: str, worker: str | None = None, days_ago: int = 1
) -> None:
    created = datetime.now(UTC) - timedelta(days=days_ago)
    await hub.app[CONTEXT].pool.execute(
        """INSERT INTO bookings (id, customer_id, service_id, worker_id, status, slot_start, slot_end,
               duration_minutes, address, lat, lng, price, total_cents, worker_pay_cents, payment_due_at,
               created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $6::timestamptz + interval '2 hours', 120, '{}'::jsonb,
                   31.23, 121.47, '{}'::jsonb, 9000, 6300, $6, $6)""",
        uuid.uuid4(),
        customer,
        service,
        worker,
        status,
        created,
    )


async def test_recommendations(seeded: RunningHub) -> None:
    token = seeded.token("customer", "customer-01")
    status, body = await seeded.http("GET", "/api/v1/recommendations", token)
    assert status == 200, body
    # No bookings yet: popular falls back to catalog order.
    assert [p["service"]["id"] for p in body["popular"]][:2] == ["daily-cleaning", "deep-cleaning"]
    assert body["history"] == {"services": [], "workers": []}
    assert body["origin"]["source"] == "default_address"
    distances = [w["distance_km"] for w in body["nearby"]]
    assert distances
    assert distances == sorted(distances)

    for _ in range(3):
        await insert_booking(seeded, "customer-02", "elder-care-hourly", "completed")
    await insert_booking(seeded, "customer-02", "window-cleaning", "accepted")
    await insert_booking(seeded, "customer-03", "nanny-hourly", "cancelled")  # does not count
    await insert_booking(seeded, "customer-03", "ac-cleaning", "completed", days_ago=45)  # too old
    await insert_booking(seeded, "customer-01", "ac-cleaning", "completed", worker="worker-05", days_ago=10)
    await insert_booking(seeded, "customer-01", "ac-cleaning", "completed", worker="worker-05", days_ago=5)
    await insert_booking(
        seeded, "customer-01", "daily-cleaning", "completed", worker=demo.EXPIRED_WORKER, days_ago=2
    )

    status, body = await seeded.http("GET", "/api/v1/recommendations?limit=5", token)
    assert status == 200, body
    popular = [(p["service"]["id"], p["bookings_30d"]) for p in body["popular"]]
    assert popular[:3] == [("elder-care-hourly", 3), ("ac-cleaning", 2), ("daily-cleaning", 1)]
    assert len(popular) == 5
    history = body["history"]
    assert [(s["service"]["id"], s["times_booked"]) for s in history["services"]] == [
        ("daily-cleaning", 1),
        ("ac-cleaning", 2),
    ]
    # The worker who is no longer bookable is not recommended again.
    assert [(w["worker"]["id"], w["times_booked"]) for w in history["workers"]] == [("worker-05", 2)]

    status, body = await seeded.http("GET", "/api/v1/recommendations?lat=39.9042&lng=116.4074", token)
    assert (status, body["origin"]["source"], body["nearby"]) == (200, "query", [])
    status, body = await seeded.http(
        "GET", "/api/v1/recommendations", seeded.token("customer", "c-no-address")
    )
    assert (status, body["origin"], body["nearby"]) == (200, None, [])
    status, _ = await seeded.http("GET", "/api/v1/recommendations?lat=31.2", token)
    assert status == 422
    status, _ = await seeded.http("GET", "/api/v1/recommendations", seeded.token("worker", "worker-01"))
    assert status == 403
