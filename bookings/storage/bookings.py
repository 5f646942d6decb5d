"""SQL for bookings and their timeline.

Every status change is one conditional UPDATE (``transition``); the rules of which change is
legal are ``bookings.orders``'. Booking rows are read in one shape (``COLUMNS``: the booking with
its service's names) for ``bookings.orders.booking_from``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from bookings.eligibility import eligible_worker_sql
from hub.storage.db import Conn, Executor

COLUMNS = """b.id, b.status, b.customer_id, b.service_id, b.worker_id, b.chosen_worker_id, b.slot_start,
    b.slot_end, b.duration_minutes, b.address, b.special_requests, b.price, b.total_cents,
    b.worker_pay_cents, b.payment_due_at, b.paid_at, b.dispatch_wave, b.escalated_at, b.accepted_at,
    b.depart_by, b.departed_at, b.eta_at, b.arrived_at, b.arrival_distance_m, b.arrival_flagged,
    b.started_at, b.finished_at, b.cancelled_at, b.cancel_reason, b.cancellation_fee_cents,
    b.late_alerted_at, b.version, b.created_at, b.updated_at, b.lat, b.lng, b.redo_of,
    ARRAY(SELECT r.id FROM bookings r WHERE r.redo_of = b.id ORDER BY r.created_at, r.id) AS redos,
    s.name_en AS service_name_en, s.name_zh AS service_name_zh"""
SELECT = f"SELECT {COLUMNS} FROM bookings b JOIN services s ON s.id = b.service_id"
_TIMELINE_COLUMNS = "id, status, kind, actor_id, actor_role, note, data, at"
WITH_WORKER_SQL = "('accepted', 'on_the_way', 'arrived', 'in_service')"
ON_THE_JOB_SQL = "('on_the_way', 'arrived', 'in_service')"  # from departure to finish: busy


def busy_sql(worker: str, exclude: str, start: str, end: str, buffer_minutes: str) -> str:
    """The worker has another job (``exclude`` aside) overlapping ``start``..``end`` once each job
    is widened by ``buffer_minutes`` of travel on both sides."""
    return f"""EXISTS (SELECT 1 FROM bookings j
                WHERE j.worker_id = {worker} AND j.id <> {exclude}
                  AND j.status IN {WITH_WORKER_SQL}
                  AND tstzrange(j.slot_start - make_interval(mins => {buffer_minutes}),
                                j.slot_end + make_interval(mins => {buffer_minutes}))
                      && tstzrange({start}, {end}))"""


async def get(db: Executor, booking_id: uuid.UUID) -> asyncpg.Record | None:
    return await db.fetchrow(f"{SELECT} WHERE b.id = $1", booking_id)


async def status(db: Executor, booking_id: uuid.UUID) -> str | None:
    found: str | None = await db.fetchval("SELECT status FROM bookings WHERE id = $1", booking_id)
    return found


async def worker_of(db: Executor, booking_id: uuid.UUID) -> str | None:
    """The worker assigned to the booking, or None (no such booking, or nobody assigned)."""
    found: str | None = await db.fetchval("SELECT worker_id FROM bookings WHERE id = $1", booking_id)
    return found


async def matches(db: Executor, booking_id: uuid.UUID, where: str, params: Sequence[Any]) -> bool:
    """Whether the booking meets ``where`` (a trusted fragment over its row, parameters from $3)."""
    found = await db.fetchval(
        f"SELECT true FROM bookings WHERE id = $1 AND $2::text IS NULL {where}", booking_id, None, *params
    )
    return bool(found)


async def listing(
    db: Executor,
    *,
    customer_id: str | None,
    worker_id: str | None,
    statuses: Sequence[str],
    escalated: bool | None,
    late: bool | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Newest first; after ``after`` (created_at, id) when given."""
    created_at, booking_id = after or (None, None)
    return await db.fetch(
        f"""{SELECT}
            WHERE ($1::text IS NULL OR b.customer_id = $1)
              AND ($2::text IS NULL OR b.worker_id = $2)
              AND (cardinality($3::text[]) = 0 OR b.status = ANY($3))
              AND ($4::boolean IS NULL OR (b.escalated_at IS NOT NULL AND b.status = 'dispatching') = $4)
              AND ($5::boolean IS NULL OR (b.late_alerted_at IS NOT NULL) = $5)
              AND ($6::timestamptz IS NULL OR (b.created_at, b.id) < ($6, $8::uuid))
            ORDER BY b.created_at DESC, b.id DESC LIMIT $7""",
        customer_id,
        worker_id,
        list(statuses),
        escalated,
        late,
        created_at,
        limit,
        booking_id,
    )


async def active(db: Executor, limit: int) -> list[asyncpg.Record]:
    """Bookings under way or about to be (dispatching to in service), soonest slot first."""
    return list(
        await db.fetch(
            f"""{SELECT}
                WHERE b.status IN ('dispatching', 'accepted', 'on_the_way', 'arrived', 'in_service')
                ORDER BY b.slot_start, b.id LIMIT $1""",
            limit,
        )
    )


async def counts_by_status(db: Executor, first: datetime, last: datetime) -> dict[str, int]:
    """How many bookings of slots in [first, last) are in each status."""
    rows = await db.fetch(
        """SELECT status, count(*) AS n FROM bookings
            WHERE slot_start >= $1 AND slot_start < $2 GROUP BY status""",
        first,
        last,
    )
    return {r["status"]: r["n"] for r in rows}


async def insert(
    conn: Conn,
    booking_id: uuid.UUID,
    *,
    customer_id: str,
    service_id: str,
    chosen_worker_id: str | None,
    slot_start: datetime,
    slot_end: datetime,
    duration_minutes: int,
    address: dict[str, Any],
    lat: float,
    lng: float,
    special_requests: str,
    price: dict[str, Any],
    total_cents: int,
    worker_pay_cents: int,
    payment_seconds: float,
) -> None:
    """A new booking, pending payment for ``payment_seconds`` from now."""
    await conn.execute(
        """INSERT INTO bookings (id, customer_id, service_id, chosen_worker_id, status, slot_start, slot_end,
                                 duration_minutes, address, lat, lng, special_requests, price, total_cents,
                                 worker_pay_cents, payment_due_at)
           VALUES ($1, $2, $3, $4, 'pending_payment', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                   now() + make_interval(secs => $15))""",
        booking_id,
        customer_id,
        service_id,
        chosen_worker_id,
        slot_start,
        slot_end,
        duration_minutes,
        address,
        lat,
        lng,
        special_requests,
        price,
        total_cents,
        worker_pay_cents,
        payment_seconds,
    )


async def set_redo_of(conn: Conn, booking_id: uuid.UUID, original_id: uuid.UUID) -> None:
    """Link a redo to the booking whose job it does again."""
    await conn.execute("UPDATE bookings SET redo_of = $2 WHERE id = $1", booking_id, original_id)


async def transition(
    conn: Conn,
    booking_id: uuid.UUID,
    to: str,
    froms: Sequence[str],
    sets: str,
    where: str,
    params: Sequence[Any],
) -> asyncpg.Record | None:
    """Set the status to ``to`` if it is one of ``froms`` and ``where`` holds; the booking as it now
    is, or None. ``sets`` and ``where`` are trusted fragments with parameters from $3 on."""
    assignments = ", ".join(
        filter(None, ["status = $2", "version = version + 1", "updated_at = now()", sets])
    )
    return await conn.fetchrow(
        f"""WITH b AS (UPDATE bookings SET {assignments}
                        WHERE id = $1 AND status = ANY(${3 + len(params)}::text[]) {where}
                    RETURNING *)
            SELECT {COLUMNS} FROM b JOIN services s ON s.id = b.service_id""",
        booking_id,
        to,
        *params,
        list(froms),
    )


async def timeline(db: Executor, booking_id: uuid.UUID) -> list[asyncpg.Record]:
    return await db.fetch(
        f"SELECT {_TIMELINE_COLUMNS} FROM booking_timeline WHERE booking_id = $1 ORDER BY id", booking_id
    )


async def append_timeline(
    conn: Conn,
    booking_id: uuid.UUID,
    status: str,
    kind: str,
    actor_id: str | None,
    actor_role: str,
    note: str,
    data: dict[str, Any],
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""INSERT INTO booking_timeline (booking_id, status, kind, actor_id, actor_role, note, data)
            VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_TIMELINE_COLUMNS}""",
        booking_id,
        status,
        kind,
        actor_id,
        actor_role,
        note,
        data,
    )
    assert row is not None
    return row


async def jobs_in_progress(db: Executor) -> list[tuple[str, str]]:
    """``(worker_id, booking_id)`` of every booking between its departure and its finish."""
    rows = await db.fetch(
        f"SELECT worker_id, id FROM bookings WHERE status IN {ON_THE_JOB_SQL} AND worker_id IS NOT NULL"
    )
    return [(row["worker_id"], str(row["id"])) for row in rows]


# Payment -----------------------------------------------------------------------------------------


async def has_live_booking(db: Executor, customer_id: str) -> bool:
    """Whether the customer has a booking that was not cancelled or expired."""
    found: bool = await db.fetchval(
        """SELECT EXISTS (SELECT 1 FROM bookings
                           WHERE customer_id = $1 AND status NOT IN ('cancelled', 'expired'))""",
        customer_id,
    )
    return found


async def payment_ref(db: Executor, booking_id: uuid.UUID) -> str | None:
    found: str | None = await db.fetchval("SELECT payment_ref FROM bookings WHERE id = $1", booking_id)
    return found


async def paid_by(db: Executor, payment_ref: str) -> uuid.UUID | None:
    """The booking paid with this reference, if any."""
    found: uuid.UUID | None = await db.fetchval("SELECT id FROM bookings WHERE payment_ref = $1", payment_ref)
    return found


async def unpaid_deadlines(db: Executor, limit: int = 10000) -> list[asyncpg.Record]:
    """``id, payment_due_at`` of every booking still waiting for its payment."""
    return await db.fetch(
        "SELECT id, payment_due_at FROM bookings WHERE status = 'pending_payment' LIMIT $1", limit
    )


async def assigned_between(
    db: Executor, worker_id: str, start: datetime, end: datetime
) -> list[asyncpg.Record]:
    """The worker's bookings overlapping [start, end), cancelled ones left out, by start."""
    return await db.fetch(
        f"""{SELECT}
            WHERE b.worker_id = $1 AND b.slot_start < $3 AND b.slot_end > $2
              AND b.status <> 'cancelled' ORDER BY b.slot_start""",
        worker_id,
        start,
        end,
    )


async def overdue_unpaid(db: Executor) -> list[uuid.UUID]:
    rows = await db.fetch(
        "SELECT id FROM bookings WHERE status = 'pending_payment' AND payment_due_at <= now() LIMIT 500"
    )
    return [row["id"] for row in rows]


# The worker's progress ---------------------------------------------------------------------------


async def set_depart_by(db: Executor, booking_id: uuid.UUID, depart_by: datetime) -> None:
    await db.execute("UPDATE bookings SET depart_by = $2 WHERE id = $1", booking_id, depart_by)


async def locate(
    db: Executor, booking_id: uuid.UUID, worker_id: str, lat: float, lng: float, interval: float
) -> asyncpg.Record | None:
    """Record the assigned worker's position unless one was recorded less than ``interval`` seconds
    ago (or the job is not under way): None then."""
    return await db.fetchrow(
        """UPDATE bookings SET last_lat = $3, last_lng = $4, last_located_at = now()
            WHERE id = $1 AND worker_id = $2 AND status IN ('on_the_way', 'arrived', 'in_service')
              AND (last_located_at IS NULL OR last_located_at <= now() - make_interval(secs => $5))
        RETURNING customer_id, lat, lng, eta_at, last_located_at""",
        booking_id,
        worker_id,
        lat,
        lng,
        interval,
    )


async def flag_late(db: Executor, booking_id: uuid.UUID) -> bool:
    """Mark the booking late, once: False when it already was."""
    flagged = await db.fetchval(
        "UPDATE bookings SET late_alerted_at = now() WHERE id = $1 AND late_alerted_at IS NULL RETURNING id",
        booking_id,
    )
    return flagged is not None


async def untaken_at_start(db: Executor) -> list[uuid.UUID]:
    """Paid bookings nobody took before their slot began: to cancel and refund."""
    rows = await db.fetch(
        """SELECT id FROM bookings WHERE status = 'dispatching' AND slot_start <= now()
            ORDER BY slot_start LIMIT 100"""
    )
    return [row["id"] for row in rows]


async def overdue_departures(db: Executor, grace_minutes: float) -> list[uuid.UUID]:
    rows = await db.fetch(
        """SELECT id FROM bookings
            WHERE status = 'accepted' AND late_alerted_at IS NULL
              AND depart_by < now() - make_interval(mins => $1) LIMIT 500""",
        grace_minutes,
    )
    return [row["id"] for row in rows]


async def stalled_jobs(db: Executor, grace_minutes: float, overrun_minutes: float) -> list[asyncpg.Record]:
    """Jobs that stopped moving and have no work item for it yet: on the way past the ETA plus
    grace, or in service past the booked length plus overrun. ``cause`` names the departure or
    start, so one stall opens one item however many nodes sweep, and a new departure may stall anew."""
    return list(
        await db.fetch(
            """SELECT * FROM (
                   SELECT id, 'on_the_way' AS phase, departed_at AS since,
                          eta_at + make_interval(mins => $1) AS expected,
                          'on_the_way:' || floor(extract(epoch FROM departed_at))::bigint AS cause
                     FROM bookings
                    WHERE status = 'on_the_way' AND eta_at + make_interval(mins => $1) < now()
                   UNION ALL
                   SELECT id, 'in_service', started_at,
                          started_at + make_interval(mins => duration_minutes + $2),
                          'in_service:' || floor(extract(epoch FROM started_at))::bigint
                     FROM bookings
                    WHERE status = 'in_service'
                      AND started_at + make_interval(mins => duration_minutes + $2) < now()
               ) s
             WHERE NOT EXISTS (SELECT 1 FROM work_items w
                                WHERE w.kind = 'job_stalled' AND w.subject = s.id::text AND w.cause = s.cause)
             LIMIT 500""",
            grace_minutes,
            overrun_minutes,
        )
    )


# Dispatch ----------------------------------------------------------------------------------------


async def lock_for_wave(conn: Conn, booking_id: uuid.UUID) -> asyncpg.Record | None:
    """The booking's dispatch state, locked, with whether an offer is still pending."""
    return await conn.fetchrow(
        """SELECT status, dispatch_wave, escalated_at,
                  EXISTS (SELECT 1 FROM offers
                           WHERE booking_id = $1 AND status = 'pending') AS open
             FROM bookings WHERE id = $1 FOR UPDATE""",
        booking_id,
    )


async def set_wave(conn: Conn, booking_id: uuid.UUID, wave: int) -> None:
    await conn.execute(
        "UPDATE bookings SET dispatch_wave = $2, updated_at = now() WHERE id = $1", booking_id, wave
    )


async def escalate(conn: Conn, booking_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE bookings SET escalated_at = now(), updated_at = now() WHERE id = $1", booking_id
    )


async def accept(conn: Conn, offer_id: uuid.UUID, worker_id: str) -> uuid.UUID | None:
    """Give the booking to the worker of this pending, unexpired offer if it is still dispatching:
    the one conditional UPDATE that decides the race. The booking's id, or None."""
    won: uuid.UUID | None = await conn.fetchval(
        """UPDATE bookings b
              SET status = 'accepted', worker_id = o.worker_id, accepted_at = now(),
                  escalated_at = NULL, late_alerted_at = NULL, version = b.version + 1,
                  updated_at = now()
             FROM offers o
            WHERE o.id = $1 AND o.worker_id = $2 AND o.status = 'pending' AND o.deadline > now()
              AND b.id = o.booking_id AND b.status = 'dispatching'
        RETURNING b.id""",
        offer_id,
        worker_id,
    )
    return won


async def stalled(db: Executor) -> list[asyncpg.Record]:
    """Dispatching bookings with no offer pending, unchanged for a few seconds, not escalated."""
    return await db.fetch(
        """SELECT id, dispatch_wave FROM bookings b
            WHERE status = 'dispatching' AND escalated_at IS NULL
              AND updated_at < now() - interval '5 seconds'
              AND NOT EXISTS (SELECT 1 FROM offers o
                               WHERE o.booking_id = b.id AND o.status = 'pending')"""
    )


async def assignability(
    db: Executor,
    worker_id: str,
    booking_id: uuid.UUID,
    service_id: str,
    slot_start: datetime,
    slot_end: datetime,
    buffer_minutes: int,
    timezone: str,
) -> asyncpg.Record | None:
    """Whether the worker is eligible for the booking's service on its local date, has the skill,
    and is busy with another job then; None when there is no such worker."""
    return await db.fetchrow(
        f"""SELECT {eligible_worker_sql("w", "s.skill", "($4 AT TIME ZONE $7)::date")} AS eligible,
                  s.skill = ANY (w.skills) AS skilled,
                  {busy_sql("w.id", "$2", "$4", "$5", "$3")} AS busy
             FROM workers w, services s WHERE w.id = $1 AND s.id = $6""",
        worker_id,
        booking_id,
        buffer_minutes,
        slot_start,
        slot_end,
        service_id,
        timezone,
    )


# Recommendations ---------------------------------------------------------------------------------


async def popular_services(
    db: Executor, statuses: Sequence[str], days: int, limit: int
) -> list[asyncpg.Record]:
    """Active services by how many bookings in ``statuses`` they had in the last ``days`` days
    (``n``), then in catalog order."""
    return await db.fetch(
        """SELECT s.id, count(b.id) AS n
           FROM services s JOIN service_categories c ON c.id = s.category_id
           LEFT JOIN bookings b ON b.service_id = s.id AND b.status = ANY($1::text[])
                                AND b.created_at > now() - make_interval(days => $2)
           WHERE s.active
           GROUP BY s.id, c.position, s.created_at
           ORDER BY n DESC, c.position, s.created_at, s.id
           LIMIT $3""",
        list(statuses),
        days,
        limit,
    )


async def services_booked_by(db: Executor, customer_id: str, limit: int) -> list[asyncpg.Record]:
    """The active services of the customer's paid bookings (``n``, ``last_at``), most recent first."""
    return await db.fetch(
        """SELECT b.service_id, count(*) AS n, max(b.created_at) AS last_at
           FROM bookings b JOIN services s ON s.id = b.service_id AND s.active
           WHERE b.customer_id = $1 AND b.status NOT IN ('expired', 'pending_payment')
           GROUP BY b.service_id ORDER BY last_at DESC, b.service_id LIMIT $2""",
        customer_id,
        limit,
    )


async def workers_booked_by(db: Executor, customer_id: str, limit: int) -> list[asyncpg.Record]:
    """The workers of the customer's paid bookings (``n``, ``last_at``), most recent first."""
    return await db.fetch(
        """SELECT b.worker_id, count(*) AS n, max(b.created_at) AS last_at
           FROM bookings b
           WHERE b.customer_id = $1 AND b.worker_id IS NOT NULL
             AND b.status NOT IN ('expired', 'pending_payment')
           GROUP BY b.worker_id ORDER BY last_at DESC, b.worker_id LIMIT $2""",
        customer_id,
        limit,
    )
