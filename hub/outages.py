"""What counts as a backing service being out, as opposed to a bug: the database not answering
in time (``hub.storage.db.unavailable``) or Redis, which holds presence, being unreachable. An
outage is answered with a retryable error and logged in one line; a bug gets ``internal_error``
and a traceback."""

from __future__ import annotations

from hub.errors import Unavailable
from hub.presence.base import PRESENCE_UNAVAILABLE
from hub.storage.db import unavailable

REDIS_RETRY_AFTER_SECONDS = 1.0


def outage(exc: BaseException) -> Unavailable | None:
    """The client-facing error when ``exc`` means PostgreSQL or Redis is out; None otherwise."""
    refusal = unavailable(exc)  # first: the database's own timeouts and OSErrors are its outage
    if refusal is None and isinstance(exc, PRESENCE_UNAVAILABLE):
        refusal = Unavailable(
            "presence (Redis) did not answer; try again",
            retry_after_seconds=REDIS_RETRY_AFTER_SECONDS,
            code="presence_unavailable",
        )
    return refusal
