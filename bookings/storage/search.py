"""SQL for search: the catalog version, what the index is built from, and the synonyms."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from bookings.storage.catalog import SERVICE_COLUMNS, ServiceRecord, service_record
from hub.storage.db import Conn, Executor


async def version(db: Executor) -> int:
    """Moves with every change to services, categories or synonyms (a trigger bumps it)."""
    value: int = await db.fetchval("SELECT version FROM search_version")
    return value


async def snapshot(
    conn: Conn,
) -> tuple[int, list[ServiceRecord], list[asyncpg.Record], list[asyncpg.Record]]:
    """The version and what it covers, read in one snapshot: active services in catalog order,
    the categories, the synonyms."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        current = await version(conn)
        services = await conn.fetch(
            f"""SELECT {SERVICE_COLUMNS} FROM services s JOIN service_categories c ON c.id = s.category_id
                WHERE s.active ORDER BY c.position, s.created_at, s.id"""
        )
        categories = await conn.fetch("SELECT id, name_en, name_zh FROM service_categories")
        synonyms = await conn.fetch("SELECT term, service_id, category_id FROM search_synonyms")
    return current, [service_record(row) for row in services], categories, synonyms


async def synonyms(db: Executor) -> list[asyncpg.Record]:
    return await db.fetch(
        """SELECT id, term, service_id, category_id, created_by, created_at FROM search_synonyms
           ORDER BY coalesce(category_id, ''), coalesce(service_id, ''), term"""
    )


async def add_synonym(
    db: Executor,
    term: str,
    *,
    service_id: str | None,
    category_id: str | None,
    created_by: str | None,
    created_at: datetime | None = None,
) -> asyncpg.Record | None:
    """The new synonym, or None when the target already has this term."""
    conflict = "(term, service_id) WHERE service_id IS NOT NULL"
    if category_id is not None:
        conflict = "(term, category_id) WHERE category_id IS NOT NULL"
    return await db.fetchrow(
        f"""INSERT INTO search_synonyms (id, term, service_id, category_id, created_by, created_at)
            VALUES ($1, $2, $3, $4, $5, coalesce($6, now()))
            ON CONFLICT {conflict} DO NOTHING
            RETURNING id, term, service_id, category_id, created_by, created_at""",
        uuid.uuid4(),
        term,
        service_id,
        category_id,
        created_by,
        created_at,
    )


async def delete_synonym(db: Executor, synonym_id: uuid.UUID) -> bool:
    deleted = await db.fetchval("DELETE FROM search_synonyms WHERE id = $1 RETURNING id", synonym_id)
    return deleted is not None


async def category_exists(db: Executor, category_id: str) -> bool:
    return bool(
        await db.fetchval("SELECT EXISTS (SELECT 1 FROM service_categories WHERE id = $1)", category_id)
    )


async def service_exists(db: Executor, service_id: str) -> bool:
    return bool(await db.fetchval("SELECT EXISTS (SELECT 1 FROM services WHERE id = $1)", service_id))
