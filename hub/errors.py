"""Errors a client can cause: one family for the whole hub and its extensions.

Domain code raises them; the adapters turn them into what their client understands: an error
ack over Socket.IO (``hub.acks.from_error``), a status and the JSON error envelope over HTTP
(``hub.web.http``, which maps each class to its status). They never crash a handler and change
nothing. Each class subclasses the built-in it refines (``NotFound(LookupError)``), and its
``code`` is the default; a specific code names the thing: ``booking_not_found``, not ``not_found``.
"""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """Something the client did wrong; the request changes nothing."""

    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class InvalidPayload(ClientError, ValueError):
    """The input is malformed or out of range; ``details`` lists each bad field as {loc, message}."""

    code = "invalid_payload"


class Unauthenticated(ClientError, PermissionError):
    """No credentials, or credentials that cannot be trusted (missing, expired, bad signature)."""

    code = "token_missing"


class Forbidden(ClientError, PermissionError):
    """The caller is known, but this is not theirs to see or do."""

    code = "forbidden"


class NotFound(ClientError, LookupError):
    code = "not_found"


class Conflict(ClientError):
    """The request is valid but the current state does not allow it."""

    code = "conflict"


class RateLimited(ClientError):
    code = "rate_limited"
