"""What a booking request redeems besides money: points for a discount (``points``), or a visit of a
package for the whole price (``package_order_id``). Priced after the catalog's own lines, taken in
the booking's transaction, given back when the booking is cancelled before service."""

from __future__ import annotations

from bookings import checkout, packages, points
from bookings.checkout import QuoteResult
from bookings.config import PointsDefaults
from bookings.orders import Booking
from bookings.payloads import SlotRequest
from hub.storage.db import Conn


def pricing(
    conn: Conn, customer_id: str, request: SlotRequest, defaults: PointsDefaults, *, booking: bool
) -> checkout.Adjust | None:
    """How the quote of ``request`` changes; None when it redeems nothing. For a ``booking`` (in
    its transaction), the package order stays locked until the booking is made."""
    if request.package_order_id is not None:
        order_id = request.package_order_id

        async def by_package(quote: QuoteResult) -> QuoteResult:
            return await packages.cover(conn, customer_id, order_id, quote, lock=booking)

        return by_package
    if request.points is not None:
        wanted = request.points

        async def with_points(quote: QuoteResult) -> QuoteResult:
            current = await points.rule(conn, defaults)
            return await points.discount(conn, customer_id, wanted, quote, current)

        return with_points
    return None


async def take(conn: Conn, booking: Booking, request: SlotRequest) -> Booking:
    """In the booking's transaction: spend the points its price counted on, or pay it with a visit
    of its package. The booking as it now is."""
    if request.package_order_id is not None:
        return await packages.use_visit(conn, booking, request.package_order_id)
    if request.points is not None:
        await points.spend(conn, booking.customer_id, booking.id, request.points)
    return booking


async def give_back(conn: Conn, booking: Booking) -> None:
    """The booking was cancelled before service: its points and its package visit come back."""
    await points.give_back(conn, booking)
    await packages.give_back_visit(conn, booking)
