"""Which payment providers this hub has: each one whose ``HUB_PAY_<PROVIDER>_*`` variables are set.
A provider that is not configured is refused clearly when a payment asks for it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bookings.payments.providers.alipay import AlipayConfig, AlipayProvider
from bookings.payments.providers.base import PaymentProvider
from bookings.payments.providers.card import CardConfig, CardProvider
from bookings.payments.providers.wechat import WechatConfig, WechatProvider

# method -> (read its config from the environment, or None when unset; build the provider)
Loader = Callable[[Mapping[str, str]], Any]
Factory = Callable[[Any], PaymentProvider]
KNOWN: dict[str, tuple[Loader, Factory]] = {
    "alipay": (AlipayConfig.from_env, AlipayProvider),
    "card": (CardConfig.from_env, CardProvider),
    "wechat": (WechatConfig.from_env, WechatProvider),
}


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    configs: Mapping[str, Any] = field(default_factory=dict)  # method -> its provider's config

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ProviderSettings:
        configs = {}
        for method, (load, _) in KNOWN.items():
            config = load(env)
            if config is not None:
                configs[method] = config
        return cls(configs)

    def build(self) -> dict[str, PaymentProvider]:
        return {method: KNOWN[method][1](config) for method, config in self.configs.items()}
