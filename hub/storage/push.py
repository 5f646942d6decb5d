"""SQL for push delivery (hub/push): devices, preferences, quiet hours and the push outbox.

Devices are returned as ``Device`` (``hub/push/models.py``), mapped from their rows here
(``device_from``, ``claimed_device``); the other functions return rows or plain values that
hub/push turns into its dataclasses.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import time
from typing import Any

import asyncpg

from hub.push.models import Device, Platform
from hub.storage.db import Conn, Executor

NOTIFY_CHANNEL = "hub_push"  # the trigger in 0004_push.sql notifies here
DEVICE_COLUMNS = "id, user_id, role, platform, token, app_id, locale, created_at, last_seen_at"

# ---------------------------------------------------------------------------------------- devices


def device_from(row: asyncpg.Record) -> Device:
    return Device(
        id=row["id"],
        user_id=row["user_id"],
        role=row["role"],
        platform=Platform(row["platform"]),
        token=row["token"],
        app_id=row["app_id"],
        locale=row["locale"],
        created_at=row["created_at"],
        last_seen_at=row["last_seen_at"],
    )


def claimed_device(row: asyncpg.Record) -> Device:
    """The device of a delivery row from ``claim`` (its columns there: ``device_id``, no dates)."""
    return Device(
        id=row["device_id"],
        user_id=row["user_id"],
        role=row["role"],
        platform=Platform(row["platform"]),
        token=row["token"],
        app_id=row["app_id"],
        locale=row["locale"],
    )


async def take_over_token(conn: Conn, platform: str, token: str, user_id: str, role: str) -> int:
    """Delete the row of a token registered by another user (another id, or the same id in
    another role); return how many were deleted.

    Deleting (rather than re-pointing the row) gives the new owner a new device id, and the
    foreign key's SET NULL drops whatever was still queued for the previous owner: their
    notifications must not reach a phone that someone else now uses.
    """
    status = await conn.execute(
        "DELETE FROM push_devices WHERE platform = $1 AND token = $2 AND (user_id, role) <> ($3, $4)",
        platform,
        token,
        user_id,
        role,
    )
    return int(status.split()[-1])


async def upsert_device(
    conn: Conn,
    device_id: uuid.UUID,
    user_id: str,
    role: str,
    platform: str,
    token: str,
    app_id: str | None,
    locale: str | None,
) -> Device | None:
    """Insert the device, or refresh the caller's own row for the token.

    Returns None when the token belongs to another user (registered concurrently after
    ``take_over_token``), so the caller can take it over again.
    """
    row = await conn.fetchrow(
        f"""INSERT INTO push_devices (id, user_id, platform, token, app_id, locale, role)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (platform, token) DO UPDATE
               SET app_id = EXCLUDED.app_id, locale = EXCLUDED.locale, last_seen_at = now()
             WHERE push_devices.user_id = EXCLUDED.user_id AND push_devices.role = EXCLUDED.role
         RETURNING {DEVICE_COLUMNS}""",
        device_id,
        user_id,
        platform,
        token,
        app_id,
        locale,
        role,
    )
    return None if row is None else device_from(row)


async def evict_stale_devices(conn: Conn, user_id: str, role: str, keep: int) -> int:
    """Keep the ``keep`` most recently seen devices of a user; delete the rest."""
    status = await conn.execute(
        """DELETE FROM push_devices WHERE id IN (
               SELECT id FROM push_devices WHERE user_id = $1 AND role = $3
                ORDER BY last_seen_at DESC, created_at DESC OFFSET $2)""",
        user_id,
        keep,
        role,
    )
    return int(status.split()[-1])


async def list_devices(conn: Executor, user_id: str, role: str) -> list[Device]:
    rows = await conn.fetch(
        f"""SELECT {DEVICE_COLUMNS} FROM push_devices WHERE user_id = $1 AND role = $2
             ORDER BY created_at, id""",
        user_id,
        role,
    )
    return [device_from(row) for row in rows]


async def delete_device(conn: Executor, device_id: uuid.UUID, owner: tuple[str, str] | None = None) -> bool:
    """Delete a device (only if it is ``owner``'s, (user id, role), when given); True if a row
    was deleted."""
    if owner is None:
        status = await conn.execute("DELETE FROM push_devices WHERE id = $1", device_id)
    else:
        status = await conn.execute(
            "DELETE FROM push_devices WHERE id = $1 AND user_id = $2 AND role = $3", device_id, *owner
        )
    return status.split()[-1] != "0"


# ------------------------------------------------------------------------------------ preferences


async def channel_row(conn: Executor, user_id: str, role: str, kind: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT in_app, push FROM push_preferences WHERE user_id = $1 AND role = $2 AND kind = $3",
        user_id,
        role,
        kind,
    )


async def list_preferences(conn: Executor, user_id: str, role: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT kind, in_app, push FROM push_preferences WHERE user_id = $1 AND role = $2 ORDER BY kind",
        user_id,
        role,
    )


async def save_preferences(
    conn: Conn, user_id: str, role: str, channels: Mapping[str, tuple[bool, bool]]
) -> None:
    """Write ``{kind: (in_app, push)}`` for a user, replacing those kinds' rows."""
    if not channels:
        return
    kinds = list(channels)
    await conn.execute(
        """INSERT INTO push_preferences (user_id, role, kind, in_app, push)
           SELECT $1, $5, k, i, p FROM unnest($2::text[], $3::bool[], $4::bool[]) AS u(k, i, p)
           ON CONFLICT (user_id, role, kind) DO UPDATE
              SET in_app = EXCLUDED.in_app, push = EXCLUDED.push, updated_at = now()""",
        user_id,
        kinds,
        [channels[k][0] for k in kinds],
        [channels[k][1] for k in kinds],
        role,
    )


async def quiet_hours_row(conn: Executor, user_id: str, role: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT starts_at, ends_at, time_zone FROM push_quiet_hours WHERE user_id = $1 AND role = $2",
        user_id,
        role,
    )


async def save_quiet_hours(
    conn: Executor, user_id: str, role: str, starts_at: time, ends_at: time, zone: str
) -> None:
    await conn.execute(
        """INSERT INTO push_quiet_hours (user_id, role, starts_at, ends_at, time_zone)
           VALUES ($1, $5, $2, $3, $4)
           ON CONFLICT (user_id, role) DO UPDATE
              SET starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at,
                  time_zone = EXCLUDED.time_zone, updated_at = now()""",
        user_id,
        starts_at,
        ends_at,
        zone,
        role,
    )


async def clear_quiet_hours(conn: Executor, user_id: str, role: str) -> None:
    await conn.execute("DELETE FROM push_quiet_hours WHERE user_id = $1 AND role = $2", user_id, role)


# ------------------------------------------------------------------------------------- deliveries


async def enqueue(
    conn: Conn,
    *,
    notification_id: uuid.UUID,
    user_id: str,
    role: str,
    kind: str,
    title: str,
    body: str,
    data: dict[str, Any],
    urgent: bool,
    sound: str | None,
    collapse_key: str | None,
) -> int:
    """One delivery per device of the user; a (notification, device) pair already queued is
    skipped, so a redelivered event queues nothing twice. Returns the number of new rows."""
    status = await conn.execute(
        """INSERT INTO push_deliveries
               (notification_id, device_id, user_id, role, kind, title, body, data, urgent, sound,
                collapse_key)
           SELECT $1, d.id, $2, $10, $3, $4, $5, $6, $7, $8, $9
             FROM push_devices d WHERE d.user_id = $2 AND d.role = $10
           ON CONFLICT (notification_id, device_id) DO NOTHING""",
        notification_id,
        user_id,
        kind,
        title,
        body,
        data,
        urgent,
        sound,
        collapse_key,
        role,
    )
    return int(status.split()[-1])


async def claim(conn: Executor, limit: int, lease_seconds: float) -> list[asyncpg.Record]:
    """Take up to ``limit`` due deliveries, with their device (NULL columns if it is gone).

    As for events: SKIP LOCKED lets several senders claim at once, and the lease (pushing
    ``next_attempt_at`` forward) hides the rows from the others until this sender records the
    outcome, or dies and the lease runs out.
    """
    return await conn.fetch(
        """
        UPDATE push_deliveries p
           SET attempts = p.attempts + 1,
               next_attempt_at = now() + make_interval(secs => $2)
          FROM (SELECT q.id, d.platform, d.token, d.app_id, d.locale
                  FROM push_deliveries q
                  LEFT JOIN push_devices d ON d.id = q.device_id
                 WHERE q.status = 'queued' AND q.next_attempt_at <= now()
                 ORDER BY q.next_attempt_at, q.id
                 LIMIT $1
                 FOR UPDATE OF q SKIP LOCKED) due
         WHERE p.id = due.id
     RETURNING p.id, p.notification_id, p.device_id, p.user_id, p.role, p.kind, p.title, p.body, p.data,
               p.urgent, p.sound, p.collapse_key, p.attempts, p.created_at,
               due.platform, due.token, due.app_id, due.locale
        """,
        limit,
        lease_seconds,
    )


async def finish(
    conn: Executor, delivery_id: int, status: str, error: str | None = None, provider_id: str | None = None
) -> None:
    """Record the final outcome: ``sent``, ``failed`` or ``dropped``."""
    await conn.execute(
        """UPDATE push_deliveries
              SET status = $2, finished_at = now(), last_error = $3, provider_id = $4
            WHERE id = $1""",
        delivery_id,
        status,
        None if error is None else error[:2000],
        provider_id,
    )


async def schedule_retry(conn: Executor, delivery_id: int, error: str, retry_in: float) -> None:
    await conn.execute(
        """UPDATE push_deliveries SET next_attempt_at = now() + make_interval(secs => $3), last_error = $2
            WHERE id = $1""",
        delivery_id,
        error[:2000],
        retry_in,
    )


async def release(conn: Executor, delivery_ids: Sequence[int]) -> None:
    """Hand claimed deliveries back unsent, without counting the attempt."""
    if delivery_ids:
        await conn.execute(
            """UPDATE push_deliveries SET next_attempt_at = now(), attempts = GREATEST(attempts - 1, 0)
                WHERE id = ANY($1::bigint[]) AND status = 'queued'""",
            list(delivery_ids),
        )


async def next_due_in(conn: Executor) -> float | None:
    """Seconds until the earliest queued delivery is due (0 if overdue); None if none is queued."""
    value = await conn.fetchval(
        # Not GREATEST(0, ...) in SQL: it skips NULLs, so an empty queue would read as "due now"
        # and the worker would poll the database a hundred times a second.
        """SELECT EXTRACT(EPOCH FROM min(next_attempt_at) - now())::float8
             FROM push_deliveries WHERE status = 'queued'"""
    )
    return None if value is None else max(0.0, float(value))


async def prune_finished(conn: Executor, older_than_hours: float) -> int:
    status = await conn.execute(
        """DELETE FROM push_deliveries WHERE id IN (
               SELECT id FROM push_deliveries
                WHERE finished_at < now() - make_interval(secs => $1)
                LIMIT 10000)""",
        older_than_hours * 3600,
    )
    return int(status.split()[-1])
