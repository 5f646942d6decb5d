"""Migrations: applied in order, exactly once, safely from two runners at the same time."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from hub.storage.migrate import ADVISORY_LOCK_KEY, MigrationError, load_migrations, migrate, pending


async def applied_versions(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")]
    finally:
        await conn.close()


async def test_applied_once(empty_database_url: str) -> None:
    conn = await asyncpg.connect(empty_database_url)
    try:
        known = [m.version for m in load_migrations()]
        assert await pending(conn) == known
        assert await migrate(conn) == known
        assert await migrate(conn) == []
        assert await pending(conn) == []
        assert await conn.fetchval("SELECT to_regclass('events') IS NOT NULL")
    finally:
        await conn.close()
    assert await applied_versions(empty_database_url) == known


async def test_two_concurrent_runners_do_not_conflict(empty_database_url: str) -> None:
    conns = [await asyncpg.connect(empty_database_url) for _ in range(4)]
    try:
        results = await asyncio.wait_for(asyncio.gather(*(migrate(c) for c in conns)), 30)
    finally:
        for conn in conns:
            await conn.close()
    known = [m.version for m in load_migrations()]
    # Exactly one runner applied everything; the others found nothing left to do.
    assert sorted(results, key=len) == [[], [], [], known]
    assert await applied_versions(empty_database_url) == known


async def test_ordered_and_edits_detected(empty_database_url: str, tmp_path: Path) -> None:
    (tmp_path / "0002_second.sql").write_text("CREATE TABLE second (id int REFERENCES first (id));")
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE first (id int PRIMARY KEY);")
    conn = await asyncpg.connect(empty_database_url)
    try:
        assert await migrate(conn, tmp_path) == ["0001", "0002"]
        (tmp_path / "0001_first.sql").write_text("CREATE TABLE first (id bigint PRIMARY KEY);")
        load_migrations.cache_clear()
        with pytest.raises(MigrationError, match="was edited"):
            await migrate(conn, tmp_path)
    finally:
        load_migrations.cache_clear()
        await conn.close()


async def test_failed_migration_leaves_nothing_behind(empty_database_url: str, tmp_path: Path) -> None:
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE ok (id int);")
    (tmp_path / "0002_broken.sql").write_text("CREATE TABLE half (id int); SELECT no_such_function();")
    conn = await asyncpg.connect(empty_database_url)
    try:
        with pytest.raises(asyncpg.UndefinedFunctionError):
            await migrate(conn, tmp_path)
        assert await conn.fetchval("SELECT to_regclass('half')") is None
        assert await pending(conn, tmp_path) == ["0002"]
        # The lock was released: another runner can proceed.
        other = await asyncpg.connect(empty_database_url)
        try:
            assert await asyncio.wait_for(
                other.fetchval("SELECT pg_try_advisory_lock($1)", ADVISORY_LOCK_KEY), 5
            )
        finally:
            await other.close()
    finally:
        load_migrations.cache_clear()
        await conn.close()


def test_bad_file_name_is_refused(tmp_path: Path) -> None:
    (tmp_path / "first.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_description"):
        load_migrations(tmp_path)
