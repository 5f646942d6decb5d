"""SQL migrations, applied in order, exactly once: the core's (``hub/storage/migrations``) and
each loaded extension's folder, merged into one sequence of versions.

A PostgreSQL advisory lock serialises runners, so several hub nodes starting together are safe:
the first applies what is pending, the others wait and then find nothing to do.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from hub.extension import Extension
from hub.storage.db import Conn

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Arbitrary but fixed: every hub node must take the same lock ("hub!" in ASCII).
ADVISORY_LOCK_KEY = 0x68756221
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    """The database and the migration files disagree (edited or missing migration)."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def directories(extensions: Iterable[Extension] = ()) -> tuple[Path, ...]:
    """The core's migrations folder, then each extension's."""
    return (MIGRATIONS_DIR, *(e.migrations for e in extensions if e.migrations is not None))


@cache
def load_migrations(*folders: Path) -> tuple[Migration, ...]:
    """Every migration in ``folders`` (the core's alone when none are given), by version."""
    found = []
    for folder in folders or (MIGRATIONS_DIR,):
        for path in sorted(folder.glob("*.sql")):
            match = _NAME.match(path.name)
            if not match:
                raise MigrationError(f"{path.name}: migration files are named NNNN_description.sql")
            found.append(Migration(match[1], match[2], path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        where = ", ".join(str(f) for f in folders)
        raise MigrationError(f"duplicate migration versions in {where}")
    return tuple(sorted(found, key=lambda m: m.version))


async def migrate(conn: Conn, *folders: Path) -> list[str]:
    """Apply pending migrations of ``folders`` (the core's alone when none are given); return
    the versions applied by this call."""
    migrations = load_migrations(*folders)
    await conn.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version text PRIMARY KEY,
                   name text NOT NULL,
                   checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
        applied: dict[str, str] = {r["version"]: r["checksum"] for r in rows}
        done = []
        for migration in migrations:
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version}_{migration.name} was edited after it "
                        "was applied; add a new migration instead"
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            log.info("applied migration %s_%s", migration.version, migration.name)
            done.append(migration.version)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)


async def pending(conn: Conn, *folders: Path) -> list[str]:
    """Versions not applied yet (all of them if the bookkeeping table does not exist)."""
    known = [m.version for m in load_migrations(*folders)]
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return known
    applied = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
    return [v for v in known if v not in applied]
