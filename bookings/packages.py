"""Service packages (套餐): a number of visits of one service, bought ahead for one price.

An admin defines what is sold; a customer buys it (a package order, paid on the same path as a
booking: a provider's notify or an admin's mark-paid) and then books visit by visit, naming the
order in the booking request. A visit pays its booking at once, without a payment: its share of
the price moves in the ledger from ``package:<order>`` to ``booking:<id>``, and the completion
earns it like any payment. A booking cancelled before service gives its visit back. An order's
terms are copied when it is bought, so changing a package changes nothing already sold.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
import pydantic

from bookings import checkout
from bookings.orders import Actor, Booking
from bookings.payments import package_money
from bookings.pricing import PriceLine, Quote
from bookings.storage import catalog as catalog_store
from bookings.storage import packages as store
from hub.cursors import NoNextCursor
from hub.errors import Conflict, InvalidPayload, NotFound
from hub.storage.db import Conn, Executor
from hub.times import Timestamp

Q = TypeVar("Q", bound=Quote)


class Package(pydantic.BaseModel):
    id: uuid.UUID
    service_id: str
    name: str
    visits: int
    visit_minutes: int  # the longest booking one visit covers
    price_cents: int
    validity_days: int  # from payment
    active: bool
    created_at: Timestamp
    updated_at: Timestamp


class PackageList(pydantic.BaseModel):
    items: list[Package]
    next_cursor: NoNextCursor


class PackageOrder(pydantic.BaseModel):
    id: uuid.UUID
    package_id: uuid.UUID
    service_id: str
    name: str
    visits: int
    visits_left: int
    visit_minutes: int
    price_cents: int
    status: str  # pending_payment, active, expired (active, past expires_at), used_up
    payment_due_at: Timestamp
    paid_at: Timestamp | None
    expires_at: Timestamp | None
    created_at: Timestamp


class PackageOrderList(pydantic.BaseModel):
    items: list[PackageOrder]
    next_cursor: NoNextCursor


def package_view(row: asyncpg.Record) -> Package:
    return Package.model_validate(dict(row))


def order_view(row: asyncpg.Record) -> PackageOrder:
    data = dict(row)
    if data["status"] == "active" and data["expires_at"] <= datetime.now(UTC):
        data["status"] = "expired"
    elif data["status"] == "active" and data["visits_left"] == 0:
        data["status"] = "used_up"
    return PackageOrder.model_validate(data)


# What is sold -----------------------------------------------------------------------------------


async def define(conn: Conn, fields: dict[str, Any]) -> Package:
    if await catalog_store.active_service(conn, fields["service_id"]) is None:
        raise InvalidPayload(
            f"there is no service {fields['service_id']!r}",
            code="unknown_service",
            details=[{"loc": ["service_id"], "message": "no such service"}],
        )
    return package_view(await store.insert_package(conn, uuid.uuid4(), fields))


async def change(conn: Conn, package_id: uuid.UUID, changes: dict[str, Any]) -> Package:
    row = await store.update_package(conn, package_id, changes)
    if row is None:
        raise NotFound("no such package", code="package_not_found")
    return package_view(row)


async def listing(db: Executor, *, active_only: bool) -> PackageList:
    return PackageList(
        next_cursor=None,
        items=[package_view(row) for row in await store.packages(db, active_only=active_only)],
    )


# Buying -----------------------------------------------------------------------------------------


async def buy(conn: Conn, customer_id: str, package_id: uuid.UUID, payment_minutes: float) -> PackageOrder:
    """An unpaid order of an active package, to pay within ``payment_minutes``."""
    package = await store.package(conn, package_id)
    if package is None or not package["active"]:
        raise NotFound("no such package", code="package_not_found")
    row = await store.insert_order(conn, uuid.uuid4(), customer_id, package, payment_minutes * 60)
    return order_view(row)


async def order_of(db: Executor, customer_id: str | None, order_id: uuid.UUID) -> PackageOrder:
    """The order, if it is the customer's (any order for staff: ``customer_id`` None)."""
    row = await store.order(db, order_id)
    if row is None or (customer_id is not None and row["customer_id"] != customer_id):
        raise NotFound("no such package order", code="package_order_not_found")
    return order_view(row)


async def orders_of(db: Executor, customer_id: str) -> PackageOrderList:
    return PackageOrderList(
        next_cursor=None, items=[order_view(row) for row in await store.orders_of(db, customer_id)]
    )


# Booking with a visit ---------------------------------------------------------------------------


def _invalid(field: str, code: str, message: str) -> InvalidPayload:
    return InvalidPayload(message, code=code, details=[{"loc": [field], "message": message}])


async def cover(conn: Conn, customer_id: str, order_id: uuid.UUID, quote: Q, *, lock: bool) -> Q:
    """``quote`` paid by one visit of the order: its total is the visit's share of the package
    price, and a ``package`` discount line (paid by the platform's promotions, like any discount)
    stands for the rest of the list price; the catalog's own discounts do not add to a package's.
    With ``lock``, the order stays locked until the booking's transaction ends, so the visits of
    one order are counted one booking at a time."""
    row = await (store.lock_order(conn, order_id) if lock else store.order(conn, order_id))
    if row is None or row["customer_id"] != customer_id:
        raise _invalid("package_order_id", "unknown_package_order", "you have no package order with this id")
    if row["status"] != "active":
        raise Conflict("this package is not paid yet", code="package_not_paid")
    if row["expires_at"] <= datetime.now(UTC):
        raise Conflict("this package has expired", code="package_expired")
    if row["visits_left"] <= 0:
        raise Conflict("this package has no visits left", code="package_used_up")
    if row["service_id"] != quote.service_id:
        raise _invalid(
            "package_order_id", "package_other_service", f"this package is for {row['service_id']}"
        )
    if quote.duration_minutes > row["visit_minutes"]:
        raise _invalid(
            "duration_minutes",
            "visit_too_long",
            f"a visit of this package is at most {row['visit_minutes']} minutes",
        )
    share = package_money.visit_share(await store.remaining_cents(conn, order_id), row["visits_left"])
    covered = max(0, quote.base_cents + quote.surcharges_cents - share)
    lines = [PriceLine(code="package", label=row["name"], amount_cents=-covered)] if covered else []
    # No coupon either: it would be redeemed for nothing.
    update = {"discounts": lines, "discounts_cents": covered, "total_cents": share, "coupon_id": None}
    return quote.model_copy(update=update)


async def use_visit(conn: Conn, booking: Booking, order_id: uuid.UUID) -> Booking:
    """In the booking's transaction, after ``cover`` priced it: a visit of the (locked) order pays
    the new booking, which is paid at once (dispatch starts)."""
    if not await package_money.use_visit(
        conn, order_id, booking.id, booking.customer_id, booking.total_cents
    ):
        raise Conflict("this package has no visits left", code="package_used_up")
    return await checkout.mark_paid(
        conn, booking.id, f"package:{booking.id}", Actor(str(order_id), "payment")
    )


async def give_back_visit(conn: Conn, booking: Booking) -> bool:
    """The booking was cancelled before service: its visit (if a package paid it) is usable again."""
    return await package_money.give_back_visit(conn, booking.id, booking.customer_id) is not None
