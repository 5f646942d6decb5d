"""Bookings' migrations live in bookings/migrations/ with the versions and checksums they had when
all migrations were one folder, so a database migrated before the move keeps working."""

from __future__ import annotations

import shutil
from pathlib import Path

import asyncpg

from bookings.extension import BookingsExtension
from hub.storage.migrate import MIGRATIONS_DIR, directories, load_migrations, migrate, pending


async def test_a_database_migrated_from_one_folder_needs_nothing_more(
    empty_database_url: str, tmp_path: Path
) -> None:
    assert BookingsExtension.migrations is not None
    for folder in (MIGRATIONS_DIR, BookingsExtension.migrations):
        for sql in folder.glob("*.sql"):
            shutil.copy(sql, tmp_path / sql.name)
    conn = await asyncpg.connect(empty_database_url)
    try:
        before = await migrate(conn, tmp_path)  # as every hub did when they were one folder
        assert "0005" in before
        folders = directories([BookingsExtension.from_env({})])
        assert await migrate(conn, *folders) == []  # same versions, same checksums
        assert await pending(conn, *folders) == []
        assert await pending(conn) == []  # the core alone is content too
    finally:
        await conn.close()
    assert [m.version for m in load_migrations(*folders)] == before


def test_bookings_versions_share_one_sequence_with_the_cores() -> None:
    core = {m.version for m in load_migrations()}
    merged = [m.version for m in load_migrations(*directories([BookingsExtension.from_env({})]))]
    assert len(set(merged)) == len(merged)
    assert core < set(merged)
    # Bookings' tables build on the core's first four migrations (events, chat, notifications,
    # push), so its own come after those; later core migrations take the next free versions.
    assert min(set(merged) - core) > "0004"
