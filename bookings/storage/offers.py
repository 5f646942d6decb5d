"""SQL for offers: who may be offered a booking, the offers of each wave and the workers' answers.

Deciding who wins a booking is ``bookings.storage.bookings.accept``; here the offers follow.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from bookings.eligibility import eligible_worker_sql
from bookings.storage.bookings import COLUMNS, busy_sql
from hub.storage.db import Conn, Executor

_CANDIDATES = f"""
WITH bk AS (
    SELECT b.id, b.lat, b.lng, b.slot_start, b.slot_end, s.skill,
           (b.slot_start AT TIME ZONE $2)::date AS job_date
      FROM bookings b JOIN services s ON s.id = b.service_id WHERE b.id = $1)
SELECT w.id, w.name, w.area_lat, w.area_lng, w.area_radius_km, w.years_experience,
       w.rating_sum, w.rating_count,
       (SELECT count(*) FROM offers o
         WHERE o.worker_id = w.id AND o.created_at > now() - interval '24 hours') AS recent_offers,
       (SELECT count(*) FROM bookings j
         WHERE j.worker_id = w.id AND j.status <> 'cancelled'
           AND j.slot_start > now() - interval '7 days') AS recent_jobs
  FROM workers w, bk
 WHERE {eligible_worker_sql("w", "bk.skill", "bk.job_date")} AND NOT w.on_leave
   AND ($4::text IS NULL OR w.id = $4)
   -- a cheap box around each worker's service circle; the exact distance is checked in Python
   AND abs(w.area_lat - bk.lat) <= w.area_radius_km / 110.0
   AND abs(w.area_lng - bk.lng) <= w.area_radius_km / (110.0 * cos(radians(bk.lat)))
   AND NOT EXISTS (SELECT 1 FROM offers o WHERE o.booking_id = bk.id AND o.worker_id = w.id)
   AND NOT {busy_sql("w.id", "bk.id", "bk.slot_start", "bk.slot_end", "$3")}
"""


async def candidates(
    db: Executor, booking_id: uuid.UUID, timezone: str, buffer_minutes: int, only: str | None
) -> list[asyncpg.Record]:
    """Workers who may be offered the booking (only ``only``, when given), not offered it yet and
    free then, with what scoring needs."""
    return await db.fetch(_CANDIDATES, booking_id, timezone, buffer_minutes, only)


async def insert_wave(
    conn: Conn,
    booking_id: uuid.UUID,
    wave: int,
    pay_cents: int,
    deadline: datetime,
    offers: Sequence[tuple[uuid.UUID, str, float, float]],
) -> None:
    """A wave's offers, each (id, worker_id, score, distance_km), in one statement."""
    await conn.execute(
        """INSERT INTO offers (id, booking_id, worker_id, wave, score, distance_km, pay_cents,
                             deadline)
           SELECT id, $5, worker_id, $6, score, distance_km, $7, $8
             FROM unnest($1::uuid[], $2::text[], $3::float8[], $4::float8[])
                  AS t(id, worker_id, score, distance_km)""",
        [o[0] for o in offers],
        [o[1] for o in offers],
        [o[2] for o in offers],
        [o[3] for o in offers],
        booking_id,
        wave,
        pay_cents,
        deadline,
    )


async def expire_wave(db: Executor, booking_id: uuid.UUID, wave: int) -> list[asyncpg.Record]:
    """Expire the wave's pending offers whose deadline has passed; their ``id`` and ``worker_id``."""
    return await db.fetch(
        """UPDATE offers SET status = 'expired', answered_at = now()
            WHERE booking_id = $1 AND wave = $2 AND status = 'pending' AND deadline <= now()
        RETURNING id, worker_id""",
        booking_id,
        wave,
    )


async def mark_seen(db: Executor, offer_id: uuid.UUID, worker_id: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        """UPDATE offers SET seen_at = coalesce(seen_at, now())
            WHERE id = $1 AND worker_id = $2 RETURNING id, status, seen_at""",
        offer_id,
        worker_id,
    )


async def mark_accepted(conn: Conn, offer_id: uuid.UUID) -> bool:
    """False when the offer is no longer pending (it expired meanwhile)."""
    found = await conn.fetchval(
        """UPDATE offers SET status = 'accepted', answered_at = now(),
                              seen_at = coalesce(seen_at, now())
            WHERE id = $1 AND status = 'pending' RETURNING id""",
        offer_id,
    )
    return found is not None


async def close_pending(conn: Conn, booking_id: uuid.UUID, status: str) -> list[tuple[str, uuid.UUID]]:
    """Close the booking's pending offers as ``taken`` or ``withdrawn``: (worker, offer) of each."""
    rows = await conn.fetch(
        """UPDATE offers SET status = $2, answered_at = now()
            WHERE booking_id = $1 AND status = 'pending' RETURNING worker_id, id""",
        booking_id,
        status,
    )
    return [(row["worker_id"], row["id"]) for row in rows]


async def withdraw_accepted(conn: Conn, booking_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE offers SET status = 'withdrawn' WHERE booking_id = $1 AND status = 'accepted'", booking_id
    )


async def accepted_booking(conn: Conn, offer_id: uuid.UUID, worker_id: str) -> uuid.UUID | None:
    """The booking this worker's offer won, if it did and the booking is still theirs."""
    found: uuid.UUID | None = await conn.fetchval(
        """SELECT o.booking_id FROM offers o JOIN bookings b ON b.id = o.booking_id
            WHERE o.id = $1 AND o.worker_id = $2 AND o.status = 'accepted' AND b.worker_id = $2""",
        offer_id,
        worker_id,
    )
    return found


async def with_booking_state(conn: Conn, offer_id: uuid.UUID, worker_id: str) -> asyncpg.Record | None:
    """The offer's status, whether it is late, and its booking's status and worker."""
    return await conn.fetchrow(
        """SELECT o.status, o.deadline <= now() AS late, b.status AS booking_status, b.worker_id
             FROM offers o JOIN bookings b ON b.id = o.booking_id WHERE o.id = $1 AND o.worker_id = $2""",
        offer_id,
        worker_id,
    )


async def decline(conn: Conn, offer_id: uuid.UUID, worker_id: str, reason: str) -> asyncpg.Record | None:
    """Decline a pending offer; its ``booking_id`` and ``wave``, or None if it was not pending."""
    return await conn.fetchrow(
        """UPDATE offers SET status = 'declined', decline_reason = $3, answered_at = now()
            WHERE id = $1 AND worker_id = $2 AND status = 'pending' RETURNING booking_id, wave""",
        offer_id,
        worker_id,
        reason,
    )


async def status(conn: Conn, offer_id: uuid.UUID, worker_id: str) -> str | None:
    found: str | None = await conn.fetchval(
        "SELECT status FROM offers WHERE id = $1 AND worker_id = $2", offer_id, worker_id
    )
    return found


async def count_pending(conn: Conn, booking_id: uuid.UUID) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM offers WHERE booking_id = $1 AND status = 'pending'", booking_id
    )
    return count


async def pending_for(db: Executor, worker_id: str) -> list[asyncpg.Record]:
    """The worker's open offers, soonest deadline first: each booking's row with ``offer_*`` columns."""
    return await db.fetch(
        f"""SELECT {COLUMNS}, o.id AS offer_id, o.wave AS offer_wave, o.deadline AS offer_deadline,
                   o.distance_km AS offer_distance_km, o.pay_cents AS offer_pay_cents,
                   o.seen_at AS offer_seen_at
              FROM offers o JOIN bookings b ON b.id = o.booking_id JOIN services s ON s.id = b.service_id
             WHERE o.worker_id = $1 AND o.status = 'pending' AND o.deadline > now()
             ORDER BY o.deadline""",
        worker_id,
    )


async def waiting_waves(db: Executor) -> list[asyncpg.Record]:
    """Each wave with offers still pending, with its last deadline."""
    return await db.fetch(
        """SELECT booking_id, wave, max(deadline) AS deadline FROM offers
            WHERE status = 'pending' GROUP BY booking_id, wave"""
    )


async def overdue_waves(db: Executor) -> list[asyncpg.Record]:
    """Waves with a pending offer past its deadline (by more than a second)."""
    return await db.fetch(
        """SELECT DISTINCT booking_id, wave FROM offers
            WHERE status = 'pending' AND deadline <= now() - interval '1 second'"""
    )
