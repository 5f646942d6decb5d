"""A worker's schedule: their jobs per local day, with what they need to get there."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, time, timedelta
from typing import Any

from bookings import geo, orders
from bookings.storage import bookings as booking_store
from hub.storage.db import Executor


async def days(db: Executor, worker_id: str, first: date, last: date, timezone: str) -> dict[str, Any]:
    """Jobs from ``first`` to ``last`` (local dates in ``timezone``), every day listed."""
    zone = zoneinfo.ZoneInfo(timezone)
    start = datetime.combine(first, time(), zone)
    end = datetime.combine(last + timedelta(days=1), time(), zone)
    rows = await booking_store.assigned_between(db, worker_id, start, end)
    by_day: dict[date, list[dict[str, Any]]] = {
        first + timedelta(days=n): [] for n in range((last - first).days + 1)
    }
    for row in rows:
        booking = orders.booking_from(row)
        local = booking.slot_start.astimezone(zone)
        by_day.setdefault(local.date(), []).append(
            {
                "booking_id": booking.id,
                "status": booking.status,
                "service": booking.service,
                "slot_start": booking.slot_start,
                "slot_end": booking.slot_end,
                "local_start": local.strftime("%H:%M"),
                "address": booking.address,
                "special_requests": booking.special_requests,
                "pay_cents": booking.worker_pay_cents,
                "customer_id": booking.customer_id,
                "navigation": geo.navigation_links(
                    booking.address.lat, booking.address.lng, booking.address.line
                ),
            }
        )
    return {
        "from": first,
        "to": last,
        "timezone": timezone,
        "days": [{"date": day, "jobs": jobs} for day, jobs in sorted(by_day.items()) if first <= day <= last],
    }
