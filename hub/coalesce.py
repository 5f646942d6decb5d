"""Coalesced passes: work that each request needs done at least once after it was made.

A support assignment pass reads the whole queue, so one pass serves every request that came
before it started. Requests that arrive while a pass runs share the single pass after it, instead
of queueing one pass each behind a lock: under a burst of ``support:open`` the number of passes
stays near the number of database round trips one pass takes, not the number of requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class CoalescedPasses:
    def __init__(self, work: Callable[[bool], Awaitable[None]], name: str) -> None:
        """``work(flag)`` is one pass; ``flag`` is true when any request it serves asked for it."""
        self._work = work
        self._name = name
        self._next: asyncio.Future[None] | None = None  # the pass not started yet, shared
        self._flag = False
        self._runner: asyncio.Task[None] | None = None

    async def request(self, flag: bool = False) -> None:
        """Return once a pass that started after this call has finished; raise what it raised.
        A caller that is cancelled stops waiting; the pass goes on for the others."""
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
            # Nobody may be left to read a failure (every waiter cancelled): mark it read.
            self._next.add_done_callback(_read)
        self._flag = self._flag or flag
        waiting = self._next
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name=self._name)
        await asyncio.shield(waiting)

    async def _run(self) -> None:
        try:
            while self._next is not None:
                done, flag = self._next, self._flag
                self._next, self._flag = None, False
                try:
                    await self._work(flag)
                except asyncio.CancelledError:
                    done.cancel()
                    raise
                except Exception as exc:
                    done.set_exception(exc)
                else:
                    done.set_result(None)
        finally:
            self._runner = None
            if self._next is not None:  # stopped (the hub is shutting down): nobody waits in vain
                self._next.cancel()
                self._next = None

    async def close(self) -> None:
        """Stop the pass in progress, if any (shutdown)."""
        runner = self._runner
        if runner is not None:
            runner.cancel()
            await asyncio.wait([runner], timeout=2.0)


def _read(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()
