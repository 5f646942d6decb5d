"""What every push provider offers the sender: ``send(device, message) -> SendResult``."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx

from hub.push.models import Device
from hub.push.queue import PushMessage

# Connect and read timeouts for provider calls; the sender bounds each send as a whole too.
HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MAX_RETRY_AFTER_SECONDS = 3600.0  # a longer Retry-After is honoured up to this


class Outcome(enum.StrEnum):
    SENT = "sent"
    RETRY = "retry"  # transient: network error, 429, 5xx
    UNREGISTERED = "unregistered"  # the token is dead: delete the device
    FAILED = "failed"  # permanent: retrying the same request cannot help


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Outcome
    error: str | None = None
    retry_after: float | None = None  # seconds, from the provider's Retry-After
    provider_id: str | None = None  # the provider's id for the message, when it gives one

    @classmethod
    def sent(cls, provider_id: str | None = None) -> SendResult:
        return cls(Outcome.SENT, provider_id=provider_id)


class Provider(Protocol):
    async def send(self, device: Device, message: PushMessage) -> SendResult: ...

    async def aclose(self) -> None: ...


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a ``Retry-After`` header: delay-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_SECONDS)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max(0.0, when.timestamp() - time.time()), MAX_RETRY_AFTER_SECONDS)


def transient(status: int) -> bool:
    """Statuses worth retrying: timeouts, throttling and server errors."""
    return status in (408, 429) or status >= 500


def by_status(response: httpx.Response, error: str) -> SendResult:
    """The usual reading of an unsuccessful response: retry transient statuses, else fail."""
    if transient(response.status_code):
        return SendResult(Outcome.RETRY, error, retry_after(response))
    return SendResult(Outcome.FAILED, error)


def network_error(provider: str, exc: Exception) -> SendResult:
    return SendResult(Outcome.RETRY, f"{provider}: {type(exc).__name__}: {exc}")


def response_json(response: httpx.Response) -> dict[str, Any]:
    """The response body as a JSON object, or {} when it is not one (an HTML error page, say)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
