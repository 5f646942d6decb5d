"""Push providers, one module each, behind ``base.Provider``; ``build_providers`` picks the
configured ones."""

from __future__ import annotations

import ssl

from hub.push.config import PushConfig
from hub.push.models import Platform
from hub.push.providers.apns import ApnsProvider
from hub.push.providers.base import Outcome, Provider, SendResult
from hub.push.providers.fcm import FcmProvider
from hub.push.providers.webhook import WebhookProvider

__all__ = ["Outcome", "Provider", "SendResult", "build_providers"]


def build_providers(config: PushConfig, *, verify: ssl.SSLContext | bool = True) -> dict[Platform, Provider]:
    """One provider (with its own HTTP client) per configured platform.

    ``verify`` is the TLS trust for every provider: True for the system's CA bundle, or an
    ``ssl.SSLContext`` (tests trust their own CA this way).
    """
    providers: dict[Platform, Provider] = {}
    if config.fcm is not None:
        providers[Platform.FCM] = FcmProvider(config.fcm, ttl_seconds=config.ttl_seconds, verify=verify)
    if config.apns is not None:
        providers[Platform.APNS] = ApnsProvider(config.apns, ttl_seconds=config.ttl_seconds, verify=verify)
    if config.webhook is not None:
        providers[Platform.WEBHOOK] = WebhookProvider(config.webhook, verify=verify)
    return providers
