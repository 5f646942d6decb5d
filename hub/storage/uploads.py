"""SQL for chat attachments (kept in PostgreSQL so any hub node can serve them)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

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
    conn: Executor, owner_id: str, content_type: str, filename: str | None, content: bytes
) -> dict[str, Any]:
    row = await conn.fetchrow(
        """INSERT INTO uploads (id, owner_id, content_type, size, filename, sha256, content)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           RETURNING id, content_type, size, filename""",
        uuid.uuid4(),
        owner_id,
        content_type,
        len(content),
        filename,
        hashlib.sha256(content).hexdigest(),
        content,
    )
    return _describe(row)


async def describe(conn: Executor, ids: list[uuid.UUID], owner_id: str) -> dict[uuid.UUID, dict[str, Any]]:
    """Descriptions of the uploads among ``ids`` that belong to ``owner_id``."""
    rows = await conn.fetch(
        "SELECT id, content_type, size, filename FROM uploads WHERE id = ANY($1::uuid[]) AND owner_id = $2",
        ids,
        owner_id,
    )
    return {r["id"]: _describe(r) for r in rows}


async def content(conn: Executor, upload_id: uuid.UUID) -> tuple[str, str | None, bytes, str] | None:
    row = await conn.fetchrow(
        "SELECT content_type, filename, content, sha256 FROM uploads WHERE id = $1", upload_id
    )
    if row is None:
        return None
    return row["content_type"], row["filename"], bytes(row["content"]), row["sha256"]
