"""What clients send to book, pay, manage and track bookings (HTTP bodies and worker events)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import Field, StrictFloat, StrictInt, StrictStr, model_validator

from hub.acks import Payload
from hub.cursors import CursorParam

Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Lng = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Text = Annotated[StrictStr, Field(max_length=1000)]
Id = Annotated[StrictStr, Field(min_length=1, max_length=64)]


class NewAddress(Payload):
    label: Annotated[StrictStr, Field(max_length=40)] = ""
    line: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    city: Annotated[StrictStr, Field(max_length=60)] = ""
    lat: Lat
    lng: Lng


class SlotRequest(Payload):
    """A service at a local date and start time, at an address (saved, or given inline)."""

    service_id: Id
    date: dt.date
    start_time: Annotated[StrictStr, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["09:30"])]
    duration_minutes: Annotated[StrictInt, Field(ge=15, le=60 * 24 * 40)] | None = None
    worker_id: Id | None = None  # a worker the customer chose
    address_id: uuid.UUID | None = None
    address: NewAddress | None = None
    special_requests: Text = ""
    # A coupon of the customer's wallet; left out: the best one applies; null: none does.
    coupon_id: uuid.UUID | None = None
    points: Annotated[StrictInt, Field(ge=1, le=100_000_000)] | None = None  # to spend for a discount
    package_order_id: uuid.UUID | None = None  # a package of the customer's pays for it with a visit

    @model_validator(mode="after")
    def one_address(self) -> SlotRequest:
        if (self.address_id is None) == (self.address is None):
            raise ValueError("give exactly one of address_id and address")
        return self

    @model_validator(mode="after")
    def points_or_package(self) -> SlotRequest:
        if self.package_order_id is not None and (self.points is not None or self.coupon_id is not None):
            raise ValueError("a package visit pays the whole price: use points and coupons on other bookings")
        return self


class Cancel(Payload):
    reason: Annotated[StrictStr, Field(max_length=500)] = ""


# How each payment method can be paid: WeChat in its JSAPI (in WeChat), app or mobile browser;
# Alipay on a PC page, a mobile page or in its app; cards on the provider's hosted page.
CHANNELS = {"wechat": ("jsapi", "app", "h5"), "alipay": ("page", "wap", "app"), "card": ("hosted",)}


class Payer(Payload):
    openid: Annotated[StrictStr, Field(min_length=1, max_length=128)] | None = None  # WeChat JSAPI
    client_ip: Annotated[StrictStr, Field(min_length=2, max_length=45)] | None = None  # WeChat H5


class PayRequest(Payload):
    """Pay a booking: the method, how the payer pays with it, and where their browser returns."""

    method: Literal["wechat", "alipay", "card"]
    channel: Literal["jsapi", "app", "h5", "page", "wap", "hosted"]
    return_url: Annotated[StrictStr, Field(pattern=r"^https?://", max_length=2000)] | None = None
    payer: Payer = Payer()

    @model_validator(mode="after")
    def channel_of_method(self) -> PayRequest:
        if self.channel not in CHANNELS[self.method]:
            raise ValueError(f"{self.method} is paid through {', '.join(CHANNELS[self.method])}")
        if (self.method, self.channel) == ("wechat", "jsapi") and self.payer.openid is None:
            raise ValueError("WeChat JSAPI needs payer.openid")
        if (self.method, self.channel) == ("wechat", "h5") and self.payer.client_ip is None:
            raise ValueError("WeChat H5 needs payer.client_ip")
        return self


class RefundRequest(Payload):
    """Give money back: ``amount_cents`` of the booking's payment, or all that is left of it."""

    amount_cents: Annotated[StrictInt, Field(ge=1, le=100_000_000)] | None = None
    reason: Annotated[StrictStr, Field(min_length=1, max_length=200)]


class MarkPaid(Payload):
    payment_ref: Annotated[StrictStr, Field(min_length=1, max_length=128)]


class Assign(Payload):
    worker_id: Id


class Redispatch(Payload):
    reason: Annotated[StrictStr, Field(max_length=500)] = ""


class StaffRedispatch(Redispatch):
    booking_id: uuid.UUID
    item_id: uuid.UUID | None = None  # the work item this answers, kept in its history


class StaffAssign(Assign):
    booking_id: uuid.UUID
    item_id: uuid.UUID | None = None


class StaffRefund(RefundRequest):
    booking_id: uuid.UUID
    # A retry with the same client_id (a lost ack) returns the first refund instead of a second.
    client_id: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    item_id: uuid.UUID | None = None


class OfferRef(Payload):
    offer_id: uuid.UUID


class OfferDecline(Payload):
    offer_id: uuid.UUID
    reason: Annotated[StrictStr, Field(max_length=200)] = ""


class BookingRef(Payload):
    booking_id: uuid.UUID


Coordinate = Annotated[StrictFloat | StrictInt, Field(allow_inf_nan=False)]


class Position(Payload):
    booking_id: uuid.UUID
    lat: Annotated[Coordinate, Field(ge=-90, le=90)]
    lng: Annotated[Coordinate, Field(ge=-180, le=180)]


class Depart(Position):
    eta_minutes: Annotated[StrictInt, Field(ge=0, le=24 * 60)]


class BookingsQuery(Payload):
    status: list[
        Literal[
            "pending_payment",
            "dispatching",
            "accepted",
            "on_the_way",
            "arrived",
            "in_service",
            "completed",
            "cancelled",
            "expired",
        ]
    ] = []
    escalated: bool | None = None
    late: bool | None = None
    cursor: CursorParam | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 50

    @model_validator(mode="before")
    @classmethod
    def listify(cls, data: object) -> object:
        return statuses_split(data)


class ScheduleQuery(Payload):
    start: Annotated[dt.date | None, Field(alias="from")] = None
    to: dt.date | None = None
    view: Literal["day", "week"] = "day"

    model_config = {**Payload.model_config, "populate_by_name": True}


def statuses_split(data: object) -> object:
    """A query's ``status=a,b`` as the list ``["a", "b"]`` (a query string holds one string)."""
    if isinstance(data, dict) and isinstance(data.get("status"), str):
        return {**data, "status": data["status"].split(",")}
    return data
