"""Firebase Cloud Messaging, HTTP v1 API, authenticated with a service account.

OAuth2 (RFC 7523 JWT bearer grant): the hub signs an RS256 JWT with the service account's key,
POSTs it to the account's ``token_uri`` and gets an access token, cached until shortly before it
expires. Messages go to ``POST {endpoint}/v1/projects/{project_id}/messages:send``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import Mapping
from typing import Any

import httpx
import jwt

from hub.push.config import FcmConfig
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

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME = 3600  # Google accepts at most one hour
# Refresh this long before the access token expires, so no request carries a dying token.
REFRESH_MARGIN_SECONDS = 300.0
# FCM refuses these data keys: they are its own (Message.data in the v1 reference).
_RESERVED_KEY_PREFIXES = ("google", "gcm")
_RESERVED_KEYS = frozenset({"from", "message_type", "notification"})


class TokenRefused(Exception):
    """The token endpoint answered; ``transient`` says whether asking again may help."""

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


class FcmProvider:
    def __init__(
        self, config: FcmConfig, *, ttl_seconds: int = 86_400, verify: ssl.SSLContext | bool = True
    ) -> None:
        self._config = config
        self._ttl_seconds = ttl_seconds
        # One client, and so one connection pool, for the token endpoint and FCM alike.
        self._client = httpx.AsyncClient(timeout=HTTP_TIMEOUT, verify=verify, follow_redirects=False)
        self._url = f"{config.endpoint}/v1/projects/{config.project_id}/messages:send"
        self._access_token: str | None = None
        self._expires_at = 0.0  # time.monotonic() after which the cached token is not used
        self._token_lock = asyncio.Lock()  # one refresh at a time, not one per concurrent send

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, device: Device, message: PushMessage) -> SendResult:
        try:
            token = await self.access_token()
        except TokenRefused as exc:
            outcome = Outcome.RETRY if exc.transient else Outcome.FAILED
            return SendResult(outcome, f"fcm oauth: {exc}", exc.retry_after)
        except httpx.HTTPError as exc:
            return network_error("fcm oauth", exc)
        try:
            response = await self._client.post(
                self._url,
                json=self.payload(device, message),
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.HTTPError as exc:
            return network_error("fcm", exc)
        if response.status_code == 200:
            return SendResult.sent(response_json(response).get("name"))
        error = response_json(response).get("error") or {}
        status = error.get("status") if isinstance(error, dict) else None
        codes = _error_codes(error)
        description = f"fcm {response.status_code} {status or ''} {' '.join(codes)}".strip()
        if isinstance(error, dict) and error.get("message"):
            description += f": {error['message']}"
        if response.status_code == 404 or "UNREGISTERED" in codes:
            return SendResult(Outcome.UNREGISTERED, description)
        if response.status_code == 401:
            # The cached access token was revoked or expired early: fetch a new one next time.
            self._access_token = None
            return SendResult(Outcome.RETRY, description)
        return by_status(response, description)

    def payload(self, device: Device, message: PushMessage) -> dict[str, Any]:
        android: dict[str, Any] = {
            "priority": "high" if message.urgent else "normal",
            "ttl": f"{self._ttl_seconds}s",
        }
        android_notification: dict[str, Any] = {}
        aps: dict[str, Any] = {}
        apns_headers = {"apns-priority": "10" if message.urgent else "5"}
        if message.sound:
            android_notification["sound"] = message.sound
            aps["sound"] = message.sound
        if message.urgent:
            aps["interruption-level"] = "time-sensitive"
        if message.collapse_key:
            android["collapse_key"] = message.collapse_key
            apns_headers["apns-collapse-id"] = message.collapse_key[:64]
        if android_notification:
            android["notification"] = android_notification
        apns: dict[str, Any] = {"headers": apns_headers}
        if aps:
            apns["payload"] = {"aps": aps}
        body: dict[str, Any] = {
            "token": device.token,
            "notification": {"title": message.title, "body": message.body},
            "android": android,
            "apns": apns,
        }
        data = string_data(message.data)
        if data:
            body["data"] = data
        return {"message": body}

    async def access_token(self) -> str:
        """A cached OAuth2 access token, fetched anew when missing or about to expire."""
        if self._access_token is not None and time.monotonic() < self._expires_at:
            return self._access_token
        async with self._token_lock:
            if self._access_token is not None and time.monotonic() < self._expires_at:
                return self._access_token  # another send refreshed it while we waited
            token, lifetime = await self._fetch_token()
            self._access_token = token
            self._expires_at = time.monotonic() + max(
                0.0, lifetime - min(REFRESH_MARGIN_SECONDS, lifetime / 2)
            )
            return token

    def assertion(self, now: int | None = None) -> str:
        iat = int(time.time()) if now is None else now
        claims = {
            "iss": self._config.client_email,
            "scope": SCOPE,
            "aud": self._config.token_uri,
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME,
        }
        headers = {"kid": self._config.private_key_id} if self._config.private_key_id else None
        return jwt.encode(claims, self._config.private_key, algorithm="RS256", headers=headers)

    async def _fetch_token(self) -> tuple[str, float]:
        response = await self._client.post(
            self._config.token_uri,
            data={"grant_type": GRANT_TYPE, "assertion": self.assertion()},
            headers={"Accept": "application/json"},
        )
        body = response_json(response)
        if response.status_code != 200:
            reason = body.get("error_description") or body.get("error") or response.reason_phrase
            result = by_status(response, "")
            raise TokenRefused(
                f"{response.status_code} {reason}",
                transient=result.outcome is Outcome.RETRY,
                retry_after=result.retry_after,
            )
        token, lifetime = body.get("access_token"), body.get("expires_in", 3600)
        if not isinstance(token, str) or not token or not isinstance(lifetime, int | float):
            raise TokenRefused("token endpoint answered without access_token/expires_in", transient=True)
        log.info("fetched an FCM access token for %s (valid %ds)", self._config.client_email, lifetime)
        return token, float(lifetime)


def string_data(data: Mapping[str, Any]) -> dict[str, str]:
    """FCM's ``data`` is a map of strings: encode other values as JSON, drop keys FCM reserves."""
    result: dict[str, str] = {}
    for key, value in data.items():
        if key in _RESERVED_KEYS or key.lower().startswith(_RESERVED_KEY_PREFIXES):
            log.warning("dropping data key %r: FCM reserves it", key)
            continue
        result[key] = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return result


def _error_codes(error: Any) -> list[str]:
    """``errorCode`` values of the FcmError entries in ``error.details``."""
    details = error.get("details") if isinstance(error, dict) else None
    if not isinstance(details, list):
        return []
    return [d["errorCode"] for d in details if isinstance(d, dict) and isinstance(d.get("errorCode"), str)]
