"""Push records: the devices people register, on the platforms the hub can reach."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.times import iso_or_none


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
            "created_at": iso_or_none(self.created_at),
            "last_seen_at": iso_or_none(self.last_seen_at),
        }
