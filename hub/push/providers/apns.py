"""Apple Push Notification service, token-based authentication, over HTTP/2.

The provider token is an ES256 JWT (header ``alg``, ``kid``; claims ``iss`` = team id, ``iat``)
signed with the .p8 key. APNs refuses tokens older than an hour and answers
``TooManyProviderTokenUpdates`` to a sender that refreshes more often than every 20 minutes, so
one token is reused for 50 minutes. APNs only speaks HTTP/2, hence ``http2=True``.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from typing import Any

import httpx
import jwt

from hub.push.config import ApnsConfig
from hub.push.models import Device
from hub.push.providers.base import (
    HTTP_TIMEOUT,
    Outcome,
    SendResult,
    by_status,
    network_error,
    response_json,
)
from hub.push.queue import PushMessage

log = logging.getLogger(__name__)

TOKEN_REUSE_SECONDS = 50 * 60
MAX_COLLAPSE_ID_BYTES = 64  # apns-collapse-id limit
# 400 reasons that mean the token itself is dead (not a malformed request).
_UNREGISTERED_REASONS = frozenset({"BadDeviceToken", "Unregistered", "ExpiredToken"})


class ApnsProvider:
    def __init__(
        self,
        config: ApnsConfig,
        *,
        ttl_seconds: int = 86_400,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self._config = config
        self._ttl_seconds = ttl_seconds
        # One HTTP/2 connection multiplexes concurrent sends, as Apple recommends.
        self._client = httpx.AsyncClient(
            http2=True, timeout=HTTP_TIMEOUT, verify=verify, follow_redirects=False
        )
        self._token: str | None = None
        self._token_issued_at = 0.0  # time.time() of the cached token's iat

    async def aclose(self) -> None:
        await self._client.aclose()

    def provider_token(self, now: float | None = None) -> str:
        """The cached provider token, signed anew once it is 50 minutes old."""
        current = time.time() if now is None else now
        if self._token is None or current - self._token_issued_at >= TOKEN_REUSE_SECONDS:
            iat = int(current)
            self._token = jwt.encode(
                {"iss": self._config.team_id, "iat": iat},
                self._config.key,
                algorithm="ES256",
                # Apple documents exactly alg and kid; "typ": None stops PyJWT adding "typ": "JWT".
                headers={"kid": self._config.key_id, "typ": None},
            )
            self._token_issued_at = iat
        return self._token

    def request(self, device: Device, message: PushMessage) -> tuple[str, dict[str, str], bytes]:
        """URL, headers and body of the request for ``message`` to ``device``."""
        topic = device.app_id or self._config.topic
        if topic is None:  # refused at registration; a config change could still lead here
            raise ValueError("no apns-topic: the device has no app_id and HUB_APNS_TOPIC is unset")
        headers = {
            "authorization": f"bearer {self.provider_token()}",
            "apns-topic": topic,
            "apns-push-type": "alert",
            "apns-priority": "10" if message.urgent else "5",
            "apns-expiration": str(int(time.time()) + self._ttl_seconds),
            "content-type": "application/json",
        }
        if message.collapse_key:
            headers["apns-collapse-id"] = message.collapse_key.encode()[:MAX_COLLAPSE_ID_BYTES].decode(
                errors="ignore"
            )
        aps: dict[str, Any] = {"alert": {"title": message.title, "body": message.body}}
        if message.sound:
            aps["sound"] = message.sound
        if message.urgent:
            aps["interruption-level"] = "time-sensitive"
        # Custom keys sit beside "aps" (Apple's payload format); "aps" itself is ours.
        payload = {key: value for key, value in message.data.items() if key != "aps"}
        payload["aps"] = aps
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        return f"{self._config.endpoint}/3/device/{device.token}", headers, body

    async def send(self, device: Device, message: PushMessage) -> SendResult:
        try:
            url, headers, body = self.request(device, message)
        except ValueError as exc:
            return SendResult(Outcome.FAILED, f"apns: {exc}")
        try:
            response = await self._client.post(url, headers=headers, content=body)
        except httpx.HTTPError as exc:
            return network_error("apns", exc)
        apns_id = response.headers.get("apns-id")
        if response.status_code == 200:
            return SendResult.sent(apns_id)
        reason = str(response_json(response).get("reason") or response.reason_phrase)
        error = f"apns {response.status_code} {reason}"
        if response.status_code == 410 or (response.status_code == 400 and reason in _UNREGISTERED_REASONS):
            return SendResult(Outcome.UNREGISTERED, error)
        if response.status_code == 403 and reason == "ExpiredProviderToken":
            # Our clock and Apple's disagree on the token's age: sign a new one for the retry.
            self._token = None
            return SendResult(Outcome.RETRY, error)
        return by_status(response, error)
