"""Presence timing and Redis key prefix, from ``HUB_PRESENCE_*`` variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hub.env import ConfigError, EnvReader

DEFAULT_KEY_PREFIX = "hub:presence:"


@dataclass(frozen=True, slots=True)
class PresenceConfig:
    # How long a person keeps their status after their last socket goes (hides reconnect flaps).
    grace_seconds: float = 15.0
    # Redis: how long a socket outlives its node's last heartbeat; heartbeats run every TTL/3.
    ttl_seconds: float = 20.0
    # Redis: pause between sweeps for expired sockets and ended grace periods (on every node).
    sweep_seconds: float = 1.0
    key_prefix: str = DEFAULT_KEY_PREFIX

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PresenceConfig:
        """Read ``HUB_PRESENCE_*``; raise ``ConfigError`` naming the first bad variable."""
        r = EnvReader(env)
        grace = _bounded(r, "HUB_PRESENCE_GRACE_SECONDS", 15.0, 0.0, 3600.0)
        # A sweep costs one small Lua call per node, so faster than 20 per second buys nothing.
        sweep = _bounded(r, "HUB_PRESENCE_SWEEP_SECONDS", 1.0, 0.05, 60.0)
        # The heartbeat (every TTL/3) must land well before the TTL runs out even with a slow
        # Redis round trip or a busy event loop, or live sockets would be swept as dead.
        ttl = _bounded(r, "HUB_PRESENCE_TTL_SECONDS", 20.0, 1.0, 3600.0)
        if ttl < 3 * sweep:
            raise ConfigError(
                "HUB_PRESENCE_TTL_SECONDS",
                f"must be at least 3 times HUB_PRESENCE_SWEEP_SECONDS ({3 * sweep:g}), got {ttl:g}",
            )
        return cls(
            grace_seconds=grace,
            ttl_seconds=ttl,
            sweep_seconds=sweep,
            key_prefix=r.text("HUB_PRESENCE_KEY_PREFIX") or DEFAULT_KEY_PREFIX,
        )


def _bounded(r: EnvReader, name: str, default: float, minimum: float, maximum: float) -> float:
    value = r.real(name, default, minimum=minimum)
    if not value <= maximum:  # also refuses nan, which passes the minimum check
        raise ConfigError(name, f"must be at most {maximum:g}, got {r.text(name)}")
    return value
