"""SQL for the ``events`` outbox. ``publish`` joins the caller's transaction; the rest serve the relay."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from hub.events import Event, StoredEvent
from hub.storage.db import Conn, Executor

NOTIFY_CHANNEL = "hub_events"  # the trigger in 0001_events.sql notifies here


async def publish(conn: Conn, event: Event) -> None:
    """Write ``event`` in the caller's transaction: it is delivered if, and only if, that commits."""
    await conn.execute(
        "INSERT INTO events (event_id, topic, payload) VALUES ($1, $2, $3)",
        event.id,
        event.topic,
        dict(event.payload),
    )


async def publish_many(conn: Conn, events: Sequence[Event]) -> None:
    """``publish`` for several events in one statement; they are claimed in this order."""
    if not events:
        return
    await conn.execute(
        """INSERT INTO events (event_id, topic, payload)
           SELECT event_id, topic, payload::jsonb
             FROM unnest($1::uuid[], $2::text[], $3::text[]) WITH ORDINALITY
                  AS t(event_id, topic, payload, ord)
            ORDER BY ord""",
        [e.id for e in events],
        [e.topic for e in events],
        [json.dumps(dict(e.payload)) for e in events],
    )


async def claim(conn: Executor, limit: int, lease_seconds: float) -> list[StoredEvent]:
    """Take up to ``limit`` due events for this relay.

    SKIP LOCKED lets several relays claim concurrently without waiting on each other; pushing
    ``next_attempt_at`` forward by the lease hides the rows from the others until this relay
    records the outcome, or crashes and the lease runs out.
    """
    rows = await conn.fetch(
        """
        UPDATE events e
           SET attempts = e.attempts + 1,
               next_attempt_at = now() + make_interval(secs => $2)
          FROM (SELECT id FROM events
                 WHERE delivered_at IS NULL AND dead_at IS NULL AND next_attempt_at <= now()
                 ORDER BY id
                 LIMIT $1
                 FOR UPDATE SKIP LOCKED) due
         WHERE e.id = due.id
     RETURNING e.id, e.event_id, e.topic, e.payload, e.created_at, e.attempts
        """,
        limit,
        lease_seconds,
    )
    events = [
        StoredEvent(r["id"], r["event_id"], r["topic"], r["payload"], r["created_at"], r["attempts"])
        for r in rows
    ]
    events.sort(key=lambda e: e.seq)
    return events


async def delivered_subscribers(conn: Executor, event_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, set[str]]:
    done: dict[uuid.UUID, set[str]] = {}
    if not event_ids:
        return done
    rows = await conn.fetch(
        "SELECT event_id, subscriber FROM event_deliveries WHERE event_id = ANY($1::uuid[])",
        list(event_ids),
    )
    for row in rows:
        done.setdefault(row["event_id"], set()).add(row["subscriber"])
    return done


async def record_partial(conn: Executor, deliveries: Iterable[tuple[uuid.UUID, str]]) -> None:
    pairs = list(deliveries)
    if pairs:
        await conn.execute(
            """INSERT INTO event_deliveries (event_id, subscriber)
               SELECT * FROM unnest($1::uuid[], $2::text[]) ON CONFLICT DO NOTHING""",
            [p[0] for p in pairs],
            [p[1] for p in pairs],
        )


async def mark_delivered(conn: Executor, seqs: Sequence[int]) -> None:
    if seqs:
        await conn.execute(
            "UPDATE events SET delivered_at = now(), last_error = NULL WHERE id = ANY($1::bigint[])",
            list(seqs),
        )


async def mark_failed(conn: Executor, seq: int, error: str, retry_in: float | None) -> None:
    """Schedule a retry in ``retry_in`` seconds, or give up (dead letter) when it is None."""
    if retry_in is None:
        await conn.execute(
            "UPDATE events SET dead_at = now(), last_error = $2 WHERE id = $1", seq, error[:2000]
        )
    else:
        await conn.execute(
            """UPDATE events SET next_attempt_at = now() + make_interval(secs => $3), last_error = $2
                WHERE id = $1""",
            seq,
            error[:2000],
            retry_in,
        )


async def next_due_in(conn: Executor) -> float | None:
    """Seconds until the earliest pending event is due (0 if overdue), None if nothing is pending."""
    value = await conn.fetchval(
        # Not GREATEST(0, ...) in SQL: it skips NULLs, so an empty queue would read as "due now"
        # and the worker would poll the database a hundred times a second.
        """SELECT EXTRACT(EPOCH FROM min(next_attempt_at) - now())::float8
             FROM events WHERE delivered_at IS NULL AND dead_at IS NULL"""
    )
    return None if value is None else max(0.0, float(value))


async def stats(conn: Executor) -> dict[str, Any]:
    row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE delivered_at IS NULL AND dead_at IS NULL) AS pending,
                  count(*) FILTER (WHERE dead_at IS NOT NULL) AS dead,
                  COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)
                      FILTER (WHERE delivered_at IS NULL AND dead_at IS NULL)), 0)::float8 AS lag_seconds
             FROM events WHERE delivered_at IS NULL"""
    )
    assert row is not None
    return dict(row)


async def dead_letters(conn: Executor, limit: int = 50) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT event_id, topic, attempts, created_at, dead_at, last_error
             FROM events WHERE dead_at IS NOT NULL ORDER BY dead_at DESC LIMIT $1""",
        limit,
    )
    return [dict(r) for r in rows]


async def prune_delivered(conn: Executor, older_than_hours: float) -> int:
    status = await conn.execute(
        """DELETE FROM events WHERE id IN (
               SELECT id FROM events
                WHERE delivered_at < now() - make_interval(secs => $1)
                LIMIT 10000)""",
        older_than_hours * 3600,
    )
    return int(status.split()[-1])


async def release(conn: Executor, seqs: Sequence[int]) -> None:
    """Hand claimed events back undelivered (without counting the attempt)."""
    if not seqs:
        return
    await conn.execute(
        """UPDATE events SET next_attempt_at = now(), attempts = GREATEST(attempts - 1, 0)
            WHERE id = ANY($1::bigint[])""",
        list(seqs),
    )
