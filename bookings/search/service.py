"""Keyword search of the catalog on one hub process, and the synonyms an admin curates.

The index (``bookings.search.index``) is built in memory from the active services, their
categories and the synonyms, and rebuilt when ``search_version`` has moved. The version is read
at most once every ``RECHECK_SECONDS`` however many searches come in (a search box sends one per
keystroke), so another node's change is seen within that; a change made through this process is
seen at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import asyncpg
import pydantic

from bookings import catalog
from bookings.search import text
from bookings.search.index import SearchIndex, Synonym
from bookings.storage import search as store
from hub.cursors import NoNextCursor
from hub.errors import Conflict, InvalidPayload, NotFound
from hub.storage.db import Conn, Executor
from hub.times import Timestamp

log = logging.getLogger(__name__)

RECHECK_SECONDS = 1.0  # how stale a node's index may be after a change made elsewhere
MIN_TERM, MAX_TERM = 2, 50


class SynonymRecord(pydantic.BaseModel):
    id: uuid.UUID
    term: str
    service_id: str | None  # one of these two: the service the term finds,
    category_id: str | None  # or the category whose every service it finds
    created_by: str | None
    created_at: Timestamp


class SynonymList(pydantic.BaseModel):
    items: list[SynonymRecord]
    next_cursor: NoNextCursor


class CatalogSearch:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._index: SearchIndex | None = None
        self._checked_at = 0.0
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        """Check the version on the next search (after a change made through this process)."""
        self._checked_at = 0.0

    async def index(self) -> SearchIndex:
        if self._index is not None and time.monotonic() - self._checked_at < RECHECK_SECONDS:
            return self._index
        async with self._lock:  # one check (and one rebuild) for every search waiting on it
            if self._index is not None and time.monotonic() - self._checked_at < RECHECK_SECONDS:
                return self._index
            async with self._pool.acquire() as conn:
                if self._index is None or await store.version(conn) != self._index.version:
                    self._index = await _build(conn)
            self._checked_at = time.monotonic()
            return self._index

    async def find(
        self,
        q: str,
        *,
        category: str | None = None,
        duration_minutes: int | None = None,
        limit: int = 50,
    ) -> list[catalog.FoundService]:
        """Active services matching ``q`` and every filter, best first, each with why."""
        index = await self.index()
        found = []
        for hit in index.search(q):
            record = hit.service
            if category is not None and record.category_id != category:
                continue
            if duration_minutes is not None and not catalog.allows_duration(
                record.min_minutes, record.max_minutes, record.step_minutes, duration_minutes
            ):
                continue
            m = hit.matched
            found.append(catalog.found_view(record, catalog.Matched(by=m.by, term=m.term, query=m.query)))
            if len(found) >= limit:
                break
        return found


async def _build(conn: Conn) -> SearchIndex:
    started = time.monotonic()
    version, services, categories, synonyms = await store.snapshot(conn)
    index = SearchIndex(
        version,
        services,
        {row["id"]: (row["name_en"], row["name_zh"]) for row in categories},
        [Synonym(row["term"], row["service_id"], row["category_id"]) for row in synonyms],
    )
    log.info(
        "search index built: version %d, %d services, %d synonyms in %.0f ms",
        version,
        len(services),
        len(synonyms),
        (time.monotonic() - started) * 1000,
    )
    return index


# Synonyms ----------------------------------------------------------------------------------------


def clean_term(raw: str) -> str:
    """The stored form (``text.normalise``); refused unless it has 2 to 50 characters and a
    letter, a digit or a Chinese character to match."""
    term = text.normalise(raw)
    if not (MIN_TERM <= len(term) <= MAX_TERM) or not text.tokens(term):
        raise InvalidPayload(
            f"a synonym has {MIN_TERM} to {MAX_TERM} characters, with letters or Chinese characters",
            code="invalid_synonym",
        )
    return term


async def synonyms(db: Executor) -> SynonymList:
    return SynonymList(
        next_cursor=None, items=[SynonymRecord(**dict(row)) for row in await store.synonyms(db)]
    )


async def add_synonym(
    db: Executor,
    term: str,
    *,
    service_id: str | None = None,
    category_id: str | None = None,
    created_by: str | None = None,
) -> SynonymRecord:
    """A term that finds a service (or every service of a category); 409 ``synonym_exists`` when
    the target has it already."""
    cleaned = clean_term(term)
    if service_id is not None and not await store.service_exists(db, service_id):
        raise NotFound("no such service", code="service_not_found")
    if category_id is not None and not await store.category_exists(db, category_id):
        raise NotFound("no such category", code="category_not_found")
    row = await store.add_synonym(
        db, cleaned, service_id=service_id, category_id=category_id, created_by=created_by
    )
    if row is None:
        raise Conflict("this synonym is there already", code="synonym_exists")
    return SynonymRecord(**dict(row))


async def delete_synonym(db: Executor, synonym_id: uuid.UUID) -> None:
    if not await store.delete_synonym(db, synonym_id):
        raise NotFound("no such synonym", code="synonym_not_found")
