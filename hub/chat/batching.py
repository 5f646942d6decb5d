"""Group commit: writes that arrive while one is in flight are written together, next.

At most one batch is in flight. A write that finds nothing in flight starts at once (on the next
turn of the event loop, which also collects whatever arrived in the same turn), so a quiet hub adds
no latency; under load every batch takes all that queued while the previous one was being written,
up to ``max_size``. The window thus adapts to the database's own speed: the slower a write, the
more the next one carries, and the fewer transactions each item costs.

Each caller gets the result of its own item, or the exception of the batch it was in. A caller
that stops waiting (cancelled, or past ``wait_seconds``) loses only its own result: an item not yet
taken is dropped, one already being written is written, and the others are unaffected.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[Sequence[R]]],
        *,
        max_size: int,
        wait_seconds: float,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        """``write`` stores a batch and returns one result per item, in order (or raises for
        all of them). ``wait_seconds`` bounds how long a caller waits: the batch in flight before
        its own, and its own."""
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self._write = write
        self._max_size = max_size
        self._wait_seconds = wait_seconds
        self._on_batch = on_batch
        self._queue: deque[tuple[T, asyncio.Future[R]]] = deque()
        self._flusher: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        """Items queued for the next batch (not counting the batch in flight)."""
        return len(self._queue)

    async def submit(self, item: T) -> R:
        """The result of writing ``item``; ``TimeoutError`` past ``wait_seconds``."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="chat-group-commit")
        async with asyncio.timeout(self._wait_seconds):
            # Waiting on the future alone: cancelling this caller cancels only its future, never
            # the write the others wait for.
            return await future

    async def _flush(self) -> None:
        try:
            while self._queue:
                batch = self._take()
                if batch:
                    await self._write_batch(batch)
        except asyncio.CancelledError:  # the hub is stopping: nobody is left waiting in vain
            while self._queue:
                self._queue.popleft()[1].cancel()
            raise
        finally:
            self._flusher = None

    def _take(self) -> list[tuple[T, asyncio.Future[R]]]:
        batch: list[tuple[T, asyncio.Future[R]]] = []
        while self._queue and len(batch) < self._max_size:
            item, future = self._queue.popleft()
            if not future.done():  # its caller gave up before it was written: not written at all
                batch.append((item, future))
        return batch

    async def _write_batch(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        if self._on_batch is not None:
            self._on_batch(len(batch))
        try:
            results = await self._write([item for item, _ in batch])
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # the database failed the whole batch: each caller gets the error
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        if len(results) != len(batch):
            error = RuntimeError(f"a batch of {len(batch)} writes returned {len(results)} results")
            log.error("%s", error)
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
