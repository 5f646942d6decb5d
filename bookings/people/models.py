"""Workers as customers, the workers themselves and admins see them."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

import pydantic

from bookings.eligibility import Level
from bookings.reviews.models import PublicReview, ScoreAverages
from hub.cursors import NEXT_CURSOR_DESCRIPTION, NoNextCursor
from hub.times import Timestamp

Gender = Literal["female", "male"]
VettingStatus = Literal["pending", "vetted", "rejected", "suspended"]
CertificateKind = Literal["health", "skill"]


class PastCase(pydantic.BaseModel):
    title: str
    description: str = ""
    year: int | None = None


class ServiceArea(pydantic.BaseModel):
    lat: float
    lng: float
    radius_km: float


class WorkerCard(pydantic.BaseModel):
    """A worker in a list."""

    id: str
    name: str
    gender: Gender
    age: int | None
    photo_url: str | None
    years_experience: int
    level: Level
    skills: list[str]
    certified_skills: list[str]  # skills with a verified, unexpired certificate
    rating_avg: float | None
    rating_count: int
    area: ServiceArea
    distance_km: float | None = None  # from the point searched near, when one was given


class WorkerList(pydantic.BaseModel):
    items: list[WorkerCard]
    next_cursor: str | None = pydantic.Field(description=NEXT_CURSOR_DESCRIPTION)


class WorkerProfile(WorkerCard):
    """What a customer sees on a worker's page."""

    bio: str
    training: list[str]
    past_cases: list[PastCase]
    service_ids: list[str]  # the services the worker can be booked for today
    scores: ScoreAverages | None  # per aspect; None before any shown review
    recent_reviews: list[PublicReview]  # newest first; all of them: GET /api/v1/workers/{id}/reviews


class Certificate(pydantic.BaseModel):
    id: uuid.UUID
    kind: CertificateKind
    skill: str | None
    number: str
    issued_on: date | None
    expires_on: date
    verified: bool
    expired: bool


class WorkerRecord(WorkerProfile):
    """The full record: the worker's own view and the admin's."""

    phone: str | None
    birth_year: int | None
    vetting_status: VettingStatus
    identity_verified: bool
    vetting_note: str | None
    vetted_by: str | None
    vetted_at: Timestamp | None
    eligible: bool  # may be offered jobs today (for at least one of the listed skills)
    on_leave: bool  # the worker chose "on leave" (presence:set), kept across reconnects: no offers
    certificates: list[Certificate]
    created_at: Timestamp
    updated_at: Timestamp


class WorkerRecordList(pydantic.BaseModel):
    items: list[WorkerRecord]
    next_cursor: str | None = pydantic.Field(description=NEXT_CURSOR_DESCRIPTION)


class Customer(pydantic.BaseModel):
    id: str
    name: str
    phone: str | None
    created_at: Timestamp
    updated_at: Timestamp


class SavedAddress(pydantic.BaseModel):
    """An address a customer keeps for bookings (a booking copies it, see ``bookings.orders``)."""

    id: uuid.UUID
    label: str
    line: str
    city: str
    lat: float
    lng: float
    is_default: bool
    created_at: Timestamp


class AddressList(pydantic.BaseModel):
    items: list[SavedAddress]
    next_cursor: NoNextCursor
