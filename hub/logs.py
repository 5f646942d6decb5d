"""Logging set-up: human-readable text or one JSON object per line (``HUB_LOG_FORMAT``)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from hub.settings import LogFormat

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
