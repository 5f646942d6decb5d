"""Review rows as their readers see them."""

from __future__ import annotations

import asyncpg

from bookings.reviews import rules
from bookings.reviews.models import Attachment, PublicReview, Reply
from bookings.reviews.rules import Scores

ATTACHMENT_PATH = "/api/v1/reviews/{review_id}/attachments/{upload_id}"


def scores_of(row: asyncpg.Record) -> Scores:
    return row["quality"], row["attitude"], row["skill"]


def public(row: asyncpg.Record) -> PublicReview:
    scores = scores_of(row)
    reply = None if row["reply"] is None else Reply(text=row["reply"], at=row["replied_at"])
    return PublicReview(
        id=row["id"],
        author=rules.mask_name(row["customer_name"]),
        quality=scores[0],
        attitude=scores[1],
        skill=scores[2],
        overall=rules.overall(scores),
        comment=row["comment"],
        attachments=[
            Attachment(
                upload_id=a["upload_id"],
                url=ATTACHMENT_PATH.format(review_id=row["id"], upload_id=a["upload_id"]),
                content_type=a["content_type"],
                size=a["size"],
            )
            for a in row["attachments"]
        ],
        reply=reply,
        created_at=row["created_at"],
        edited_at=row["edited_at"],
    )
