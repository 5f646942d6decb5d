"""Signed webhooks: the device token is the URL the hub POSTs the notification to.

Each request carries::

    Content-Type: application/json
    X-Hub-Timestamp: <unix seconds>
    X-Hub-Signature: sha256=<hex HMAC-SHA256(HUB_WEBHOOK_SECRET, "<timestamp>.<raw body>")>

and the body ``{"notification_id", "user_id", "role", "kind", "title", "body", "data", "urgent",
"sound", "collapse_key"}``. A receiver verifies it like this (Python)::

    timestamp = request.headers["X-Hub-Timestamp"]
    raw = await request.read()  # the bytes as received, before any JSON parsing
    expected = "sha256=" + hmac.new(secret, timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, request.headers["X-Hub-Signature"]):
        reject(401)
    if abs(time.time() - int(timestamp)) > 300:  # older than 5 minutes: a replay
        reject(401)

Signing the timestamp with the body stops an old request from being replayed later; the receiver
should also deduplicate on ``notification_id``, since delivery is at least once. Answer 2xx when
accepted, 410 Gone to unregister the URL (the hub deletes the device), 429 or 5xx to be retried
later (``Retry-After`` is honoured); any other status fails the delivery without a retry.
Redirects are not followed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import time
from typing import Any

import httpx

from hub.push.config import WebhookConfig
from hub.push.models import Device
from hub.push.providers.base import HTTP_TIMEOUT, Outcome, SendResult, by_status, network_error
from hub.push.queue import PushMessage

SIGNATURE_HEADER = "X-Hub-Signature"
TIMESTAMP_HEADER = "X-Hub-Timestamp"
MAX_AGE_SECONDS = 300  # what receivers should accept; documented above


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, now: float | None = None) -> bool:
    """What a receiver does: a matching signature on a timestamp at most 5 minutes old."""
    try:
        age = (time.time() if now is None else now) - int(timestamp)
    except ValueError:
        return False
    return abs(age) <= MAX_AGE_SECONDS and hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookProvider:
    def __init__(self, config: WebhookConfig, *, verify: ssl.SSLContext | bool = True) -> None:
        self._secret = config.secret
        self._client = httpx.AsyncClient(timeout=HTTP_TIMEOUT, verify=verify, follow_redirects=False)

    async def aclose(self) -> None:
        await self._client.aclose()

    @staticmethod
    def body(device: Device, message: PushMessage) -> bytes:
        payload: dict[str, Any] = {
            "notification_id": str(message.notification_id),
            "user_id": message.user_id,
            "role": message.role,
            "kind": message.kind,
            "title": message.title,
            "body": message.body,
            "data": dict(message.data),
            "urgent": message.urgent,
            "sound": message.sound,
            "collapse_key": message.collapse_key,
        }
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()

    async def send(self, device: Device, message: PushMessage) -> SendResult:
        body = self.body(device, message)
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
        }
        try:
            response = await self._client.post(device.token, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return network_error("webhook", exc)
        if 200 <= response.status_code < 300:
            return SendResult.sent()
        error = f"webhook {response.status_code} {response.reason_phrase}"
        if response.status_code == 410:
            return SendResult(Outcome.UNREGISTERED, error)
        return by_status(response, error)
