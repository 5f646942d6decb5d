"""Errors a client is told about: one family for the whole hub and its extensions.

Domain code raises them; the adapters turn them into what their client understands: an error
ack over Socket.IO (``hub.acks.from_error``), a status and the JSON error envelope over HTTP
(``hub.web.http``, which maps each class to its status). They never crash a handler. Each class
subclasses the built-in it refines (``NotFound(LookupError)``), and its ``code`` is the default; a
specific code names the thing: ``booking_not_found``, not ``not_found``.

``ClientError``s are caused by the client and change nothing. ``Unavailable`` is the one error the
client did not cause: the hub could not do the work now, and the client should retry.
"""

from __future__ import annotations

from typing import Any


class HubError(Exception):
    """What a client is told: a stable ``code``, a ``message`` for people, optional ``details``."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class ClientError(HubError):
    """Something the client did wrong; the request changes nothing."""

    code = "bad_request"


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


class Unavailable(HubError):
    """The database did not answer in time, or could not be reached: retry after
    ``details["retry_after_ms"]``. The request may or may not have taken effect, so a retry must be
    idempotent: the same ``client_id`` for a chat message, the same ``Idempotency-Key`` for a create.

    Domain code does not raise it: it lets the driver's timeouts and connection errors go up, and
    the adapters turn them into this error (``hub.storage.db.unavailable``)."""

    code = "db_unavailable"

    def __init__(self, message: str, *, retry_after_seconds: float, code: str | None = None) -> None:
        super().__init__(message, code=code, details={"retry_after_ms": round(retry_after_seconds * 1000)})
        self.retry_after_seconds = retry_after_seconds
