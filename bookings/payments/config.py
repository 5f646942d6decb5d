"""Payment settings from ``HUB_*`` variables: where providers reach the hub, and which providers
are configured (each reads its own ``HUB_PAY_<PROVIDER>_*`` variables)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hub.env import ConfigError, EnvReader


@dataclass(frozen=True, slots=True)
class PaymentsConfig:
    public_url: str | None  # how providers and payers' browsers reach this hub (notify, return)
    query_after_seconds: float = 60.0  # a payment with no notify by then is asked about

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PaymentsConfig:
        r = EnvReader(env)
        public = r.url("HUB_PUBLIC_URL", ("http", "https"))
        return cls(
            public_url=None if public is None else public.rstrip("/"),
            query_after_seconds=r.real("HUB_PAY_QUERY_AFTER_SECONDS", 60.0, minimum=0.1),
        )

    def notify_url(self, method: str) -> str:
        if self.public_url is None:
            raise ConfigError("HUB_PUBLIC_URL", "is needed for a payment provider to reach the hub")
        return f"{self.public_url}/api/v1/payments/notify/{method}"
