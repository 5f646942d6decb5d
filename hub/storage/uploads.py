"""SQL for chat attachments (kept in PostgreSQL so any hub node can serve them)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import asyncpg

from hub.storage.db import Executor

UPLOAD_PATH = "/api/v1/uploads/{id}"


def _describe(row: Any) -> dict[str, Any]:
    return {
        "upload_id": str(row["id"]),
        "url": UPLOAD_PATH.format(id=row["id"]),
        "content_type": row["content_type"],
        "size": row["size"],
        "filename": row["filename"],
    }


async def insert(
    conn: Executor,
    owner_id: str,
    owner_role: str,
    content_type: str,
    filename: str | None,
    content: bytes | bytearray,
) -> dict[str, Any]:
    row = await conn.fetchrow(
        """INSERT INTO uploads (id, owner_id, owner_role, content_type, size, filename, sha256, content)
           VALUES ($1, $2, $8, $3, $4, $5, $6, $7)
           RETURNING id, content_type, size, filename""",
        uuid.uuid4(),
        owner_id,
        content_type,
        len(content),
        filename,
        hashlib.sha256(content).hexdigest(),
        content,
        owner_role,
    )
    return _describe(row)


async def uploaded_since(conn: Executor, owner_id: str, owner_role: str, seconds: float) -> int:
    """Bytes the person uploaded in the last ``seconds``."""
    used = await conn.fetchval(
        """SELECT coalesce(sum(size), 0) FROM uploads
            WHERE owner_role = $2 AND owner_id = $1 AND created_at > now() - make_interval(secs => $3)""",
        owner_id,
        owner_role,
        seconds,
    )
    return int(used)


async def describe(
    conn: Executor, ids: list[uuid.UUID], owner_id: str, owner_role: str
) -> dict[uuid.UUID, dict[str, Any]]:
    """Descriptions of the uploads among ``ids`` that belong to (``owner_id``, ``owner_role``)."""
    rows = await conn.fetch(
        """SELECT id, content_type, size, filename FROM uploads
            WHERE id = ANY($1::uuid[]) AND owner_id = $2 AND owner_role = $3""",
        ids,
        owner_id,
        owner_role,
    )
    return {r["id"]: _describe(r) for r in rows}


async def owner(conn: Executor, upload_id: uuid.UUID) -> tuple[str, str | None] | None:
    """(owner id, owner role) of the upload, or None if there is no such upload. The role is None
    for an upload stored before uploads had one and never attached."""
    row = await conn.fetchrow("SELECT owner_id, owner_role FROM uploads WHERE id = $1", upload_id)
    return None if row is None else (row["owner_id"], row["owner_role"])


async def attached_in(conn: Executor, upload_id: uuid.UUID, limit: int = 100) -> list[asyncpg.Record]:
    """``kind, customer_id, worker_id, private`` of the conversations whose messages attach the
    upload (per conversation, ``private`` only if every message attaching it there is a note):
    enough to tell who may see it."""
    return await conn.fetch(
        """SELECT c.kind, c.customer_id, c.worker_id, bool_and(m.private) AS private
             FROM messages m JOIN conversations c ON c.id = m.conversation_id
            WHERE m.attachments @> jsonb_build_array(jsonb_build_object('upload_id', $1::text))
            GROUP BY c.id
            LIMIT $2""",
        str(upload_id),
        limit,
    )


async def content(conn: Executor, upload_id: uuid.UUID) -> tuple[str, str | None, bytes, str] | None:
    row = await conn.fetchrow(
        "SELECT content_type, filename, content, sha256 FROM uploads WHERE id = $1", upload_id
    )
    if row is None:
        return None
    return row["content_type"], row["filename"], bytes(row["content"]), row["sha256"]
