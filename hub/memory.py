"""Memory given back once a burst is over: what the hub frees goes back to its allocators, which
keep it for the next allocation rather than return it to the system (bench/README.md, "Memory
under abuse").

- Large blocks (an upload's body, the database driver's buffer that sends it) on mappings of their
  own, returned when freed. glibc maps blocks of 128 KiB and more, but the first time it frees one
  it raises that threshold to the block's size (up to 32 MiB) and serves the next ones from its
  heap, which it only shrinks from the top: two waves of twenty 10 MB uploads left 160 MiB of free
  heap resident for good. The threshold is set once, at start-up, so that glibc keeps it where it is;
  an operator's own ``MALLOC_MMAP_THRESHOLD_`` (glibc's tunable) is left as it is.
- Once a minute (``Release``): after a burst of closed connections, one full garbage collection,
  then glibc's free heap pages returned (``malloc_trim``). A closed connection's own objects are
  freed by reference counting as it ends (``hub.namespaces.engine`` keeps them out of reference
  cycles; a test holds it to that), but what else a burst of abusive clients leaves in cycles (an
  error's traceback kept somewhere, a library's own cycles) waits for a full collection, which the
  hub's collector thresholds (``hub.app``, for the latency tail) leave long in coming: meanwhile
  the next burst takes fresh memory besides it. A full collection takes about 50 ms with a
  thousand sockets connected, so it only runs when a thousand connections or more closed since
  the last one; a trim takes a millisecond or less.

Nothing of glibc is called on another C library.
"""

from __future__ import annotations

import ctypes
import gc
import os
from collections.abc import Callable
from typing import Any

M_MMAP_THRESHOLD = -3  # mallopt()'s parameter number, from glibc's malloc.h
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's own starting value, kept
RELEASE_EVERY_SECONDS = 60.0
COLLECT_AFTER_CLOSED = 1_000  # connections closed since the last look that call for a collection


def _function(name: str) -> Any:
    try:
        return getattr(ctypes.CDLL(None), name, None)  # the process's own C library
    except OSError:  # pragma: no cover - a platform without dlopen(NULL)
        return None


_mallopt = _function("mallopt")
_malloc_trim = _function("malloc_trim")


def on_glibc() -> bool:
    return _mallopt is not None and _malloc_trim is not None  # musl has mallopt, as a stub, only


def keep_large_blocks_mapped() -> bool:
    """Fix glibc's threshold for mapping blocks on their own; whether it was set."""
    if not on_glibc() or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    return bool(_mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


def trim() -> bool:
    """Return glibc's free heap pages to the system; whether any were."""
    if _malloc_trim is None:
        return False
    return bool(_malloc_trim(0))


class Release:
    """The minute-ly job: ``closed()`` counts the connections closed since start-up."""

    def __init__(self, closed: Callable[[], int]) -> None:
        self._closed = closed
        self._seen = closed()

    async def __call__(self) -> None:
        closed = self._closed()
        if closed - self._seen >= COLLECT_AFTER_CLOSED:
            gc.collect()
        self._seen = closed
        trim()
