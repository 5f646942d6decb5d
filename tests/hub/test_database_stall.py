"""A database that stops answering: every wait is bounded, clients get one retryable error
(``db_unavailable``, HTTP 503 with Retry-After), and the hub recovers on its own.

Each test runs its own PostgreSQL (``tests.support.postgres``), never the shared one, and freezes
it (SIGSTOP: connections stay open, nothing answers) or kills it."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest

from hub.errors import Unavailable
from hub.keys import DATABASE
from hub.logs import OutageWithoutTraceback
from hub.storage.db import (
    COMMAND_TIMEOUT_MARGIN_SECONDS,
    RELEASE_TIMEOUT_SECONDS,
    Timeouts,
    create_pool,
    unavailable,
)
from tests.support.clients import Peer
from tests.support.hubs import RunningHub, StartHub
from tests.support.postgres import OwnPostgres, own_postgres
from tests.support.waiting import WAIT, wait_until

ACQUIRE_SECONDS = 1.0
STATEMENT_SECONDS = 1.0
BOUNDS = {
    "HUB_DB_CONNECT_TIMEOUT_SECONDS": "1",
    "HUB_DB_ACQUIRE_TIMEOUT_SECONDS": str(ACQUIRE_SECONDS),
    "HUB_DB_STATEMENT_TIMEOUT_SECONDS": str(STATEMENT_SECONDS),
}
# The longest one database call may wait: for a connection, for the statement (the client's bound,
# a margin above the server's), then to hand the connection back. A client is promised an answer
# within a few of these.
ONE_CALL = ACQUIRE_SECONDS + STATEMENT_SECONDS + COMMAND_TIMEOUT_MARGIN_SECONDS + RELEASE_TIMEOUT_SECONDS
READINESS_BOUND = 2.0  # what /readyz promises (docs/http-api.md)


@pytest.fixture
async def postgres() -> AsyncIterator[OwnPostgres]:
    async with own_postgres() as server:  # resumed and stopped at the end, whatever the test did
        yield server


async def open_chat(hub: RunningHub, peers: list[Peer]) -> tuple[Peer, Peer, str]:
    """A customer and the agent assigned to their support conversation, both connected."""
    agent = await Peer("/support").connect(hub.url, hub.token("support", "a-1"))
    peers.append(agent)
    customer = await Peer("/customer").connect(hub.url, hub.token("customer", "c-1"))
    peers.append(customer)
    opened = await customer.ok("support:open")
    assert opened["conversation"]["status"] == "assigned", opened
    await agent.next("conversation:assigned")
    return customer, agent, opened["conversation"]["id"]


async def timed(work: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = await work
    return result, time.monotonic() - started


async def get(hub: RunningHub, path: str, token: str | None = None) -> tuple[int, dict[str, str], Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timeout = aiohttp.ClientTimeout(total=WAIT)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(hub.url + path, headers=headers) as response,
    ):
        return response.status, dict(response.headers), await response.json()


async def text(hub: RunningHub, path: str) -> str:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT)) as session,
        session.get(hub.url + path) as response,
    ):
        assert response.status == 200
        return await response.text()


async def stored(dsn: str, client_id: str) -> int:
    conn = await asyncpg.connect(dsn, timeout=WAIT)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM messages WHERE client_id = $1", client_id))
    finally:
        await conn.close()


async def _ready(hub: RunningHub) -> bool:
    return (await get(hub, "/readyz"))[0] == 200


def outage_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    def outage(message: str) -> bool:
        return "db_unavailable" in message or "database unavailable" in message

    return [r for r in caplog.records if r.name.startswith("hub") and outage(r.getMessage())]


async def test_a_frozen_database_is_answered_db_unavailable_within_the_bounds(
    postgres: OwnPostgres, start_hub: StartHub, peers: list[Peer], caplog: pytest.LogCaptureFixture
) -> None:
    hub = await start_hub(HUB_DATABASE_URL=postgres.dsn, **BOUNDS)
    customer, agent, conv = await open_chat(hub, peers)
    await customer.ok("chat:send", {"conversation_id": conv, "client_id": "before", "body": "hello"})
    message = {"conversation_id": conv, "client_id": "during", "body": "are you there?"}

    postgres.freeze()
    ack, took = await timed(customer.call("chat:send", message))
    assert ack["ok"] is False, ack  # never acknowledged as stored while it may not be
    assert ack["error"]["code"] == "db_unavailable"
    assert ack["error"]["details"] == {"retry_after_ms": 1000}
    assert took < 3 * ONE_CALL, f"chat:send answered after {took:.2f}s"

    (status, headers, body), took = await timed(
        get(hub, "/api/v1/conversations", hub.token("customer", "c-1"))
    )
    assert status == 503, body
    assert body["error"]["code"] == "db_unavailable"
    assert headers["Retry-After"] == "1"
    assert took < 3 * ONE_CALL, f"GET /api/v1/conversations answered after {took:.2f}s"

    (status, _, body), took = await timed(get(hub, "/readyz"))
    assert status == 503
    assert body["status"] == "unavailable"
    assert body["reason"].startswith("database: ")
    assert took < READINESS_BOUND + 1.0, f"/readyz answered after {took:.2f}s"

    # The outbox relay and the push sender hit the same bounds: a warning, then their backoff.
    await wait_until(lambda: any(r.name == "hub.claimloop" for r in outage_records(caplog)), within=WAIT)
    assert [r for r in outage_records(caplog) if r.exc_info] == []  # one line each, no traceback

    postgres.thaw()
    again = await customer.ok("chat:send", message)  # the client retries with the same client_id
    assert await stored(postgres.dsn, "during") == 1
    history = await agent.ok("chat:history", {"conversation_id": conv})
    assert [m["id"] for m in history["items"] if m["client_id"] == "during"] == [again["id"]]
    status, _, body = await get(hub, "/readyz")
    assert (status, body) == (200, {"status": "ready"})


async def test_a_message_stored_after_its_send_timed_out_still_reaches_the_others(
    postgres: OwnPostgres, start_hub: StartHub, peers: list[Peer]
) -> None:
    """The stalled statement usually runs once the server resumes (unless the driver's cancel
    gets there first): the sender was told db_unavailable and its retry finds a duplicate, which
    is not sent again, so the node that gave up delivers it. Either way: live, once."""
    hub = await start_hub(HUB_DATABASE_URL=postgres.dsn, **BOUNDS)
    customer, agent, conv = await open_chat(hub, peers)
    message = {"conversation_id": conv, "client_id": "stalled", "body": "are you there?"}

    postgres.freeze()
    ack = await customer.call("chat:send", message)
    assert ack["ok"] is False, ack
    assert ack["error"]["code"] == "db_unavailable"
    postgres.thaw()

    again = await customer.ok("chat:send", message)  # the client's retry
    live = await agent.next_where("chat:message", lambda m: m["client_id"] == "stalled")
    assert (again["id"], again["seq"]) == (live["id"], live["seq"])
    assert await stored(postgres.dsn, "stalled") == 1
    # Delivered once: the next message is the next thing the agent gets.
    after = await customer.ok("chat:send", {"conversation_id": conv, "client_id": "after", "body": "hi"})
    assert (await agent.next("chat:message"))["seq"] == after["seq"]


async def test_readyz_keeps_its_bound_when_the_database_bounds_are_longer(
    postgres: OwnPostgres, start_hub: StartHub
) -> None:
    hub = await start_hub(
        HUB_DATABASE_URL=postgres.dsn,
        HUB_DB_ACQUIRE_TIMEOUT_SECONDS="30",
        HUB_DB_STATEMENT_TIMEOUT_SECONDS="30",
        HUB_DB_CONNECT_TIMEOUT_SECONDS="30",
    )
    assert (await get(hub, "/readyz"))[0] == 200

    postgres.freeze()
    (status, _, body), took = await timed(get(hub, "/readyz"))  # the query hangs
    assert (status, body["status"]) == (503, "unavailable")
    assert "no answer within 2s" in body["reason"]
    assert took < READINESS_BOUND + 1.0, f"/readyz answered after {took:.2f}s"
    metrics, took = await timed(text(hub, "/metrics"))  # rendered, without the outbox figures
    assert "hub_socket_events_total" in metrics
    assert took < READINESS_BOUND + 1.0, f"/metrics answered after {took:.2f}s"

    postgres.thaw()
    await wait_until(lambda: _ready(hub), within=WAIT)


async def test_readyz_keeps_its_bound_when_no_connection_is_free(start_hub: StartHub) -> None:
    hub = await start_hub(HUB_DB_POOL_MIN="1", HUB_DB_POOL_MAX="1", HUB_DB_ACQUIRE_TIMEOUT_SECONDS="30")
    async with hub.app[DATABASE].pool.acquire():  # the only connection, held
        (status, _, body), took = await timed(get(hub, "/readyz"))
    assert (status, body["status"]) == (503, "unavailable")
    assert took < READINESS_BOUND + 1.0, f"/readyz answered after {took:.2f}s"
    assert (await get(hub, "/readyz"))[0] == 200


async def test_the_hub_recovers_from_a_database_restart(
    postgres: OwnPostgres, start_hub: StartHub, peers: list[Peer]
) -> None:
    hub = await start_hub(HUB_DATABASE_URL=postgres.dsn, **BOUNDS)
    customer, agent, conv = await open_chat(hub, peers)
    message = {"conversation_id": conv, "client_id": "across-restart", "body": "still there?"}

    postgres.kill()
    ack, took = await timed(customer.call("chat:send", message))
    assert (ack["ok"], ack["error"]["code"]) == (False, "db_unavailable"), ack
    assert took < 3 * ONE_CALL
    status, headers, body = await get(hub, "/api/v1/conversations", hub.token("customer", "c-1"))
    assert (status, body["error"]["code"], headers["Retry-After"]) == (503, "db_unavailable", "1")
    status, _, body = await get(hub, "/readyz")
    assert (status, body["status"]) == (503, "unavailable")

    await postgres.restart()
    await wait_until(lambda: _ready(hub), within=WAIT)  # no restart of the hub
    sent = await customer.ok("chat:send", message)
    assert sent["duplicate"] is False  # the first attempt never reached the database
    got = await agent.next_where("chat:message", lambda m: m["client_id"] == "across-restart")
    assert got["id"] == sent["id"]
    assert await stored(postgres.dsn, "across-restart") == 1


async def test_the_pool_bounds_every_wait(database_url: str) -> None:
    pool = await create_pool(database_url, 1, 1, Timeouts(connect=2.0, acquire=0.3, statement=0.3))
    try:
        async with pool.acquire() as conn:
            assert await conn.fetchval("SHOW statement_timeout") == "300ms"
            with pytest.raises(asyncpg.QueryCanceledError):  # enforced by the server
                await conn.execute("SELECT pg_sleep(10)")
            _, took = await timed(_refused_acquire(pool))  # the only connection is in use
            assert took < 1.5  # 0.3 s, with generous slack
        assert await pool.fetchval("SELECT 1") == 1  # the cancelled statement left it usable
    finally:
        await pool.close()


async def _refused_acquire(pool: asyncpg.Pool) -> None:
    with pytest.raises(TimeoutError):
        async with pool.acquire():
            pass


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (TimeoutError(), True),
        (ConnectionRefusedError(111, "Connection refused"), True),
        (asyncpg.QueryCanceledError("canceling statement due to statement timeout"), True),
        (asyncpg.CannotConnectNowError("the database system is starting up"), True),
        (asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"), True),
        (asyncpg.InterfaceError("cannot perform operation: connection is closed"), True),
        (asyncpg.TooManyConnectionsError("too many clients already"), True),
        (asyncpg.UniqueViolationError("duplicate key"), False),
        (asyncpg.exceptions.DataError("invalid input for query argument $1"), False),
        (ValueError("a bug"), False),
    ],
)
def test_what_counts_as_the_database_being_unavailable(error: Exception, outage: bool) -> None:
    refusal = unavailable(error)
    assert (refusal is not None) == outage
    if refusal is not None:
        assert isinstance(refusal, Unavailable)
        assert (refusal.code, refusal.details) == ("db_unavailable", {"retry_after_ms": 1000})


async def test_a_bad_query_argument_is_a_bug_not_an_outage(pool: asyncpg.Pool) -> None:
    with pytest.raises(asyncpg.DataError) as caught:  # refused by the driver, before the server
        await pool.fetchval("SELECT $1::int", "not a number")
    assert unavailable(caught.value) is None


def test_asyncpg_reconnect_failures_are_logged_without_a_traceback() -> None:
    def record(error: BaseException) -> logging.LogRecord:
        try:
            raise error
        except BaseException:
            return logging.LogRecord(
                "asyncpg.pool",
                logging.WARNING,
                __file__,
                1,
                "Failed to %s; retrying",
                ("reconnect",),
                sys.exc_info(),
            )

    outage = record(ConnectionRefusedError(111, "Connection refused"))
    assert OutageWithoutTraceback().filter(outage)
    assert outage.exc_info is None
    assert (
        outage.getMessage()
        == "Failed to reconnect; retrying (ConnectionRefusedError(111, 'Connection refused'))"
    )
    bug = record(KeyError("x"))
    assert OutageWithoutTraceback().filter(bug)
    assert bug.exc_info is not None
