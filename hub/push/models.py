"""Push records: the devices people register, on the platforms the hub can reach."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class Platform(enum.StrEnum):
    FCM = "fcm"
    APNS = "apns"
    WEBHOOK = "webhook"


@dataclass(frozen=True, slots=True)
class Device:
    id: uuid.UUID
    user_id: str
    role: str
    platform: Platform
    token: str
    app_id: str | None = None
    locale: str | None = None
    created_at: datetime | None = None
    last_seen_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "platform": self.platform.value,
            "token": self.token,
            "app_id": self.app_id,
            "locale": self.locale,
            "created_at": None if self.created_at is None else self.created_at.isoformat(),
            "last_seen_at": None if self.last_seen_at is None else self.last_seen_at.isoformat(),
        }
