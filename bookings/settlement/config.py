"""Settlement settings from ``HUB_*`` variables: the default commission, the settlement period of
workers who chose none, and how often a node looks for periods to settle."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hub.env import EnvReader

PERIODS = ("weekly", "monthly")


@dataclass(frozen=True, slots=True)
class SettlementConfig:
    commission_pct: int = 20  # until an admin sets a rate (PUT /api/v1/admin/settings/commission)
    default_period: str = "weekly"
    check_seconds: float = 3600.0  # the settlement run looks for ended periods this often

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SettlementConfig:
        r = EnvReader(env)
        return cls(
            commission_pct=r.integer("HUB_COMMISSION_PCT", 20, minimum=0, maximum=100),
            default_period=r.choice("HUB_SETTLEMENT_DEFAULT_PERIOD", PERIODS, "weekly"),
            check_seconds=r.real("HUB_SETTLEMENT_CHECK_SECONDS", 3600.0, minimum=0.05),
        )
