"""A complaint's redo: the same job done again, free, at a slot support chooses.

The redo is a new booking for the same customer, service, address and duration, linked to the
first (``redo_of`` on it, ``redos`` on the first), made already paid at 0 and dispatched like any
paid booking. Its price is the first booking's price before discounts, wholly taken off by one
``redo`` discount line: the worker's pay follows from that price by the commission rule at
completion, as for every booking, so the job pays the worker what the first one did (at the rate
in force then), and the completion charges the whole of it to ``platform:promotions`` like any
discount. The customer pays nothing; the platform bears the job.
"""

from __future__ import annotations

import datetime as dt
import uuid
from datetime import UTC, datetime
from typing import Any

from bookings import checkout, orders
from bookings.config import BookingConfig
from bookings.orders import Actor, Booking, Status
from bookings.payments import commission
from bookings.storage import bookings as booking_store
from hub.storage.db import Conn
from hub.times import iso

DISCOUNT_CODE = "redo"


def price(original: Booking) -> dict[str, Any]:
    """The first booking's price, its discounts replaced by one that takes all of it off."""
    gross = commission.gross_cents(original.price, original.total_cents)
    line = {"code": DISCOUNT_CODE, "label": f"Redo of booking {original.id}", "amount_cents": -gross}
    return {
        **original.price,
        "discounts": [line],
        "discounts_cents": gross,
        "total_cents": 0,
        "coupon_id": None,
        "redo_of": str(original.id),
    }


async def book(
    conn: Conn,
    original: Booking,
    day: dt.date,
    start_time: str,
    config: BookingConfig,
    complaint_id: uuid.UUID,
    actor: Actor,
) -> Booking:
    """The redo, paid and waiting for dispatch (requested through the outbox, so a crash after the
    commit still dispatches it), in the caller's transaction. The slot must be bookable: in the
    future, within the service's hours and how far ahead bookings go."""
    service = await checkout.load_service(conn, original.service.id)
    slot = checkout.slot_for(service, day, start_time, original.duration_minutes, config, datetime.now(UTC))
    made, _ = await orders.insert(
        conn,
        customer_id=original.customer_id,
        service_id=original.service.id,
        chosen_worker_id=None,
        slot_start=slot.start,
        slot_end=slot.end,
        duration_minutes=original.duration_minutes,
        address=original.address,
        special_requests=original.special_requests,
        price=price(original),
        total_cents=0,
        worker_pay_cents=original.worker_pay_cents,
        payment_minutes=config.payment_minutes,
    )
    await booking_store.set_redo_of(conn, made.id, original.id)
    # Paid at 0 by the complaint: the reference is the complaint's, so one complaint makes one redo.
    reference = f"redo:{complaint_id}"
    redo, _ = await orders.transition(
        conn,
        made.id,
        Status.DISPATCHING,
        actor,
        "paid",
        note="a free redo of an earlier booking",
        data={"payment_ref": reference, "total_cents": 0, "redo_of": str(original.id)},
        sets="paid_at = now(), payment_ref = $3",
        params=(reference,),
    )
    await orders.request_dispatch(conn, redo.id, after_wave=0)
    first = await orders.require(conn, original.id)  # now listing the redo
    await orders.record(
        conn,
        first,
        "redo_booked",
        actor,
        data={"redo_booking_id": str(redo.id), "slot_start": iso(redo.slot_start)},
    )
    return redo
