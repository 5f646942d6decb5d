"""Devices that receive push notifications: an FCM or APNs token, or a webhook URL, per user."""

from __future__ import annotations

import ipaddress
import re
import uuid
from urllib.parse import urlsplit

from hub.errors import InvalidPayload
from hub.push.config import BUNDLE_ID, PushConfig, WebhookConfig
from hub.push.models import Device, Platform
from hub.storage import push as store
from hub.storage.db import Conn, Executor

# A user rarely has more than a few phones; tokens that rotate leave stale rows behind until a
# provider reports them unregistered. Beyond this, the least recently seen ones are dropped.
MAX_DEVICES_PER_USER = 20
MAX_TOKEN_LENGTH = 4096
_FCM_TOKEN = re.compile(r"^[A-Za-z0-9_:.\-]+$")
# Apple says not to rely on the length of a device token, only that it is hex.
_APNS_TOKEN = re.compile(r"^(?:[0-9a-fA-F]{2}){16,100}$")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8}){0,4}$")
_LOCAL_HOSTS = frozenset({"localhost"})


def check_registration(
    config: PushConfig, platform: Platform, token: str, app_id: str | None, locale: str | None
) -> str:
    """Validate a registration against the platform's token format; return the token to store.

    Raises ``InvalidPayload`` (HTTP 422) naming the field, including for a platform this hub has
    no credentials for: such a device could never receive anything.
    """
    if not config.configured(platform.value):
        raise _invalid("platform", f"{platform.value} push is not configured on this hub")
    token = token.strip()
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise _invalid("token", f"must be 1 to {MAX_TOKEN_LENGTH} characters")
    if platform is Platform.FCM and not _FCM_TOKEN.match(token):
        raise _invalid("token", "not an FCM registration token")
    if platform is Platform.APNS:
        if not _APNS_TOKEN.match(token):
            raise _invalid("token", "an APNs device token is a hexadecimal string")
        token = token.lower()  # the same token in either case must be one device
        if app_id is None and (config.apns is None or config.apns.topic is None):
            raise _invalid("app_id", "required: this hub has no default APNs topic (HUB_APNS_TOPIC)")
    if platform is Platform.WEBHOOK and config.webhook is not None:
        check_webhook_url(token, config.webhook)
    if app_id is not None and not BUNDLE_ID.match(app_id):
        raise _invalid("app_id", "letters, digits, dots and dashes (a bundle id), at most 155")
    if locale is not None and not _LOCALE.match(locale):
        raise _invalid("locale", "a language tag such as 'en', 'zh-Hans-CN' or 'pt_BR'")
    return token


def check_webhook_url(url: str, config: WebhookConfig) -> None:
    """A webhook must be https to an allowed host; plain http only for a receiver on this machine."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise _invalid("token", "not a valid URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise _invalid("token", "a webhook token is the https:// URL to call")
    if parts.username is not None or parts.password is not None:
        raise _invalid("token", "credentials in the URL are not allowed")
    if parts.scheme == "http" and not _is_local(parts.hostname):
        raise _invalid("token", "use https:// (http:// is accepted for localhost only)")
    if not config.allows(parts.hostname):
        raise _invalid("token", f"{parts.hostname} is not among HUB_WEBHOOK_ALLOWED_HOSTS")


def _is_local(host: str) -> bool:
    if host.lower() in _LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _invalid(field: str, message: str) -> InvalidPayload:
    return InvalidPayload(f"{field}: {message}", details=[{"loc": [field], "message": message}])


async def register(
    conn: Conn,
    user_id: str,
    role: str,
    platform: Platform,
    token: str,
    *,
    app_id: str | None = None,
    locale: str | None = None,
) -> tuple[Device, bool]:
    """Register a (validated) token for the user (id and role); return the device and whether
    it is new.

    Registering a token again refreshes it (same id). A token another user registered (another
    id, or the same id in another role) moves to this user, as a new device: the phone changed
    hands, or someone logged in as another user.
    """
    async with conn.transaction():
        for _ in range(3):
            await store.take_over_token(conn, platform.value, token, user_id, role)
            new_id = uuid.uuid4()
            device = await store.upsert_device(
                conn, new_id, user_id, role, platform.value, token, app_id, locale
            )
            if device is not None:
                await store.evict_stale_devices(conn, user_id, role, MAX_DEVICES_PER_USER)
                return device, device.id == new_id
            # Another user registered the token between our DELETE and INSERT: take it again.
    raise RuntimeError(f"could not register a {platform.value} token: it keeps changing hands")


async def list_for_user(conn: Executor, user_id: str, role: str) -> list[Device]:
    return await store.list_devices(conn, user_id, role)


async def remove(conn: Executor, user_id: str, role: str, device_id: uuid.UUID) -> bool:
    """Delete one of the user's devices; False when it does not exist or is someone else's."""
    return await store.delete_device(conn, device_id, (user_id, role))
