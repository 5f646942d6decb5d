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
    sandbox: tuple[str, ...] = ()  # methods whose sandbox is served by the hub itself (demo only)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PaymentsConfig:
        r = EnvReader(env)
        public = r.url("HUB_PUBLIC_URL", ("http", "https"))
        sandbox = _sandbox_methods(r.text("HUB_PAY_SANDBOX") or "")
        if sandbox and public is None:  # the hub calls its own sandboxes: where it listens locally
            public = f"http://127.0.0.1:{r.text('HUB_PORT') or 8080}"
        return cls(
            public_url=None if public is None else public.rstrip("/"),
            query_after_seconds=r.real("HUB_PAY_QUERY_AFTER_SECONDS", 60.0, minimum=0.1),
            sandbox=sandbox,
        )

    def notify_url(self, method: str) -> str:
        if self.public_url is None:
            raise ConfigError("HUB_PUBLIC_URL", "is needed for a payment provider to reach the hub")
        return f"{self.public_url}/api/v1/payments/notify/{method}"


METHODS = ("wechat", "alipay", "card")


def _sandbox_methods(raw: str) -> tuple[str, ...]:
    """``HUB_PAY_SANDBOX``: ``all``, or a comma-separated list of methods; empty or ``false``: none."""
    value = raw.strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return ()
    if value in ("all", "1", "true", "yes", "on"):
        return METHODS
    methods = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ConfigError(
            "HUB_PAY_SANDBOX", f"unknown method {unknown[0]!r}; use {', '.join(METHODS)} or all"
        )
    return methods
