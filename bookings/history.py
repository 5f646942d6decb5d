"""A customer's browsing and search history, kept only while they consent.

Consent is off until the customer turns it on (``customer_privacy``). While it is on, the app
records the services and worker profiles they look at, and the catalog search records what they
search for; turning it off deletes everything recorded, in the same transaction. Each record
holds the customer's consent row (``FOR SHARE``) while it writes, so a record racing a withdrawal
either finds consent gone or is deleted with the rest: nothing is kept without consent. The
newest ``KEEP`` events per customer are kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import asyncpg
import pydantic

from bookings.storage import catalog as catalog_store
from bookings.storage import history as store
from bookings.storage import workers as worker_store
from hub import cursors
from hub.cursors import NEXT_CURSOR_DESCRIPTION
from hub.errors import NotFound
from hub.storage.db import Conn, Executor
from hub.times import Timestamp

Kind = Literal["service_view", "worker_view", "search"]
KEEP = store.KEEP
# A search made within this long of the previous one, and extending or shortening it, replaces
# it: a search box searches at every keystroke, and "照", "照顾", "照顾小孩" is one search.
REFINE_SECONDS = 60.0
FOUND_KEPT = 3  # a search keeps its first results, for recommendations


class Privacy(pydantic.BaseModel):
    history: bool  # whether browsing and search history is kept
    changed_at: Timestamp | None  # when it was last turned on or off; None: never chosen


class HistoryEvent(pydantic.BaseModel):
    id: int
    kind: Kind
    service_id: str | None  # a service_view's service
    worker_id: str | None  # a worker_view's worker
    query: str | None  # a search's words
    found: list[str]  # a search's first results (service ids), best first
    at: Timestamp


class History(pydantic.BaseModel):
    history: bool
    items: list[HistoryEvent]  # newest first
    next_cursor: str | None = pydantic.Field(description=NEXT_CURSOR_DESCRIPTION)


class Recorded(pydantic.BaseModel):
    recorded: bool  # false while the customer does not consent: nothing was kept
    event: HistoryEvent | None


def _event(row: asyncpg.Record) -> HistoryEvent:
    return HistoryEvent(
        id=row["id"],
        kind=row["kind"],
        service_id=row["service_id"],
        worker_id=row["worker_id"],
        query=row["query"],
        found=list(row["found"]),
        at=row["created_at"],
    )


async def privacy(db: Executor, customer_id: str) -> Privacy:
    row = await store.privacy(db, customer_id)
    return Privacy(history=False, changed_at=None) if row is None else Privacy(**dict(row))


async def set_privacy(conn: Conn, customer_id: str, history: bool) -> Privacy:
    """Turn history on or off; off deletes everything recorded. Call inside a transaction."""
    row = await store.set_history(conn, customer_id, history)
    if not history:
        await store.clear(conn, customer_id)
    return Privacy(**dict(row))


async def record_view(
    conn: Conn, customer_id: str, kind: Kind, *, service_id: str | None, worker_id: str | None
) -> Recorded:
    """A service or worker profile the customer looked at, if they consent. Unknown ids are
    refused whether or not they do. Call inside a transaction."""
    if kind == "service_view":
        if service_id is None or await catalog_store.active_service(conn, service_id) is None:
            raise NotFound("no such service", code="service_not_found")
    elif worker_id is None or await worker_store.name(conn, worker_id) is None:
        raise NotFound("no such worker", code="worker_not_found")
    if not await store.consents(conn, customer_id):
        return Recorded(recorded=False, event=None)
    row = await store.add(conn, customer_id, kind, service_id=service_id, worker_id=worker_id)
    return Recorded(recorded=True, event=_event(row))


async def record_search(conn: Conn, customer_id: str, query: str, found: Sequence[str]) -> Recorded:
    """What the customer searched for and its first results, if they consent; a refinement of
    the search just before replaces it. Call inside a transaction."""
    if not await store.consents(conn, customer_id):
        return Recorded(recorded=False, event=None)
    found = list(found[:FOUND_KEPT])
    previous = await store.recent_search(conn, customer_id, REFINE_SECONDS)
    if previous is not None and _refines(previous["query"], query):
        row = await store.replace_search(conn, previous["id"], query, found)
    else:
        row = await store.add(conn, customer_id, "search", query=query, found=found)
    return Recorded(recorded=True, event=_event(row))


def _refines(before: str, after: str) -> bool:
    a, b = before.strip(), after.strip()
    return a.startswith(b) or b.startswith(a)


async def history(db: Executor, customer_id: str, limit: int = KEEP, cursor: str | None = None) -> History:
    consent = await privacy(db, customer_id)
    after = cursors.read(cursor, "history", int)
    rows = await store.events(db, customer_id, limit + 1, None if after is None else after[0])
    found, next_cursor = cursors.page("history", [_event(row) for row in rows], limit, lambda e: (e.id,))
    return History(history=consent.history, items=found, next_cursor=next_cursor)


async def events(db: Executor, customer_id: str) -> list[HistoryEvent]:
    return [_event(row) for row in await store.events(db, customer_id)]


async def clear(db: Executor, customer_id: str) -> int:
    """Delete what was recorded; consent stays as it is."""
    return await store.clear(db, customer_id)
