"""The payment sandboxes mounted on the hub itself (``HUB_PAY_SANDBOX``): for a demo and for a
first walk-through on a machine with no merchant account. Each sandbox gets keys made at start-up
and is served under ``/sandbox/<method>/``; the provider of that method is configured to call it
there, so every request is signed and checked and every notify is signed and verified exactly as
with the real provider. Anyone can pay any order through a sandbox: never turn it on in production.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from aiohttp import web

from bookings.payments import keys
from bookings.payments.providers.alipay import AlipayConfig
from bookings.payments.providers.card import CardConfig
from bookings.payments.providers.wechat import WechatConfig
from bookings.payments.sandbox import alipay as alipay_sandbox
from bookings.payments.sandbox import card as card_sandbox
from bookings.payments.sandbox import wechat as wechat_sandbox

log = logging.getLogger(__name__)

# Notifies retried within a minute, not a day: a demo shows what a provider would do, quickly.
RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)
MCHID, APPID = "1900000109", "wx0sandbox0000000"
ALIPAY_APP_ID = "2021000000000001"


def mount(app: web.Application, methods: tuple[str, ...], public_url: str) -> dict[str, Any]:
    """Serve a sandbox for each of ``methods`` on ``app``; the provider configurations that use them."""
    builders = {"card": _card, "wechat": _wechat, "alipay": _alipay}
    configs: dict[str, Any] = {}
    for method in methods:
        base = f"{public_url}/sandbox/{method}"
        sandbox, config = builders[method](base, public_url)
        app.add_subapp(f"/sandbox/{method}/", sandbox)
        configs[method] = config
    log.warning(
        "payment sandbox on for %s at %s/sandbox/: anyone can pay any order; never use it in production",
        ", ".join(methods),
        public_url,
    )
    return configs


def _card(base: str, public_url: str) -> tuple[web.Application, CardConfig]:
    secret_key = "sk_test_" + secrets.token_hex(12)
    webhook_secret = "whsec_" + secrets.token_hex(16)
    sandbox = card_sandbox.create_app(
        card_sandbox.CardSandboxConfig(
            secret_key=secret_key,
            webhook_secret=webhook_secret,
            webhook_url=f"{public_url}/api/v1/payments/notify/card",
            retry_delays=RETRY_DELAYS,
            public_url=base,
        )
    )
    # A payer with no return_url of their own lands on the hub's front page after paying.
    config = CardConfig(
        secret_key=secret_key, webhook_secrets=(webhook_secret,), api_base=base, return_url=f"{public_url}/"
    )
    return sandbox, config


def _wechat(base: str, public_url: str) -> tuple[web.Application, WechatConfig]:
    merchant, platform = keys.generate(), keys.generate()
    merchant_serial = secrets.token_hex(20).upper()
    platform_serial = "PUB_KEY_ID_" + secrets.token_hex(16).upper()
    api_v3_key = secrets.token_hex(16).encode()  # 32 bytes
    sandbox = wechat_sandbox.create_app(
        wechat_sandbox.WechatSandboxConfig(
            mchid=MCHID,
            appids=(APPID,),
            api_v3_key=api_v3_key,
            merchant_keys={merchant_serial: merchant.public_pem},
            platform_serial=platform_serial,
            platform_private_key=platform.private_pem,
            retry_delays=RETRY_DELAYS,
        )
    )
    config = WechatConfig(
        mchid=MCHID,
        appid=APPID,
        merchant_serial=merchant_serial,
        merchant_private_key=merchant.private_pem,
        api_v3_key=api_v3_key,
        platform_keys={platform_serial: platform.public_pem},
        base_url=base,
    )
    return sandbox, config


def _alipay(base: str, public_url: str) -> tuple[web.Application, AlipayConfig]:
    app_key, alipay_key = keys.generate(), keys.generate()
    sandbox = alipay_sandbox.create_app(
        alipay_sandbox.AlipaySandboxConfig(
            app_id=ALIPAY_APP_ID,
            app_public_key=app_key.public_pem,
            alipay_private_key=alipay_key.private_pem,
            retry_delays=RETRY_DELAYS,
        )
    )
    config = AlipayConfig(
        app_id=ALIPAY_APP_ID,
        private_key=app_key.private_pem,
        alipay_public_key=alipay_key.public_pem,
        gateway_url=f"{base}/gateway.do",
    )
    return sandbox, config
