"""The data a booking needs in the dispatch benchmark: the city, one hourly cleaning service and
vetted workers written straight into the database, and booking requests."""

from __future__ import annotations

import math
import random
import uuid
import zoneinfo
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

CENTRE = (31.2304, 121.4737)  # People's Square, Shanghai
KM_PER_DEG_LAT = 111.0
KM_PER_DEG_LNG = 95.0  # at Shanghai's latitude
TIMEZONE = "Asia/Shanghai"
SERVICE = "bench-cleaning"

WorkerRow = tuple[str, float, float, float, int, int, int]


def local_today() -> date:
    return datetime.now(UTC).astimezone(zoneinfo.ZoneInfo(TIMEZONE)).date()


def around(rng: random.Random, km: float) -> tuple[float, float]:
    """A point uniformly spread over a disc of ``km`` around the city centre."""
    r, angle = km * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
    return CENTRE[0] + r * math.sin(angle) / KM_PER_DEG_LAT, CENTRE[1] + r * math.cos(angle) / KM_PER_DEG_LNG


async def add_service(pool: asyncpg.Pool) -> None:
    await pool.execute(
        """INSERT INTO service_categories (id, name_en, name_zh) VALUES ('cleaning', 'Cleaning', '保洁')
           ON CONFLICT DO NOTHING"""
    )
    await pool.execute(
        """INSERT INTO services (id, category_id, name_en, name_zh, skill, pricing,
                                 unit_price_cents, min_minutes, default_minutes, max_minutes,
                                 step_minutes, opens_at, closes_at)
           VALUES ($1, 'cleaning', 'Daily cleaning', '日常保洁', 'cleaning', 'hourly', 5000,
                   60, 120, 480, 30, '08:00', '20:00')""",
        SERVICE,
    )


async def add_workers(pool: asyncpg.Pool, rows: list[WorkerRow]) -> None:
    """(id, lat, lng, radius km, years, rating sum, rating count): vetted, identity verified,
    health and cleaning certificates valid for two years. The rating sum is of overall ratings,
    each review giving all three scores."""
    await pool.executemany(
        """INSERT INTO workers (id, name, gender, years_experience, skills, area_lat, area_lng,
                                area_radius_km, vetting_status, identity_verified, quality_sum,
                                attitude_sum, skill_sum, rating_count)
           VALUES ($1, 'Worker ' || $1, 'female', $5, '{cleaning}', $2, $3, $4, 'vetted', true,
                   $6, $6, $6, $7)""",
        rows,
    )
    expires = date.today() + timedelta(days=730)
    certificates = [(uuid.uuid4(), r[0], "health", None, expires) for r in rows]
    certificates += [(uuid.uuid4(), r[0], "skill", "cleaning", expires) for r in rows]
    await pool.executemany(
        """INSERT INTO worker_certificates (id, worker_id, kind, skill, expires_on, verified)
           VALUES ($1, $2, $3, $4, $5, true)""",
        certificates,
    )


def booking_request(day: date, start: str, minutes: int, lat: float, lng: float) -> dict[str, Any]:
    return {
        "service_id": SERVICE,
        "date": day.isoformat(),
        "start_time": start,
        "duration_minutes": minutes,
        "address": {"label": "Home", "line": "1 Bench Rd", "city": "Shanghai", "lat": lat, "lng": lng},
        "special_requests": "",
    }
