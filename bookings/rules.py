"""Dispatch rules an admin can change at run time: wave size, deadlines, score weights.

Defaults come from ``HUB_DISPATCH_*``; an admin's change is a row in ``system_settings`` and
reaches every node within ``CACHE_SECONDS`` (the offer loop must not query it per booking).
"""

from __future__ import annotations

import time
from typing import Any

import pydantic

from bookings.config import DispatchDefaults
from bookings.storage import settings as store
from hub.acks import Payload
from hub.storage.db import Executor

KEY = "dispatch"
CACHE_SECONDS = 5.0


class Weights(Payload):
    """How much each part of a candidate's score counts (each part is scaled to 0..1)."""

    distance: float = pydantic.Field(default=0.4, ge=0, le=10)  # nearer is better
    rating: float = pydantic.Field(default=0.25, ge=0, le=10)
    fairness: float = pydantic.Field(default=0.2, ge=0, le=10)  # fewer recent offers and jobs is better
    experience: float = pydantic.Field(default=0.1, ge=0, le=10)
    online: float = pydantic.Field(default=0.3, ge=0, le=10)  # bonus for a worker online right now


class DispatchRules(Payload):
    wave_size: int = pydantic.Field(ge=1, le=50)
    max_waves: int = pydantic.Field(ge=1, le=20)
    offer_seconds: float = pydantic.Field(gt=0, le=3600)
    chosen_offer_seconds: float = pydantic.Field(gt=0, le=86400)
    travel_buffer_minutes: int = pydantic.Field(ge=0, le=600)
    weights: Weights = Weights()


class RulesUpdate(Payload):
    """A partial change: fields left out keep their value."""

    wave_size: int | None = pydantic.Field(default=None, ge=1, le=50)
    max_waves: int | None = pydantic.Field(default=None, ge=1, le=20)
    offer_seconds: float | None = pydantic.Field(default=None, gt=0, le=3600)
    chosen_offer_seconds: float | None = pydantic.Field(default=None, gt=0, le=86400)
    travel_buffer_minutes: int | None = pydantic.Field(default=None, ge=0, le=600)
    weights: Weights | None = None


class RulesCache:
    def __init__(self, defaults: DispatchDefaults) -> None:
        self._defaults = DispatchRules(
            wave_size=defaults.wave_size,
            max_waves=defaults.max_waves,
            offer_seconds=defaults.offer_seconds,
            chosen_offer_seconds=defaults.chosen_offer_seconds,
            travel_buffer_minutes=defaults.travel_buffer_minutes,
        )
        self._value: DispatchRules | None = None
        self._read_at = 0.0

    async def get(self, conn: Executor) -> DispatchRules:
        if self._value is None or time.monotonic() - self._read_at > CACHE_SECONDS:
            stored = await store.get(conn, KEY)
            self._value = self._merge(stored)
            self._read_at = time.monotonic()
        return self._value

    async def update(self, conn: Executor, change: RulesUpdate, admin_id: str) -> DispatchRules:
        current = self._merge(await store.get(conn, KEY))
        merged = current.model_dump()
        for name, value in change.model_dump(exclude_unset=True, exclude_none=True).items():
            merged[name] = {**merged[name], **value} if isinstance(value, dict) else value
        new = DispatchRules.model_validate(merged)
        await store.put(conn, KEY, new.model_dump(mode="json"), admin_id)
        self._value, self._read_at = new, time.monotonic()
        return new

    def _merge(self, stored: Any) -> DispatchRules:
        if not isinstance(stored, dict):
            return self._defaults
        try:
            return DispatchRules.model_validate({**self._defaults.model_dump(), **stored})
        except pydantic.ValidationError:
            return self._defaults  # a hand-edited row must not stop dispatch
