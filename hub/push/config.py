"""Push configuration: which providers this hub can use, and how hard the sender retries.

A provider is configured when its variables are set, and skipped when none of them is. A provider
that is only partly configured (an APNs key without a team id, an FCM endpoint without a service
account) is a mistake, reported at start-up with ``ConfigError`` naming the missing variable,
rather than discovered later as deliveries that all fail.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.env import ConfigError, EnvReader

DEFAULT_FCM_ENDPOINT = "https://fcm.googleapis.com"
DEFAULT_APNS_ENDPOINT = "https://api.push.apple.com"
# Apple's key ids and team ids are 10 upper-case letters or digits.
_APPLE_ID = re.compile(r"^[A-Z0-9]{10}$")
# A bundle id (reverse DNS); also the apns-topic header.
BUNDLE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,154}$")
MIN_WEBHOOK_SECRET_BYTES = 32  # an HMAC-SHA256 key should be as long as the hash (RFC 2104 §3)


@dataclass(frozen=True, slots=True)
class FcmConfig:
    project_id: str
    client_email: str
    private_key: str  # PEM, RSA
    private_key_id: str | None
    token_uri: str
    endpoint: str


@dataclass(frozen=True, slots=True)
class ApnsConfig:
    key: str  # PEM (.p8), EC P-256
    key_id: str
    team_id: str
    topic: str | None  # default bundle id; a device registered with an app_id uses its own
    endpoint: str


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    secret: str
    # Hosts a webhook device may point at ("hooks.example.com", or ".example.com" for its
    # subdomains). Without a list nobody could make the hub POST signed requests to an
    # internal address just by registering it as their "device".
    allowed_hosts: tuple[str, ...] = ()

    def allows(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(
            host == entry or (entry.startswith(".") and host.endswith(entry)) for entry in self.allowed_hosts
        )


@dataclass(frozen=True, slots=True)
class PushConfig:
    fcm: FcmConfig | None
    apns: ApnsConfig | None
    webhook: WebhookConfig | None
    max_attempts: int = 8
    backoff_base_seconds: float = 2.0
    backoff_cap_seconds: float = 600.0
    sweep_seconds: float = 5.0
    lease_seconds: float = 60.0
    batch_size: int = 100
    # A notification this old is not worth showing any more; also its APNs expiration and FCM ttl.
    ttl_seconds: int = 86_400

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PushConfig:
        r = EnvReader(os.environ if env is None else env)
        config = cls(
            fcm=_read_fcm(r),
            apns=_read_apns(r),
            webhook=_read_webhook(r),
            max_attempts=r.integer("HUB_PUSH_MAX_ATTEMPTS", 8, minimum=1, maximum=100),
            backoff_base_seconds=r.real("HUB_PUSH_BACKOFF_BASE", 2.0, minimum=0.01),
            backoff_cap_seconds=r.real("HUB_PUSH_BACKOFF_CAP", 600.0, minimum=0.01),
            sweep_seconds=r.real("HUB_PUSH_SWEEP_SECONDS", 5.0, minimum=0.05),
            ttl_seconds=r.integer("HUB_PUSH_TTL_SECONDS", 86_400, minimum=60, maximum=28 * 86_400),
        )
        if config.backoff_cap_seconds < config.backoff_base_seconds:
            raise ConfigError("HUB_PUSH_BACKOFF_CAP", "must not be below HUB_PUSH_BACKOFF_BASE")
        return config

    def configured(self, platform: str) -> bool:
        return getattr(self, platform, None) is not None


def _read_fcm(r: EnvReader) -> FcmConfig | None:
    name = "HUB_FCM_SERVICE_ACCOUNT"
    raw = r.text(name)
    endpoint = _endpoint(r, "HUB_FCM_ENDPOINT")
    if raw is None:
        if endpoint is not None:
            raise ConfigError(name, "required when HUB_FCM_ENDPOINT is set")
        return None
    account = _service_account(name, raw)
    fields: dict[str, str] = {}
    for field in ("project_id", "client_email", "private_key", "token_uri"):
        value = account.get(field)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(name, f"the service account has no {field!r}")
        fields[field] = value.strip()
    if not fields["token_uri"].startswith(("https://", "http://")):
        raise ConfigError(name, "the service account's token_uri is not an http(s) URL")
    _load_private_key(name, fields["private_key"], "RSA")
    key_id = account.get("private_key_id")
    return FcmConfig(
        project_id=fields["project_id"],
        client_email=fields["client_email"],
        private_key=fields["private_key"],
        private_key_id=key_id if isinstance(key_id, str) and key_id else None,
        token_uri=fields["token_uri"],
        endpoint=endpoint or DEFAULT_FCM_ENDPOINT,
    )


def _service_account(name: str, raw: str) -> dict[str, Any]:
    """The service-account JSON, given inline or as a path to the file Google hands out."""
    text = raw
    if not raw.startswith("{"):
        try:
            text = Path(raw).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(name, f"neither inline JSON nor a readable file ({exc.strerror})") from None
    try:
        account = json.loads(text)
    except ValueError as exc:
        raise ConfigError(name, f"not valid JSON ({exc})") from None
    if not isinstance(account, dict):
        raise ConfigError(name, "expected a JSON object (a service-account key file)")
    return account


def _read_apns(r: EnvReader) -> ApnsConfig | None:
    names = ("HUB_APNS_KEY", "HUB_APNS_KEY_ID", "HUB_APNS_TEAM_ID", "HUB_APNS_TOPIC", "HUB_APNS_ENDPOINT")
    if not any(r.text(n) for n in names):
        return None
    for required in names[:3]:
        if r.text(required) is None:
            others = ", ".join(n for n in names if n != required and r.text(n))
            raise ConfigError(required, f"required when {others} is set")
    key = r.pem("HUB_APNS_KEY")
    assert key is not None
    _load_private_key("HUB_APNS_KEY", key, "EC")
    key_id = r.text("HUB_APNS_KEY_ID") or ""
    team_id = r.text("HUB_APNS_TEAM_ID") or ""
    for var, value in (("HUB_APNS_KEY_ID", key_id), ("HUB_APNS_TEAM_ID", team_id)):
        if not _APPLE_ID.match(value):
            raise ConfigError(var, f"{value!r} is not 10 upper-case letters or digits")
    topic = r.text("HUB_APNS_TOPIC")
    if topic is not None and not BUNDLE_ID.match(topic):
        raise ConfigError("HUB_APNS_TOPIC", f"{topic!r} is not a bundle id")
    return ApnsConfig(
        key=key,
        key_id=key_id,
        team_id=team_id,
        topic=topic,
        endpoint=_endpoint(r, "HUB_APNS_ENDPOINT") or DEFAULT_APNS_ENDPOINT,
    )


def _read_webhook(r: EnvReader) -> WebhookConfig | None:
    secret = r.text("HUB_WEBHOOK_SECRET")
    if secret is None:
        return None
    if len(secret.encode()) < MIN_WEBHOOK_SECRET_BYTES:
        raise ConfigError("HUB_WEBHOOK_SECRET", f"must be at least {MIN_WEBHOOK_SECRET_BYTES} bytes long")
    hosts = tuple(h.lower().rstrip(".") for h in r.csv("HUB_WEBHOOK_ALLOWED_HOSTS"))
    if not hosts:
        raise ConfigError(
            "HUB_WEBHOOK_ALLOWED_HOSTS", "list the hosts webhooks may call (with HUB_WEBHOOK_SECRET)"
        )
    return WebhookConfig(secret=secret, allowed_hosts=hosts)


def _endpoint(r: EnvReader, name: str) -> str | None:
    value = r.url(name, ("https", "http"))
    return None if value is None else value.rstrip("/")


def _load_private_key(name: str, pem: str, kind: str) -> None:
    """Fail at start-up, not at the first send, when the key is unusable for its algorithm."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(name, f"not an unencrypted PEM private key ({exc})") from None
    if kind == "RSA" and not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(name, "expected an RSA private key (RS256)")
    if kind == "EC" and not (isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"):
        raise ConfigError(name, "expected a P-256 EC private key (ES256), as in Apple's .p8 file")
