"""The order monitor's part of the console snapshot: today's bookings by status and the bookings
under way. Later changes reach the console as ``booking:updated`` on the console stream."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bookings import orders
from bookings.orders import Status
from bookings.storage import bookings as store

ACTIVE_LIMIT = 500  # bookings under way in a snapshot; more are listed over HTTP


async def snapshot(pool: asyncpg.Pool, timezone: str) -> dict[str, Any]:
    zone = zoneinfo.ZoneInfo(timezone)
    today = datetime.now(UTC).astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    counts = await store.counts_by_status(pool, today, today + timedelta(days=1))
    rows = await store.active(pool, ACTIVE_LIMIT + 1)
    return {
        "today": {
            "date": today.date().isoformat(),
            "by_status": {s.value: counts.get(s.value, 0) for s in Status},
        },
        "active": [orders.booking_from(r).model_dump(mode="json") for r in rows[:ACTIVE_LIMIT]],
        "active_more": len(rows) > ACTIVE_LIMIT,
    }
