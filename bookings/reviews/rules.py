"""The rules of reviews that need no database: the overall rating, what counts as low, which
attachments a review takes."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from hub.errors import InvalidPayload

Scores = tuple[int, int, int]  # quality, attitude, skill

URGENT_BELOW = 2.0  # a low review this low is a high-priority item for support


def overall(scores: Scores) -> float:
    """The mean of the three scores, to two decimals."""
    return round(sum(scores) / 3, 2)


def is_low(scores: Scores, low_below: float) -> bool:
    """Below ``low_below`` overall; compared on the exact sum, not a rounded mean."""
    return sum(scores) < 3 * low_below


def is_urgent(scores: Scores) -> bool:
    return sum(scores) < 3 * URGENT_BELOW


def mask_name(name: str) -> str:
    """The author as the public sees them: their first character, then stars ("王**")."""
    name = name.strip()
    if not name:
        return "匿名用户"
    return name[0] + "*" * min(max(len(name) - 1, 2), 4)


def attachable(content_type: str) -> bool:
    """Photos, and short videos as MP4: what a review shows."""
    return content_type.startswith("image/") or content_type == "video/mp4"


def refuse_unattachable(uploads: Iterable[tuple[uuid.UUID, str]]) -> None:
    wrong = [str(upload_id) for upload_id, content_type in uploads if not attachable(content_type)]
    if wrong:
        raise InvalidPayload(
            "a review attaches photos (image/*) and videos (video/mp4) only",
            code="attachment_type_not_allowed",
            details={"upload_ids": wrong},
        )
