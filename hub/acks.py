"""The acknowledgement envelope every client→server event is answered with.

``{"ok": true, "data": ...}`` or ``{"ok": false, "error": {"code", "message", "details"?}}``.
"""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """Something the client did wrong; becomes an error ack (or an HTTP 4xx) and changes nothing."""

    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class InvalidPayload(ClientError):
    code = "invalid_payload"


def ok(data: Any = None) -> dict[str, Any]:
    return {"ok": True, "data": data}


def refused(code: str, message: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"ok": False, "error": error}


def from_error(exc: ClientError) -> dict[str, Any]:
    return refused(exc.code, exc.message, exc.details)
