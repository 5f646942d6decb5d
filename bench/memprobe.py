"""Inside the hub process (``BENCH_MEMORY_PROBE=<dir>``, loaded by ``hub_wrapped.py``): what holds
its memory, written to ``<dir>`` when the benchmark asks with a signal.

- SIGUSR1 writes ``probe-<n>.json``: RSS, glibc's heap figures (``mallinfo2``), the number of live
  Python objects by type, the size of every per-connection, per-address and per-person structure
  of the hub and of python-socketio/engineio, the event loop's tasks by coroutine, and, when
  ``BENCH_TRACEMALLOC=1`` started tracing at start-up, a tracemalloc snapshot
  (``probe-<n>.tracemalloc``) to compare between probes, taken after a full garbage collection so
  that it holds live objects only.
- SIGUSR2 writes ``release-<n>.json``: RSS before, after a full garbage collection and after
  glibc's ``malloc_trim(0)``. What the collection gives back was garbage in reference cycles; what
  the trim gives back was free heap glibc kept (fragmentation, not live objects); the rest is live.

Both run as event-loop callbacks (``loop.add_signal_handler``), between two steps of the hub's
own work, never in the middle of one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import json
import os
import signal
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

from aiohttp import web

TRACE_FRAMES = 8


class MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


_libc = ctypes.CDLL("libc.so.6")
_libc.mallinfo2.restype = MallInfo2
_libc.malloc_trim.argtypes = [ctypes.c_size_t]


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def heap() -> dict[str, int]:
    """glibc's view, in KiB: ``in_use`` by malloc'ed blocks, ``free`` inside the heap (not given
    back to the system), ``mmapped`` (large blocks, given back at once when freed)."""
    info = _libc.mallinfo2()
    return {
        "arena": info.arena // 1024,
        "in_use": info.uordblks // 1024,
        "free": info.fordblks // 1024,
        "mmapped": info.hblkhd // 1024,
        "top_releasable": info.keepcost // 1024,
    }


def pymalloc() -> dict[str, int]:
    """CPython's small-object allocator, in KiB: its arenas (1 MiB each, mmapped, given back only
    when wholly empty), the blocks live objects use in them, and the free blocks and pools."""
    saved = os.dup(2)
    with tempfile.TemporaryFile() as out:
        try:
            os.dup2(out.fileno(), 2)
            sys._debugmallocstats()  # writes to the C stderr, here the file
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        text = out.read().decode()
    wanted = {
        "# arenas allocated current": "arenas",
        "# bytes in allocated blocks": "in_use",
        "# bytes in available blocks": "free_blocks",
    }
    found: dict[str, int] = {}
    for line in text.splitlines():
        name, _, value = line.partition("=")
        key = wanted.get(name.strip())
        if key is not None:
            number = int(value.strip().replace(",", ""))
            found[key] = number * 1024 if key == "arenas" else number // 1024
        elif "unused pools" in name:
            found["free_pools"] = int(value.strip().replace(",", "")) // 1024
    return found


def _size(value: Any) -> int | None:
    with contextlib.suppress(TypeError):
        return len(value)
    return None


def structures(app: web.Application) -> dict[str, Any]:
    """The size of each structure that grows with connections, addresses or people."""
    from hub.keys import CONTEXT, SIO, UPLOAD_GATE

    sio, hub = app[SIO], app[CONTEXT]
    manager = sio.manager
    found: dict[str, Any] = {
        "engineio.sockets": len(sio.eio.sockets),
        "socketio.environ": len(sio.environ),
        "socketio.binary_packets": len(sio._binary_packet),
        "socketio.rooms": {ns: len(rooms) for ns, rooms in manager.rooms.items()},
        "socketio.callbacks": len(manager.callbacks),
        "socketio.pending_connect": sum(len(v) for v in manager.pending_connect.values()),
        "socketio.pending_disconnect": sum(len(v) for v in manager.pending_disconnect.values()),
        "server.joining": len(getattr(sio, "_joining", ())),
        "server.joining_per_address": len(getattr(sio, "_joining_per_address", ())),
        "server.connects_per_address": _rate_table(getattr(sio, "_connects", None)),
        "server.dropping": len(getattr(sio, "_dropping", ())),
        "hub.tasks": len(hub.tasks),
        "asyncio.tasks": len(asyncio.all_tasks()),
        "upload_gate.in_flight": len(app[UPLOAD_GATE]._in_flight),
        "chat.members_cache": len(getattr(hub.chat_service, "_members", ())),
    }
    for path, namespace in sio.namespace_handlers.items():
        if hasattr(namespace, "sockets"):
            found[f"{path}.sockets"] = len(namespace.sockets)
            found[f"{path}.people"] = len(namespace.people)
            found[f"{path}.connects_per_person"] = _rate_table(namespace._connects)
    presence = hub.presence
    if hasattr(presence, "_people"):
        found["presence.people"] = len(presence._people)
        found["presence.graces"] = len(presence._graces)
    if hasattr(presence, "_sockets"):
        found["presence.sockets"] = len(presence._sockets)
    for module in ("engineio.async_server", "socketio.async_server"):
        holder = getattr(sys.modules.get(module), "task_reference_holder", None)
        found[f"{module}.task_reference_holder"] = _size(holder)
    import logging

    for handler in logging.getLogger().handlers:
        for log_filter in handler.filters:
            if hasattr(log_filter, "_kinds"):
                found["log_throttle.kinds"] = len(log_filter._kinds)
    return found


def _rate_table(table: Any) -> int | None:
    buckets = getattr(table, "_buckets", None)
    return None if buckets is None else len(buckets)


def object_counts(top: int | None = 25) -> dict[str, int]:
    """Live objects the collector tracks, by type (the ``top`` most common; None: every type)."""
    counts = Counter(type(obj).__qualname__ for obj in gc.get_objects())
    return dict(counts.most_common(top))


def task_counts() -> dict[str, int]:
    """The event loop's tasks by the coroutine each runs (its qualified name)."""
    counts = Counter(getattr(t.get_coro(), "__qualname__", "?") for t in asyncio.all_tasks())
    return dict(counts.most_common())


class Probe:
    def __init__(self, app: web.Application, out: Path) -> None:
        self.app = app
        self.out = out
        self.count = 0

    def probe(self) -> None:
        self.count += 1
        started = time.perf_counter()
        report: dict[str, Any] = {
            "rss_kib": rss_kib(),
            "heap_kib": heap(),
            "pymalloc_kib": pymalloc(),
            "gc_counts": gc.get_count(),
            "gc_frozen": gc.get_freeze_count(),
            "structures": structures(self.app),
            "objects": object_counts(),
            "objects_all": object_counts(None),
            "tasks": task_counts(),
        }
        if tracemalloc.is_tracing():
            # Garbage first, so that the snapshots compare what is live (a diagnostic run anyway).
            report["tracemalloc_gc_collected"] = gc.collect()
            current, peak = tracemalloc.get_traced_memory()
            report["tracemalloc_kib"] = {"current": current // 1024, "peak": peak // 1024}
            tracemalloc.take_snapshot().dump(str(self.out / f"probe-{self.count}.tracemalloc"))
        report["probe_seconds"] = round(time.perf_counter() - started, 3)
        _write(self.out / f"probe-{self.count}.json", report)

    def release(self) -> None:
        self.count += 1
        before = rss_kib()
        started = time.perf_counter()
        collected = gc.collect()
        gc_ms = (time.perf_counter() - started) * 1000
        after_gc = rss_kib()
        heap_after_gc = heap()
        pymalloc_after_gc = pymalloc()
        started = time.perf_counter()
        trimmed = _libc.malloc_trim(0)
        trim_ms = (time.perf_counter() - started) * 1000
        report = {
            "rss_kib": before,
            "gc_collected": collected,
            "gc_ms": round(gc_ms, 2),
            "after_gc_kib": after_gc,
            "heap_after_gc_kib": heap_after_gc,
            "pymalloc_after_gc_kib": pymalloc_after_gc,
            "malloc_trim_released": bool(trimmed),
            "malloc_trim_ms": round(trim_ms, 2),
            "after_trim_kib": rss_kib(),
            "heap_after_trim_kib": heap(),
        }
        _write(self.out / f"release-{self.count}.json", report)


def _write(path: Path, report: dict[str, Any]) -> None:
    draft = path.with_suffix(".part")
    draft.write_text(json.dumps(report, indent=1, default=str))
    os.replace(draft, path)  # the benchmark waits for the final name: it never reads half a file


def install(out: Path) -> None:
    """Wrap ``hub.app.build_app`` so that the app it builds answers SIGUSR1 and SIGUSR2."""
    import hub.app

    if os.environ.get("BENCH_TRACEMALLOC") == "1":
        tracemalloc.start(TRACE_FRAMES)
    out.mkdir(parents=True, exist_ok=True)
    build = hub.app.build_app

    def build_app(*args: Any, **kwargs: Any) -> web.Application:
        app = build(*args, **kwargs)
        probe = Probe(app, out)

        async def listen(app: web.Application) -> None:
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGUSR1, probe.probe)
            loop.add_signal_handler(signal.SIGUSR2, probe.release)

        app.on_startup.append(listen)
        return app

    hub.app.build_app = build_app  # hub.cli imports it when serving, after this
