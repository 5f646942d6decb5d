"""Locks held until the caller's transaction ends: a booking's row, or a named key (advisory)
for what has no row of its own to lock (a worker's money, a payment reference)."""

from __future__ import annotations

import uuid

from hub.storage.db import Conn


async def booking(conn: Conn, booking_id: uuid.UUID) -> None:
    await conn.execute("SELECT 1 FROM bookings WHERE id = $1 FOR UPDATE", booking_id)


async def key(conn: Conn, name: str) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", name)
