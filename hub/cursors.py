"""Opaque page cursors: every paged list answers ``next_cursor`` and takes it back as ``cursor``.

A cursor is the position after the last item of a page (a seq, a time and an id, an offset...),
tagged with the list it belongs to and encoded as URL-safe base64 of JSON. Clients treat it as
an opaque string: what it holds may change between versions, so it is never parsed by them. One
that this list did not make (garbled, from another list, of the wrong shape) is a 422
``invalid_cursor`` and reads nothing. Times inside are written by ``hub.times.iso`` and read back
as the same instant.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar, overload

import pydantic

from hub.errors import InvalidPayload
from hub.times import iso, parse

# What a cursor position is made of.
Part = int | str | datetime | uuid.UUID
MAX_LENGTH = 512  # far more than any cursor the hub makes; a longer one is not ours
MAX_OFFSET = 2**31 - 1  # a position PostgreSQL's OFFSET takes as an int

# A ``cursor`` query parameter or payload field, as it appears in a model.
CursorParam = Annotated[
    str,
    pydantic.Field(
        min_length=1,
        max_length=MAX_LENGTH,
        description="The `next_cursor` of the previous page; left out: the first page.",
    ),
]
NEXT_CURSOR_DESCRIPTION = "Pass it as `cursor` for the next page; null: there is no next page."
# The ``next_cursor`` of a list that always fits one page: always null, so that every list reads
# the same and a list may become paged later without a new shape.
NoNextCursor = Annotated[None, pydantic.Field(description="Always null: the list has one page.")]

T = TypeVar("T")
A = TypeVar("A", bound=Part)
B = TypeVar("B", bound=Part)
C = TypeVar("C", bound=Part)


def make(kind: str, *parts: Part) -> str:
    """The cursor of list ``kind`` that resumes after the item at ``parts``."""
    body = [kind, *(_encode(part) for part in parts)]
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@overload
def read(cursor: str | None, kind: str, a: type[A], /) -> tuple[A] | None: ...
@overload
def read(cursor: str | None, kind: str, a: type[A], b: type[B], /) -> tuple[A, B] | None: ...
@overload
def read(cursor: str | None, kind: str, a: type[A], b: type[B], c: type[C], /) -> tuple[A, B, C] | None: ...
def read(cursor: str | None, kind: str, *types: type[Any]) -> tuple[Any, ...] | None:
    """The position ``make(kind, ...)`` encoded, typed as ``types``; None for no cursor (the
    first page); 422 ``invalid_cursor`` for anything else."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body = json.loads(raw)
        if not isinstance(body, list) or len(body) != len(types) + 1 or body[0] != kind:
            raise ValueError("not this list's cursor")
        return tuple(_decode(value, wanted) for value, wanted in zip(body[1:], types, strict=True))
    except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise invalid() from None


def page(
    kind: str, rows: Sequence[T], limit: int, position: Callable[[T], tuple[Part, ...]]
) -> tuple[list[T], str | None]:
    """The first ``limit`` of ``rows`` (read with ``limit + 1``, so one more tells that there is a
    next page) and the cursor after the last of them; None on the last page."""
    kept = list(rows[:limit])
    if len(rows) <= limit or not kept:
        return kept, None
    return kept, make(kind, *position(kept[-1]))


def offset(cursor: str | None, kind: str) -> int:
    """Where a page of a list paged by position starts: 0 without a cursor."""
    position = read(cursor, kind, int)
    if position is None:
        return 0
    if not 0 < position[0] <= MAX_OFFSET:
        raise invalid()
    return position[0]


def offset_page(kind: str, rows: Sequence[T], limit: int, start: int) -> tuple[list[T], str | None]:
    """Like ``page``, for a list read from ``start`` (``offset``) with ``limit + 1``."""
    kept = list(rows[:limit])
    more = len(rows) > limit and start + limit <= MAX_OFFSET
    return kept, make(kind, start + limit) if more else None


def invalid() -> InvalidPayload:
    return InvalidPayload(
        "the cursor is not one this list gave: pass next_cursor exactly as received",
        code="invalid_cursor",
    )


def _encode(part: Part) -> int | str:
    if isinstance(part, datetime):
        return iso(part)
    if isinstance(part, uuid.UUID):
        return str(part)
    return part


def _decode(value: object, wanted: type[Any]) -> Part:
    # bool is an int to Python, never to a cursor.
    if wanted is int and type(value) is int:
        return value
    if isinstance(value, str):
        if wanted is str:
            return value
        if wanted is datetime:
            return parse(value)
        if wanted is uuid.UUID:
            return uuid.UUID(value)
    raise ValueError(f"expected {wanted.__name__}")
