"""Reviews as clients send them (strict: a score is an integer 1 to 5, never "5" or 4.5) and as
each reader sees them: the public, the booking's customer and worker, and staff."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import pydantic
from pydantic import AfterValidator, Field, model_validator

from hub.acks import Payload
from hub.cursors import NEXT_CURSOR_DESCRIPTION, CursorParam
from hub.times import Timestamp

MAX_ATTACHMENTS = 9
MAX_COMMENT = 2000
MAX_REPLY = 1000
MAX_PAGE = 50
# Text of one or several lines: no control characters but tabs and line breaks.
_MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
_SINGLE_LINE = r"^[^\x00-\x1f\x7f]*$"
_STRICT = pydantic.ConfigDict(extra="forbid", frozen=True, strict=True)


def _each_once(ids: list[uuid.UUID]) -> list[uuid.UUID]:
    if len(set(ids)) != len(ids):
        raise ValueError("attach each upload once")
    return ids


def _unchanged() -> Any:
    """Default of a field left out to mean "unchanged" (null is still refused)."""
    return Field(default=None)


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be blank")
    return text


Score = Annotated[int, Field(ge=1, le=5)]
Comment = Annotated[str, Field(max_length=MAX_COMMENT, pattern=_MULTI_LINE)]
UploadIds = Annotated[list[uuid.UUID], Field(max_length=MAX_ATTACHMENTS), AfterValidator(_each_once)]
ReplyText = Annotated[
    str, Field(min_length=1, max_length=MAX_REPLY, pattern=_MULTI_LINE), AfterValidator(_not_blank)
]
Reason = Annotated[str, Field(max_length=500, pattern=_SINGLE_LINE)]


# What clients send ------------------------------------------------------------------------------


class ReviewIn(Payload):
    """A review of the booking's worker: three scores, a comment, and up to nine photos or videos
    (ids of the customer's own uploads, ``POST /api/v1/uploads``)."""

    model_config = _STRICT
    quality: Score
    attitude: Score
    skill: Score
    comment: Comment = ""
    upload_ids: UploadIds = Field(default_factory=list)


class ReviewPatch(Payload):
    """What to change in a review while it may still be changed; what is left out stays."""

    model_config = _STRICT
    # None only means "unchanged": null is refused.
    quality: Score = _unchanged()
    attitude: Score = _unchanged()
    skill: Score = _unchanged()
    comment: Comment = _unchanged()
    upload_ids: UploadIds = _unchanged()

    @model_validator(mode="after")
    def _something(self) -> ReviewPatch:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        return self


class ReplyIn(Payload):
    model_config = _STRICT
    text: ReplyText


class HideIn(Payload):
    model_config = _STRICT
    reason: Annotated[Reason, Field(min_length=1), AfterValidator(_not_blank)]


class UnhideIn(Payload):
    model_config = _STRICT
    reason: Reason = ""


class ReviewsQuery(Payload):
    cursor: CursorParam | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 20


class StaffReviewsQuery(ReviewsQuery):
    hidden: bool | None = Field(default=None, description="only hidden (true) or only shown (false)")


# What readers see -------------------------------------------------------------------------------


class Attachment(pydantic.BaseModel):
    upload_id: uuid.UUID
    url: str  # served to whoever may see the review
    content_type: str
    size: int


class Reply(pydantic.BaseModel):
    text: str
    at: Timestamp


class PublicReview(pydantic.BaseModel):
    """A review as anyone sees it on the worker's profile."""

    id: uuid.UUID
    author: str  # the customer's name, masked ("王**")
    quality: int
    attitude: int
    skill: int
    overall: float  # the mean of the three, to two decimals
    comment: str
    attachments: list[Attachment]
    reply: Reply | None
    created_at: Timestamp
    edited_at: Timestamp | None


class ScoreAverages(pydantic.BaseModel):
    """A worker's mean score per aspect over their shown reviews, to two decimals."""

    quality: float
    attitude: float
    skill: float


class Moderation(pydantic.BaseModel):
    hidden_at: Timestamp
    by: str
    role: str
    reason: str


class Review(PublicReview):
    """The booking's review, for its customer, its worker and staff."""

    booking_id: uuid.UUID | None  # None only for reviews older than reviews of bookings
    worker_id: str
    customer_id: str
    editable_until: Timestamp  # by its author
    hidden: bool  # hidden by staff: not on the profile, not in the ratings
    moderation: Moderation | None  # staff only


class HistoryEntry(pydantic.BaseModel):
    action: Literal["created", "edited", "replied", "hidden", "unhidden"]
    actor_role: str
    actor_id: str | None
    reason: str
    data: dict[str, Any]
    at: Timestamp


class ReviewRecord(Review):
    """A review with everything done to it, for staff."""

    history: list[HistoryEntry]


class ReviewPage(pydantic.BaseModel):
    items: list[PublicReview]
    next_cursor: str | None = pydantic.Field(description=NEXT_CURSOR_DESCRIPTION)


class StaffReviewPage(pydantic.BaseModel):
    items: list[Review]
    next_cursor: str | None = pydantic.Field(description=NEXT_CURSOR_DESCRIPTION)
