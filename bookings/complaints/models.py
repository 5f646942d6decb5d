"""What customers and staff send about complaints (HTTP bodies and ``/support`` events), and what
they get back: the customer's view (their complaint, its status, the messages addressed to them and
the resolution) and the staff's (everything, with the history; notes only here)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal, Self

import pydantic
from pydantic import Field, StrictInt, StrictStr, model_validator

from bookings.payloads import statuses_split
from hub.acks import Payload
from hub.cursors import NEXT_CURSOR_DESCRIPTION, CursorParam
from hub.times import Timestamp

MAX_ATTACHMENTS = 9
MAX_BODY = 4000
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}$"  # a user id (JWT sub)
# The owner filter of the staff listing: yourself, nobody, or one person as role:id.
OWNER_FILTER = r"^(me|none|(support|admin):[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63})$"

Category = Literal["quality", "lateness", "damage", "behaviour", "billing", "safety", "other"]
StatusName = Literal["open", "investigating", "resolved", "rejected"]
ResolutionName = Literal["refund", "redo", "compensation", "none"]
StaffRole = Literal["support", "admin"]
Body = Annotated[StrictStr, Field(min_length=1, max_length=MAX_BODY)]
Note = Annotated[StrictStr, Field(min_length=1, max_length=1000)]


def _has_text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Text = Annotated[Body, pydantic.AfterValidator(_has_text)]
Reason = Annotated[Note, pydantic.AfterValidator(_has_text)]


# What customers send ------------------------------------------------------------------------------


class NewComplaint(Payload):
    """A complaint about one of the customer's bookings, with up to nine of their own uploads
    (images, ``video/mp4`` or PDF, uploaded with ``POST /api/v1/uploads``) as evidence."""

    category: Category
    body: Text
    attachments: Annotated[list[uuid.UUID], Field(max_length=MAX_ATTACHMENTS)] = []

    @model_validator(mode="after")
    def distinct_attachments(self) -> Self:
        if len(set(self.attachments)) != len(self.attachments):
            raise ValueError("an upload is attached once")
        return self


# What staff send ----------------------------------------------------------------------------------


class ComplaintsQuery(Payload):
    """Staff filter by ``status`` (one or several, comma-separated), ``owner`` (``me``, ``none``
    or ``support:<id>``/``admin:<id>``) and ``overdue``; customers see their own and filter by
    status only."""

    status: list[StatusName] = []
    owner: Annotated[str, Field(pattern=OWNER_FILTER)] | None = None
    overdue: bool | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 50
    cursor: CursorParam | None = None

    @model_validator(mode="before")
    @classmethod
    def listify(cls, data: object) -> object:
        return statuses_split(data)


class AssignTo(Payload):
    """Give the complaint to another staff member (who is told)."""

    owner_id: Annotated[StrictStr, Field(pattern=ID_PATTERN)]
    owner_role: StaffRole = "support"


class NoteBody(Payload):
    """A note for staff only: never shown or sent to the customer or the worker."""

    body: Text


class MessageBody(Payload):
    """A message to the customer, shown with their complaint and sent to them as a notification."""

    body: Text


class Reject(Payload):
    """Close the complaint without action; ``reason`` is what the customer is told."""

    reason: Reason


class Resolve(Payload):
    """Close the complaint with a remedy; ``note`` is what the customer is told (and, for a
    compensation, the reason shown in their coupon wallet or points history).

    - ``refund``: ``amount_cents`` of what they paid (left out: everything not yet refunded);
    - ``redo``: a free booking of the same job at ``date`` and ``start_time`` (local time);
    - ``compensation``: ``coupon_id`` (a coupon, granted into their wallet) or ``points``;
    - ``none``: no action, the note explains why.
    """

    resolution: ResolutionName
    note: Reason
    amount_cents: Annotated[StrictInt, Field(ge=1, le=100_000_000)] | None = None
    date: dt.date | None = None
    start_time: (
        Annotated[StrictStr, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["09:30"])] | None
    ) = None
    coupon_id: uuid.UUID | None = None
    points: Annotated[StrictInt, Field(ge=1, le=10_000_000)] | None = None

    @model_validator(mode="after")
    def fields_of_the_resolution(self) -> Self:
        given = {
            name
            for name in ("amount_cents", "date", "start_time", "coupon_id", "points")
            if getattr(self, name) is not None
        }
        allowed = {
            "refund": {"amount_cents"},
            "redo": {"date", "start_time"},
            "compensation": {"coupon_id", "points"},
            "none": set(),
        }[self.resolution]
        if extra := sorted(given - allowed):
            raise ValueError(f"{', '.join(extra)} do not go with resolution {self.resolution!r}")
        if self.resolution == "redo" and given != {"date", "start_time"}:
            raise ValueError("a redo needs date and start_time")
        if self.resolution == "compensation" and len(given) != 1:
            raise ValueError("a compensation is either coupon_id or points")
        return self


# /support events: the same bodies, naming the complaint -----------------------------------------


class ComplaintRef(Payload):
    complaint_id: uuid.UUID


class AssignComplaint(AssignTo, ComplaintRef):
    pass


class NoteComplaint(NoteBody, ComplaintRef):
    pass


class MessageComplaint(MessageBody, ComplaintRef):
    pass


class RejectComplaint(Reject, ComplaintRef):
    pass


class ResolveComplaint(Resolve, ComplaintRef):
    pass


# What they get back -------------------------------------------------------------------------------


class Attachment(pydantic.BaseModel):
    upload_id: uuid.UUID
    url: str = pydantic.Field(description="Where the customer and staff download it.")
    content_type: str
    size: int
    filename: str | None


class Person(pydantic.BaseModel):
    role: str
    id: str | None


class Message(pydantic.BaseModel):
    """A message from support to the customer."""

    body: str
    at: Timestamp


class CustomerComplaint(pydantic.BaseModel):
    """A complaint as its customer sees it: never the staff's notes or history."""

    id: uuid.UUID
    booking_id: uuid.UUID
    category: Category
    body: str
    attachments: list[Attachment]
    status: StatusName
    due_at: Timestamp = pydantic.Field(description="When support is due to answer.")
    messages: list[Message]
    resolution: ResolutionName | None
    outcome: dict[str, Any] = pydantic.Field(
        description="What the resolution did (refund, redo, compensation)."
    )
    answer: str | None = pydantic.Field(description="The resolution's explanation, or why it was rejected.")
    closed_at: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp


class Step(pydantic.BaseModel):
    """One step of a complaint's history: who did what, when."""

    id: int
    action: str = pydantic.Field(
        description="filed, taken, assigned, investigating, noted, messaged, escalated, resolved, rejected"
    )
    actor: Person
    body: str
    data: dict[str, Any]
    to_customer: bool = pydantic.Field(description="A message to the customer (the only steps they see).")
    at: Timestamp


class Complaint(pydantic.BaseModel):
    """A complaint as staff see it in a list."""

    id: uuid.UUID
    booking_id: uuid.UUID
    customer_id: str
    worker_id: str | None
    category: Category
    body: str
    attachments: list[Attachment]
    status: StatusName
    owner: Person | None
    due_at: Timestamp
    overdue: bool = pydantic.Field(description="Unresolved past its deadline.")
    escalated_at: Timestamp | None
    resolution: ResolutionName | None
    outcome: dict[str, Any]
    answer: str | None
    closed_by: Person | None
    closed_at: Timestamp | None
    version: int
    created_at: Timestamp
    updated_at: Timestamp


class ComplaintDetail(Complaint):
    """A complaint as staff see it alone: with every step, notes included."""

    history: list[Step]


class ComplaintList(pydantic.BaseModel):
    items: list[Complaint] | list[CustomerComplaint] = pydantic.Field(
        description="Staff get complaints with their owner; a customer gets their own, as they see them."
    )
    next_cursor: str | None = pydantic.Field(description=NEXT_CURSOR_DESCRIPTION)


class ComplaintView(pydantic.RootModel[ComplaintDetail | CustomerComplaint]):
    """Staff get a complaint with its history; its customer gets it as customers see it."""
