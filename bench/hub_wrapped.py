"""``python bench/hub_wrapped.py serve ...``: ``python -m hub`` plus benchmark-only changes, each
chosen by an environment variable that ``chat_latency.py`` sets. Without them it *is* the stock
hub; the benchmark only starts the hub through this file when one of them is asked for.

``BENCH_LIFT_CHAT_LIMIT=1`` (``--lift-chat-limit``): the hub limits ``chat:send`` to 5 messages/s
per socket (burst 20, ``hub.ratelimit.LIMITS``), so 20 agents can send at most 100 messages/s
in total and a 50/50 mix is refused above 200 messages/s whatever the hub's capacity. This raises
that limit (the socket's bucket and the one a person's sockets share) so the saturation search
finds the hub's own limit; ``compare.py`` always sets it. Same code otherwise.

``BENCH_GC_LOG_MS=N`` (``--gc-log-ms``): print every garbage collection that takes N ms or more
to stderr as ``bench-gc <monotonic> <generation> <ms> <collected>``, so stalls in the latency
series can be matched with collections (``gc.callbacks`` costs two clock reads per collection).

``BENCH_GC_OFF=1`` (``--gc-off``): a diagnostic, never a setting to measure the hub by: turn the
cyclic garbage collector off once the hub has imported everything, to show how much of the
latency tail the collector's pauses make. Reference counting still frees almost everything;
what only the collector would free (reference cycles) accumulates and shows in the RSS.

``BENCH_MEMORY_PROBE=DIR`` (``abuse_memory.py --probe``): the hub answers SIGUSR1 and SIGUSR2 with
reports of what holds its memory, written to DIR (``bench/memprobe.py``); with
``BENCH_TRACEMALLOC=1`` as well, tracemalloc traces every allocation from start-up (slower).
"""

from __future__ import annotations

import gc
import os
import sys
import time
from pathlib import Path
from typing import Any

# The hub of the checkout this file is in, as ``python -m hub`` run from its root would import.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub import ratelimit
from hub.cli import main

GC_LINE = "bench-gc"


def lift_chat_limit() -> None:
    # The namespaces look the buckets up in these dicts when a socket first sends, so replacing
    # the entries before anything connects is enough. Both: the socket's own bucket and the one
    # a person's sockets share (USER_LIMITS, derived from LIMITS when the module loads).
    unlimited = ratelimit.Limit(rate=1_000_000.0, burst=1_000_000.0)
    ratelimit.LIMITS["chat"] = ratelimit.USER_LIMITS["chat"] = unlimited


def log_collections(threshold_ms: float) -> None:
    started = 0.0

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        nonlocal started
        if phase == "start":
            started = time.perf_counter()
            return
        elapsed = (time.perf_counter() - started) * 1000
        if elapsed >= threshold_ms:
            # time.monotonic: the clock the benchmark's step windows are expressed in.
            line = f"{GC_LINE} {time.monotonic():.3f} {info['generation']} {elapsed:.1f} {info['collected']}"
            print(line, file=sys.stderr, flush=True)

    gc.callbacks.append(on_gc)


if __name__ == "__main__":
    if os.environ.get("BENCH_LIFT_CHAT_LIMIT") == "1":
        lift_chat_limit()
    if os.environ.get("BENCH_GC_LOG_MS"):
        log_collections(float(os.environ["BENCH_GC_LOG_MS"]))
    if os.environ.get("BENCH_GC_OFF") == "1":
        gc.disable()
    if os.environ.get("BENCH_MEMORY_PROBE"):
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import memprobe

        memprobe.install(Path(os.environ["BENCH_MEMORY_PROBE"]))
    sys.exit(main())
