"""The acknowledgement envelope every client→server event is answered with, and the validation
of client payloads.

``{"ok": true, "data": ...}`` or ``{"ok": false, "error": {"code", "message", "details"?}}``;
the errors are ``hub.errors``, which ``hub.web.http`` turns into HTTP responses the same way.
"""

from __future__ import annotations

from typing import Any, TypeVar

import pydantic

from hub.errors import HubError, InvalidPayload


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


class Payload(pydantic.BaseModel):
    """Base of every client payload: unknown fields are refused (use Strict* types against coercion)."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
