"""What bookings adds to the Socket.IO protocol: its server→client events, registered with the
hub through ``Host.add_server_events``, and the wire form of its events and acks.

Like ``hub.protocol``, the models describe the JSON exactly as it is sent; emit sites pass the
``ServerEvent`` constants, and the acks of the ``/worker`` events (``bookings.worker_events``)
are declared with the models below.
"""

from __future__ import annotations

import uuid
from typing import Literal

import pydantic

from bookings.orders import Address, Booking, ServiceRef, TimelineEntry
from hub.protocol import CUSTOMER, SUPPORT, WORKER, ServerEvent, Uuid, Wire, omitted
from hub.times import Timestamp

# Offers ---------------------------------------------------------------------------------------------


class OfferOrder(pydantic.BaseModel):
    service: ServiceRef
    slot_start: Timestamp
    slot_end: Timestamp
    duration_minutes: int
    address: Address
    distance_km: float
    pay_cents: int
    special_requests: str


class Alert(pydantic.BaseModel):
    sound: str
    vibrate: list[int]
    repeat_until_seen: bool
    urgent: bool


class OfferView(pydantic.BaseModel):
    offer_id: uuid.UUID
    booking_id: uuid.UUID
    wave: int
    deadline: Timestamp
    seconds_left: float
    chosen: bool
    order: OfferOrder
    alert: Alert


class OfferClosed(Wire):
    offer_id: Uuid
    booking_id: Uuid


class OfferWithdrawn(OfferClosed):
    reason: Literal["cancelled", "redispatched"]


# Bookings ------------------------------------------------------------------------------------------


class BookingUpdate(Wire):
    booking: Booking
    entry: TimelineEntry = pydantic.Field(
        description="The new timeline entry (to customers without the dispatch bookkeeping)."
    )
    seq: int = omitted("On /support only: the console stream's seq (apply once; sync after a gap).")


class WorkerLocation(Wire):
    booking_id: Uuid
    lat: float
    lng: float
    distance_m: int = pydantic.Field(description="From the worker to the booking's address.")
    eta_at: Timestamp | None
    at: Timestamp


class OrderAlert(Wire):
    kind: Literal["late", "arrival_flagged"]
    booking_id: Uuid
    booking: Booking
    entry: TimelineEntry
    seq: int = pydantic.Field(description="The console stream's seq.")


class Escalation(Wire):
    booking: Booking
    reason: Literal["all_waves_unanswered", "no_candidates"] | None
    waves: int | None
    entry: TimelineEntry
    seq: int = pydantic.Field(description="The console stream's seq.")


OFFER = ServerEvent(
    "offer",
    (WORKER,),
    OfferView,
    "A new offer, with the alert to ring until it is seen; open offers are sent again on connect",
)
OFFER_TAKEN = ServerEvent(
    "offer:taken", (WORKER,), OfferClosed, "Another worker accepted, or support assigned it: stop ringing"
)
OFFER_EXPIRED = ServerEvent("offer:expired", (WORKER,), OfferClosed, "The offer's deadline passed")
OFFER_WITHDRAWN = ServerEvent(
    "offer:withdrawn", (WORKER,), OfferWithdrawn, "The booking was cancelled or re-dispatched"
)
BOOKING_UPDATED = ServerEvent(
    "booking:updated",
    (CUSTOMER, WORKER, SUPPORT),
    BookingUpdate,
    "A booking changed: to its customer, its worker (also one just re-dispatched away) and support",
)
BOOKING_LOCATION = ServerEvent(
    "booking:location",
    (CUSTOMER,),
    WorkerLocation,
    "Where the worker is, while on the way (at most once per HUB_TRACKING_LOCATION_SECONDS)",
)
ORDER_ALERT = ServerEvent(
    "order:alert", (SUPPORT,), OrderAlert, "A booking support must look at: a late worker, a flagged arrival"
)
DISPATCH_ESCALATED = ServerEvent(
    "dispatch:escalated", (SUPPORT,), Escalation, "Nobody took a booking: an agent assigns it by hand"
)

SERVER_EVENTS = (
    OFFER,
    OFFER_TAKEN,
    OFFER_EXPIRED,
    OFFER_WITHDRAWN,
    BOOKING_UPDATED,
    BOOKING_LOCATION,
    ORDER_ALERT,
    DISPATCH_ESCALATED,
)

# Acks of the /worker events --------------------------------------------------------------------------


class Offers(Wire):
    items: list[OfferView] = pydantic.Field(description="The worker's open offers, soonest deadline first.")
    next_cursor: None = pydantic.Field(description="Always null: the list has one page.")


class OfferSeen(Wire):
    offer_id: Uuid
    status: str
    seen_at: Timestamp


class OfferAccepted(Wire):
    offer_id: Uuid
    booking: Booking
    conversation_id: Uuid = pydantic.Field(description="The booking's chat with the customer.")


class OfferDeclined(Wire):
    offer_id: Uuid
    status: Literal["declined"]


class JobStep(Wire):
    booking: Booking


class Arrived(Wire):
    booking: Booking
    outside_geofence: bool = pydantic.Field(description="Accepted, and flagged to support.")


class Forwarded(Wire):
    forwarded: bool = pydantic.Field(description="Sent on to the customer (False: throttled).")
