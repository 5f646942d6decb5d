"""The asyncpg pool, on an external PostgreSQL or on one embedded from the ``pgserver`` wheel."""

from __future__ import annotations

import asyncio
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

if TYPE_CHECKING:  # read, never imported: storage sits below the settings it is handed
    from hub.settings import Settings

log = logging.getLogger(__name__)


class EmbeddedDatabaseUnavailable(RuntimeError):
    """pgserver cannot run here; the operator must point ``HUB_DATABASE_URL`` at a server."""


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb columns in and out as Python objects, encoded once with the stdlib codec.
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


@dataclass(slots=True)
class Database:
    """An open pool plus, when embedded, the handle that keeps the local server running."""

    pool: asyncpg.Pool
    dsn: str
    embedded: Any | None = None

    async def close(self, wait_seconds: float = 5.0) -> None:
        try:
            await asyncio.wait_for(self.pool.close(), wait_seconds)
        except TimeoutError:
            log.warning("database pool did not close within %.1fs; terminating", wait_seconds)
            self.pool.terminate()
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.cleanup)
            log.info("embedded PostgreSQL stopped")


async def open_database(settings: Settings) -> Database:
    dsn = settings.database_url
    embedded = None
    if dsn is None:
        embedded = await asyncio.to_thread(start_embedded, settings.data_dir / "postgres")
        dsn = embedded.get_uri()
    try:
        pool = await create_pool(dsn, settings.db_pool_min, settings.db_pool_max)
    except BaseException:
        if embedded is not None:
            await asyncio.to_thread(embedded.cleanup)
        raise
    return Database(pool=pool, dsn=dsn, embedded=embedded)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release without asyncpg's reset query (an extra round trip on every release: about a tenth
    of the hub's time under chat load). asyncpg still rolls back a transaction left open; the hub
    sets no session state on pooled connections (no SET, no LISTEN, session locks are released)."""


async def create_pool(dsn: str, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        command_timeout=30,
    )
    assert pool is not None  # create_pool only returns None when awaited without a loop
    return pool


def start_embedded(pgdata: Path) -> Any:
    """Start (or join) PostgreSQL in ``pgdata``; blocking, so call it from a thread."""
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset; pgserver only puts a lock file there.
            warnings.simplefilter("ignore")
            import pgserver
    except ImportError as exc:  # pragma: no cover - depends on the platform's wheels
        raise EmbeddedDatabaseUnavailable(
            f"the embedded PostgreSQL (pgserver) is not available on this platform ({exc}); "
            "set HUB_DATABASE_URL to a PostgreSQL server"
        ) from exc
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    log.info("starting embedded PostgreSQL in %s", pgdata)
    try:
        server = pgserver.get_server(  # type: ignore[attr-defined]
            pgdata, cleanup_mode="stop"
        )
    except Exception as exc:
        raise EmbeddedDatabaseUnavailable(
            f"the embedded PostgreSQL could not start in {pgdata} ({exc}); "
            "set HUB_DATABASE_URL to a PostgreSQL server"
        ) from exc
    return server


# What repository functions accept: a connection (possibly inside the caller's transaction), a
# pooled one, or the pool itself for single-statement calls.
Conn = asyncpg.Connection | PoolConnectionProxy
Executor = asyncpg.Connection | PoolConnectionProxy | asyncpg.Pool
