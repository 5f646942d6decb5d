"""The one way the hub writes a time: ISO 8601 in UTC with ``Z``.

Every timestamp the hub sends (HTTP bodies, Socket.IO payloads and acks, notification data,
timelines, error details) reads like ``2026-12-02T10:00:00.123456Z``: converted to UTC first,
microseconds only when there are any (as pydantic writes them), so a time a client sends back
(a cursor, a ``since``) is the very instant it was given. Inputs still accept any RFC 3339 offset.
Dates without a time stay ``YYYY-MM-DD``. Payment providers' own time formats are their contracts
and do not go through here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import pydantic


def iso(at: datetime) -> str:
    """``at`` in UTC as ISO 8601 with ``Z``; a naive time is a bug (whose clock?), so it raises."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"a naive datetime has no instant to write: {at!r}")
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def iso_or_none(at: datetime | None) -> str | None:
    return None if at is None else iso(at)


def parse(text: str) -> datetime:
    """An RFC 3339 time with its offset (``Z`` or ``±hh:mm``), in UTC; ValueError otherwise."""
    at = datetime.fromisoformat(text)
    if at.tzinfo is None:
        raise ValueError("a time needs its offset (Z or +hh:mm)")
    return at.astimezone(UTC)


_SCHEMA = {"type": "string", "format": "date-time", "examples": ["2026-12-02T10:00:00.123456Z"]}

# A time in a model: any aware datetime (or RFC 3339 text with its offset) in, ``iso`` out. For the
# wire models that describe dicts the hub builds (``hub.protocol``), the value is ``iso``'s string.
Timestamp = Annotated[
    pydantic.AwareDatetime,
    pydantic.PlainSerializer(iso, return_type=str, when_used="json"),
    pydantic.WithJsonSchema(_SCHEMA),
]
