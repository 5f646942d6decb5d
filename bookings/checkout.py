"""Quote, book, pay, and expire what was never paid."""

from __future__ import annotations

import uuid
import zoneinfo
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta

import asyncpg
import pydantic

from bookings import catalog, orders, points, pricing
from bookings.config import BookingConfig
from bookings.coupons import campaigns, wallet
from bookings.coupons.models import ApplicableCoupon
from bookings.orders import Actor, Address, Booking, Status, TimelineEntry
from bookings.payloads import SlotRequest
from bookings.price_rules import DEFAULT_RULES, PriceRules
from bookings.storage import bookings as booking_store
from bookings.storage import catalog as catalog_store
from bookings.storage import customers as customer_store
from bookings.storage import workers as worker_store
from bookings.storage.catalog import ServiceRecord
from hub.errors import Conflict, InvalidPayload
from hub.storage.db import Conn, Executor
from hub.times import Timestamp


class Slot(pydantic.BaseModel):
    start: Timestamp
    end: Timestamp
    timezone: str


class QuoteResult(pricing.Quote):
    slot: Slot
    worker_id: str | None
    applicable_coupons: list[ApplicableCoupon] = []  # the wallet's other coupons that would apply


NOT_PRICE = {"slot", "worker_id", "applicable_coupons"}  # what a booking does not keep of its quote


# A change to a quote made after the catalog's own lines: points spent, a package visit.
Adjust = Callable[[QuoteResult], Awaitable[QuoteResult]]


def _invalid(field: str, code: str, message: str) -> InvalidPayload:
    return InvalidPayload(message, code=code, details=[{"loc": [field], "message": message}])


async def load_service(conn: Executor, service_id: str) -> ServiceRecord:
    service = await catalog_store.active_service(conn, service_id)
    if service is None:
        raise _invalid("service_id", "unknown_service", f"there is no service {service_id!r}")
    return service


def duration_for(service: ServiceRecord, wanted: int | None) -> int:
    """The wanted duration (or the service's default) if the catalog allows it: the same rule
    that the catalog's duration filter applies."""
    minutes = service.default_minutes if wanted is None else wanted
    if not catalog.allows_duration(service.min_minutes, service.max_minutes, service.step_minutes, minutes):
        shortest = catalog.shortest_minutes(service.min_minutes, service.step_minutes)
        raise _invalid(
            "duration_minutes",
            "invalid_duration",
            f"book {shortest}..{service.max_minutes} minutes in steps of {service.step_minutes}",
        )
    return minutes


def slot_for(
    service: ServiceRecord, day: date, start: str, minutes: int, config: BookingConfig, now: datetime
) -> Slot:
    zone = zoneinfo.ZoneInfo(config.timezone)
    local_start = datetime.combine(day, time.fromisoformat(start), zone)
    local_end = local_start + timedelta(minutes=minutes)
    if local_start < now + timedelta(minutes=config.min_lead_minutes):
        raise _invalid(
            "start_time",
            "slot_too_soon",
            f"a slot must start at least {config.min_lead_minutes:g} minutes from now",
        )
    if local_start > now + timedelta(days=config.max_days_ahead):
        raise _invalid("date", "slot_too_far", f"book at most {config.max_days_ahead} days ahead")
    opens, closes = service.opens_at, service.closes_at
    window = datetime.combine(day, closes) - datetime.combine(day, opens)
    # A job that fits in one day must start and end within service hours; a longer one (a
    # 26-day maternity package) must start within them.
    ends_late = minutes <= window.total_seconds() / 60 and (
        local_end.date() != day or local_end.time() > closes
    )
    if local_start.time() < opens or local_start.time() >= closes or ends_late:
        raise _invalid(
            "start_time",
            "outside_service_hours",
            f"this service runs {opens:%H:%M}-{closes:%H:%M} ({config.timezone})",
        )
    return Slot(start=local_start.astimezone(UTC), end=local_end.astimezone(UTC), timezone=config.timezone)


async def address_for(conn: Executor, customer_id: str, request: SlotRequest) -> Address:
    if request.address is not None:
        return Address(**request.address.model_dump())
    row = await customer_store.address(conn, customer_id, request.address_id)
    if row is None:
        raise _invalid("address_id", "unknown_address", "you have no saved address with this id")
    return Address(**{name: row[name] for name in Address.model_fields})


async def check_worker(conn: Executor, worker_id: str, skill: str) -> None:
    row = await worker_store.vetting_and_skills(conn, worker_id)
    if row is None or row["vetting_status"] != "vetted":
        raise _invalid("worker_id", "unknown_worker", "there is no bookable worker with this id")
    if skill not in row["skills"]:
        raise _invalid("worker_id", "worker_lacks_skill", "this worker does not offer this service")


async def quote(
    conn: Conn,
    customer_id: str,
    request: SlotRequest,
    config: BookingConfig,
    rules: PriceRules = DEFAULT_RULES,
    adjust: Adjust | None = None,
) -> QuoteResult:
    """The price of the slot by the admin's price rules, with the coupon the request names (or, if
    it names none, the wallet's best; ``coupon_id: null``: no coupon). A customer who never paid
    for a booking is first given the coupons of running new-customer campaigns."""
    now = datetime.now(UTC)
    service = await load_service(conn, request.service_id)
    minutes = duration_for(service, request.duration_minutes)
    slot = slot_for(service, request.date, request.start_time, minutes, config, now)
    if request.worker_id is not None:
        await check_worker(conn, request.worker_id, service.skill)
    await campaigns.welcome(conn, customer_id)
    first = not await booking_store.has_live_booking(conn, customer_id)
    local_start = slot.start.astimezone(zoneinfo.ZoneInfo(config.timezone))
    chosen_worker = request.worker_id is not None

    def price(coupon: pricing.Coupon | None, first_booking: bool = first) -> pricing.Quote:
        return pricing.quote(
            service,
            minutes,
            local_start,
            now,
            chosen_worker=chosen_worker,
            first_booking=first_booking,
            rules=rules,
            coupon=coupon,
        )

    wanted = request.coupon_id if "coupon_id" in request.model_fields_set else wallet.BEST
    spend = price(None, False).total_cents  # before promotions: what minimum spends are measured on
    result, others = await wallet.choose(conn, customer_id, service, spend, now, wanted, price)
    priced = QuoteResult(
        **result.model_dump(), slot=slot, worker_id=request.worker_id, applicable_coupons=others
    )
    return priced if adjust is None else await adjust(priced)


async def create(
    conn: Conn,
    customer_id: str,
    request: SlotRequest,
    config: BookingConfig,
    rules: PriceRules = DEFAULT_RULES,
    adjust: Adjust | None = None,
) -> tuple[Booking, TimelineEntry]:
    """A booking at the quoted price; the coupon that price applies is redeemed in the same
    transaction (409 ``coupon_unavailable`` and no booking if another booking took it first)."""
    priced = await quote(conn, customer_id, request, config, rules, adjust)
    address = await address_for(conn, customer_id, request)
    booking, entry = await orders.insert(
        conn,
        customer_id=customer_id,
        service_id=request.service_id,
        chosen_worker_id=request.worker_id,
        slot_start=priced.slot.start,
        slot_end=priced.slot.end,
        duration_minutes=priced.duration_minutes,
        address=address,
        special_requests=request.special_requests,
        price=priced.model_dump(mode="json", exclude=NOT_PRICE),
        total_cents=priced.total_cents,
        worker_pay_cents=priced.worker_pay_cents,
        payment_minutes=config.payment_minutes,
    )
    if priced.coupon_id is not None:
        coupon_cents = sum(-line.amount_cents for line in priced.discounts if line.code == "coupon")
        await wallet.redeem(conn, booking, priced.coupon_id, coupon_cents)
    return booking, entry


async def mark_paid(conn: Conn, booking_id: uuid.UUID, payment_ref: str, actor: Actor) -> Booking:
    """The payment provider's (or an admin's) word that the booking is paid: dispatch starts.

    Idempotent per ``payment_ref``: a provider retrying its callback gets the same booking back.
    A booking that expired unpaid is refused (409): the provider must refund, not revive it.
    """
    current = await orders.require(conn, booking_id)
    if current.paid_at is not None:
        ref = await booking_store.payment_ref(conn, booking_id)
        if ref == payment_ref:
            return current
        raise Conflict("the booking is already paid", code="already_paid")
    taken = await booking_store.paid_by(conn, payment_ref)
    if taken == booking_id:  # paid by this very reference since we looked
        return await orders.require(conn, booking_id)
    if taken is not None:
        raise Conflict("this payment reference belongs to another booking", code="payment_ref_used")
    try:
        async with conn.transaction():  # a savepoint: a lost race leaves the caller's transaction usable
            booking, _ = await orders.transition(
                conn,
                booking_id,
                Status.DISPATCHING,
                actor,
                "paid",
                data={"payment_ref": payment_ref, "total_cents": current.total_cents},
                sets="paid_at = now(), payment_ref = $3",
                params=(payment_ref,),
            )
    except asyncpg.UniqueViolationError:
        raise Conflict("this payment reference belongs to another booking", code="payment_ref_used") from None
    except Conflict:
        # The provider's callback raced its own retry: the one that lost sees the booking paid.
        ref = await booking_store.payment_ref(conn, booking_id)
        if ref == payment_ref:
            return await orders.require(conn, booking_id)
        raise
    await orders.request_dispatch(conn, booking_id, after_wave=0)
    await orders.tell(
        conn,
        booking,
        booking.customer_id,
        "customer",
        "Payment received",
        "We are finding a worker for you now.",
    )
    return booking


async def expire_unpaid(conn: Conn, booking_id: uuid.UUID) -> Booking | None:
    """Expire one unpaid booking whose time to pay is over; None if it was paid (or gone) meanwhile."""
    try:
        booking, _ = await orders.transition(
            conn,
            booking_id,
            Status.EXPIRED,
            Actor.system(),
            "expired",
            note="not paid in time",
            where="AND payment_due_at <= now()",
        )
    except (Conflict, LookupError):
        return None
    await points.give_back(conn, booking)  # the points its price counted on
    await wallet.release(conn, booking, Status.PENDING_PAYMENT, Actor.system())
    await orders.tell(
        conn,
        booking,
        booking.customer_id,
        "customer",
        "Booking expired",
        "The booking was not paid in time and has been released.",
    )
    return booking


async def overdue_unpaid(conn: Executor) -> list[uuid.UUID]:
    return await booking_store.overdue_unpaid(conn)
