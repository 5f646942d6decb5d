"""The acknowledgement envelope every client→server event is answered with, and the validation
of client payloads.

``{"ok": true, "data": ...}`` or ``{"ok": false, "error": {"code", "message", "details"?}}``;
the errors are ``hub.errors``, which ``hub.web.http`` turns into HTTP responses the same way.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterator
from typing import Annotated, Any, Self, TypeVar

import pydantic
import pydantic_core

from hub.errors import HubError, InvalidPayload

# PostgreSQL's bigint: a larger integer must be refused here, or the database refuses it later
# and the client sees an internal error instead of the field at fault.
BIGINT_MAX = 2**63 - 1
Seq = Annotated[pydantic.StrictInt, pydantic.Field(ge=0, le=BIGINT_MAX)]
"""A position in a stream (chat messages, notifications) as clients send it; every seq field is one."""
MAX_TEXT_ERRORS = 20  # per payload: enough to fix a form, bounded against a flood of bad strings


def ok(data: Any = None) -> dict[str, Any]:
    return {"ok": True, "data": data}


def refused(code: str, message: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"ok": False, "error": error}


def from_error(exc: HubError) -> dict[str, Any]:
    return refused(exc.code, exc.message, exc.details)


M = TypeVar("M", bound=pydantic.BaseModel)


def parse(model: type[M], payload: Any) -> M:
    """Validate a client payload; ``InvalidPayload`` lists each bad field as {loc, message}."""
    try:
        return model.model_validate({} if payload is None else payload)
    except pydantic.ValidationError as exc:
        raise InvalidPayload("the payload is not valid", details=field_errors(exc)) from None


def parse_json(model: type[M], raw: bytes) -> M:
    """Validate a JSON request body (an empty body counts as ``{}``), like ``parse``."""
    try:
        return model.model_validate_json(raw if raw.strip() else b"{}")
    except pydantic.ValidationError as exc:
        raise InvalidPayload("the request body is not valid", details=field_errors(exc)) from None


def field_errors(exc: pydantic.ValidationError) -> list[dict[str, Any]]:
    """One ``{"loc": [path...], "message"}`` per bad field, the shape every error detail uses."""
    return [
        {"loc": list(e["loc"]), "message": e["msg"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]


# Dates a client may send: a birth date of a century ago, a certificate valid for long.
EARLIEST = dt.date(1900, 1, 1)
LATEST = dt.date(2199, 12, 31)


class Payload(pydantic.BaseModel):
    """Base of every client payload: unknown fields are refused (use Strict* types against coercion),
    and so is text PostgreSQL cannot store, in any field, list or dict key, at any depth, and any
    date outside the years a person could mean (where date arithmetic across time zones, or
    PostgreSQL, would overflow)."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    @pydantic.model_validator(mode="after")
    def _storable_text(self) -> Self:
        # Checked on the validated values, after every field: one place for every model and every
        # string that reaches a handler, whatever type the field has. (On the raw input, with a
        # "before" validator, pydantic would validate JSON bodies as Python objects, and strict
        # fields would refuse "2025-01-01" as a date.) A ValidationError raised here keeps its
        # locations, prefixed with the field of the enclosing model when this one is nested.
        problems: list[pydantic_core.InitErrorDetails] = [
            {"type": pydantic_core.PydanticCustomError("text", message), "loc": loc, "input": None}
            for loc, message in _unstorable_text(self)
        ]
        if problems:
            raise pydantic_core.ValidationError.from_exception_data(
                type(self).__name__, problems[:MAX_TEXT_ERRORS]
            )
        return self


def text_problem(value: str) -> str | None:
    """Why PostgreSQL could not store ``value`` as text, or None: it refuses NUL characters, and
    unpaired surrogates (which JSON's \\uD800 escapes can produce) are not UTF-8."""
    if "\x00" in value:
        return "must not contain NUL characters (\\u0000)"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must be valid Unicode text (no unpaired surrogates)"
    return None


def _unstorable_text(payload: Payload) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(location, problem) of each string or date in ``payload`` that cannot be stored, in field values,
    items and dict keys; iterative, so that a deeply nested value cannot exhaust the stack. A
    nested payload is skipped: it has checked itself."""
    pending: deque[tuple[tuple[str | int, ...], Any]] = deque([((), payload)])
    while pending:
        loc, value = pending.popleft()
        if isinstance(value, str):
            problem = text_problem(value)
            if problem is not None:
                yield loc, problem
        elif isinstance(value, dt.date):  # datetimes too
            if not EARLIEST <= (value.date() if isinstance(value, dt.datetime) else value) <= LATEST:
                yield loc, f"must be between {EARLIEST} and {LATEST}"
        elif isinstance(value, pydantic.BaseModel):
            if value is payload or not isinstance(value, Payload):
                pending.extend(
                    ((*loc, field.alias or name), getattr(value, name))
                    for name, field in type(value).model_fields.items()
                )
        elif isinstance(value, dict):
            for key, item in value.items():
                key_loc = (*loc, key if isinstance(key, str | int) else str(key))
                if isinstance(key, str) and (problem := text_problem(key)) is not None:
                    yield key_loc, f"key {problem}"
                pending.append((key_loc, item))
        elif isinstance(value, list | tuple | set | frozenset):
            pending.extend(((*loc, index), item) for index, item in enumerate(value))
