"""Many deadlines on one timer: the next ping of every Engine.IO session, the end of every
socket's token.

A timer per deadline (``loop.call_later``: a handle, its callback and arguments, a copy of the
context) costs about 300 bytes, and every connected socket held two. Here each deadline is an
entry of a heap, ``(when, key)``, and one loop timer waits for the earliest.

A deadline that no longer matters (its socket left, its token was refreshed) is not looked for
in the heap: its entry stays until it is due, and is passed over then. The owner says when it
drops one (``dropped``); once most of the heap is such entries, the heap is rebuilt with those
still ``wanted``, so a churn of short-lived sockets with long-lived tokens cannot make it grow
without bound.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable

REBUILD_AT = 1_000  # dropped entries below this many are left to come due


class Deadlines:
    """``due(key, when)`` is called at each deadline (loop time) that is still ``wanted(key,
    when)``, in order of time."""

    def __init__(self, due: Callable[[str, float], None], wanted: Callable[[str, float], bool]) -> None:
        self._due = due
        self._wanted = wanted
        self._heap: list[tuple[float, str]] = []
        self._dropped = 0
        # The loop's handle, and the time it fires at: uvloop's ``call_at`` for a time already
        # past returns a plain ``Handle``, which has no ``when()``.
        self._timer: asyncio.Handle | None = None
        self._timer_at = 0.0

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, key: str, when: float) -> None:
        heapq.heappush(self._heap, (when, key))
        if self._timer is None or when < self._timer_at:
            self._schedule()

    def dropped(self) -> None:
        """One entry no longer matters."""
        self._dropped += 1
        if self._dropped >= REBUILD_AT and self._dropped * 2 > len(self._heap):
            self._heap = [(when, key) for when, key in self._heap if self._wanted(key, when)]
            heapq.heapify(self._heap)
            self._dropped = 0
            self._schedule()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        now = asyncio.get_running_loop().time()
        while self._heap and self._heap[0][0] <= now:
            when, key = heapq.heappop(self._heap)
            if self._wanted(key, when):
                self._due(key, when)
            elif self._dropped:
                self._dropped -= 1
        self._schedule()

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._heap:
            self._timer_at = self._heap[0][0]
            self._timer = asyncio.get_running_loop().call_at(self._timer_at, self._fire)
