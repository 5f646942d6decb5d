"""Workers and customers; ``eligibility`` is the rule for who may be offered a job.

The customer models are defined here rather than in ``customers``: the OpenAPI document tells
this ``Address`` from ``bookings.orders.Address`` by module path (``bookings__people__Address``),
and clients are generated from those component names.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import pydantic


class Customer(pydantic.BaseModel):
    id: str
    name: str
    phone: str | None
    created_at: datetime
    updated_at: datetime


class Address(pydantic.BaseModel):
    id: uuid.UUID
    label: str
    line: str
    city: str
    lat: float
    lng: float
    is_default: bool
    created_at: datetime


class AddressList(pydantic.BaseModel):
    addresses: list[Address]
