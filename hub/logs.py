"""Logging set-up: human-readable text or one JSON object per line (``HUB_LOG_FORMAT``)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from hub.settings import LogFormat
from hub.storage.db import unavailable

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class OutageWithoutTraceback(logging.Filter):
    """asyncpg logs a traceback each time it fails to reopen the pool's minimum of connections
    (backing off up to a minute); while the database is down that is an outage, not a bug, so the
    record keeps one line naming the error, as the hub's own outage warnings do."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and unavailable(error) is not None:
            record.msg, record.args = f"{record.getMessage()} ({error!r})", None
            record.exc_info, record.exc_text = None, None
        return True


def configure(level: str, fmt: LogFormat) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # python-socketio logs every packet at INFO, APScheduler every timer run (the 5 s sweep
    # included); keep them to warnings unless debugging.
    for noisy in ("socketio", "engineio", "aiohttp.access", "pgserver", "apscheduler"):
        logging.getLogger(noisy).setLevel(level if level == "DEBUG" else "WARNING")
    pool_logger = logging.getLogger("asyncpg.pool")
    if not any(isinstance(f, OutageWithoutTraceback) for f in pool_logger.filters):
        pool_logger.addFilter(OutageWithoutTraceback())
