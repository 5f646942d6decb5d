"""Catalog rows and vetted workers written straight to the database, for booking tests that
must not depend on the demo data set."""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from hub.keys import CONTEXT
from tests.support.clients import Peer
from tests.support.hubs import RunningHub, StartHub

CENTRE = (31.2304, 121.4737)  # People's Square, Shanghai
TIMEZONE = "Asia/Shanghai"
SERVICE = "test-cleaning"


async def add_service(pool: asyncpg.Pool, service_id: str = SERVICE, **overrides: Any) -> None:
    await pool.execute(
        """INSERT INTO service_categories (id, name_en, name_zh) VALUES ('cleaning', 'Cleaning', '保洁')
           ON CONFLICT DO NOTHING"""
    )
    row = {
        "pricing": "hourly",
        "unit_price_cents": 5000,
        "min_minutes": 120,
        "default_minutes": 180,
        "max_minutes": 480,
        "step_minutes": 30,
        "skill": "cleaning",
        **overrides,
    }
    await pool.execute(
        """INSERT INTO services (id, category_id, name_en, name_zh, skill, pricing, unit_price_cents,
                                 min_minutes, default_minutes, max_minutes, step_minutes, opens_at, closes_at)
           VALUES ($1, 'cleaning', 'Daily cleaning', '日常保洁', $2, $3, $4, $5, $6, $7, $8,
                   '08:00', '20:00')""",
        service_id,
        row["skill"],
        row["pricing"],
        row["unit_price_cents"],
        row["min_minutes"],
        row["default_minutes"],
        row["max_minutes"],
        row["step_minutes"],
    )


async def add_worker(
    pool: asyncpg.Pool,
    worker_id: str,
    *,
    km_east: float = 1.0,
    skills: tuple[str, ...] = ("cleaning",),
    vetted: bool = True,
    cert_expires: date | None = None,
    years: int = 3,
    rating: tuple[int, int] = (0, 0),
) -> None:
    """``rating`` is (sum, count) of overall ratings, as if each review gave all three scores."""
    lat, lng = CENTRE[0], CENTRE[1] + km_east / 95.0  # ~95 km per degree of longitude here
    await pool.execute(
        """INSERT INTO workers (id, name, gender, years_experience, skills, area_lat, area_lng,
                                area_radius_km,
                                vetting_status, identity_verified, quality_sum, attitude_sum, skill_sum,
                                rating_count)
           VALUES ($1, $2, 'female', $3, $4, $5, $6, 15, $7, true, $8, $8, $8, $9)""",
        worker_id,
        f"Worker {worker_id}",
        years,
        list(skills),
        lat,
        lng,
        "vetted" if vetted else "pending",
        rating[0],
        rating[1],
    )
    expires = cert_expires or date.today() + timedelta(days=365)
    await pool.execute(
        """INSERT INTO worker_certificates (id, worker_id, kind, skill, expires_on, verified)
           VALUES ($1, $2, 'health', NULL, $3, true)""",
        uuid.uuid4(),
        worker_id,
        expires,
    )
    for skill in skills:
        await pool.execute(
            """INSERT INTO worker_certificates (id, worker_id, kind, skill, expires_on, verified)
               VALUES ($1, $2, 'skill', $3, $4, true)""",
            uuid.uuid4(),
            worker_id,
            skill,
            expires,
        )


def tomorrow_at(hour: int = 10) -> tuple[str, str]:
    """A slot (date, "HH:MM") tomorrow in the service's city, always in the future."""
    day = datetime.now(UTC).astimezone(zoneinfo.ZoneInfo(TIMEZONE)).date() + timedelta(days=1)
    return day.isoformat(), f"{hour:02d}:00"


def soonest_slot(lead_minutes: int = 60, duration_minutes: int = 180) -> tuple[str, str]:
    """The earliest whole-hour slot (date, "HH:MM") at least ``lead_minutes`` ahead that fits the
    service's day (08:00-20:00) in its city: never more than a day ahead, whatever the hour."""
    now = datetime.now(UTC).astimezone(zoneinfo.ZoneInfo(TIMEZONE))
    start = (now + timedelta(minutes=lead_minutes + 59)).replace(minute=0, second=0, microsecond=0)
    if start.hour < 8:
        start = start.replace(hour=8)
    elif start.hour * 60 + duration_minutes > 20 * 60:
        start = (start + timedelta(days=1)).replace(hour=8)
    return start.date().isoformat(), f"{start.hour:02d}:00"


def booking_request(**overrides: Any) -> dict[str, Any]:
    day, start = tomorrow_at()
    return {
        "service_id": SERVICE,
        "date": day,
        "start_time": start,
        "duration_minutes": 180,
        "address": {
            "label": "Home",
            "line": "88 Nanjing Rd",
            "city": "Shanghai",
            "lat": CENTRE[0],
            "lng": CENTRE[1],
        },
        "special_requests": "Please bring slippers",
        **overrides,
    }


async def book_and_pay(hub: RunningHub, customer: str = "c-1", **overrides: Any) -> dict[str, Any]:
    status, booking = await hub.http(
        "POST", "/api/v1/bookings", hub.token("customer", customer), json=booking_request(**overrides)
    )
    assert status == 201, booking
    assert booking["status"] == "pending_payment"
    status, paid = await hub.http(
        "POST",
        f"/api/v1/admin/bookings/{booking['id']}/mark-paid",
        hub.token("admin", "admin-1"),
        json={"payment_ref": f"pay-{booking['id']}"},
    )
    assert status == 200, paid
    assert paid["status"] == "dispatching"
    return dict(paid)


# Bookings due at once, timers swept often, every position forwarded: tests wait for seconds, not minutes.
FAST = {
    "HUB_BOOKING_MIN_LEAD_MINUTES": "0",
    "HUB_TIMER_SWEEP_SECONDS": "0.3",
    "HUB_TRACKING_LOCATION_SECONDS": "0",
}


async def open_peer(hub: RunningHub, peers: list[Peer], namespace: str, role: str, sub: str) -> Peer:
    peer = await Peer(namespace).connect(hub.url, hub.token(role, sub))
    peers.append(peer)
    return peer


async def paid_and_accepted(
    hub: RunningHub, peers: list[Peer], worker_id: str = "w-1"
) -> tuple[dict[str, Any], Peer]:
    """A booking paid and taken by ``worker_id``, whose connected socket is returned."""
    worker = await Peer("/worker").connect(hub.url, hub.token("worker", worker_id))
    peers.append(worker)
    booking = await book_and_pay(hub)
    offer = await worker.next("offer")
    await worker.ok("offer:accept", {"offer_id": offer["offer_id"]})
    return booking, worker


async def start(start_hub: StartHub, workers: int = 3, **env: str) -> RunningHub:
    """A hub with FAST timers, one service and ``workers`` eligible workers east of the centre."""
    hub: RunningHub = await start_hub(**{**FAST, **env})
    pool = hub.app[CONTEXT].pool
    await add_service(pool)
    for n in range(1, workers + 1):
        await add_worker(pool, f"w-{n}", km_east=float(n))
    return hub
