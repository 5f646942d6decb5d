"""Outbox subscribers: booking changes reach people live; dispatch requests start the offer loop.

``booking.changed`` becomes ``booking:updated`` for the customer, the assigned worker and the
support order monitor, plus ``order:alert`` and ``dispatch:escalated`` for what support must look
at. What goes to support is on the console stream (``hub.console.feed``): stored with a seq, so a
console that was away replays it. Redelivery is harmless: the stream appends an event once, and
apps key on booking ``version`` and timeline entry ``id``.
"""

from __future__ import annotations

import uuid
from typing import Any

from bookings.dispatch import Dispatcher
from bookings.protocol import BOOKING_UPDATED, DISPATCH_ESCALATED, ORDER_ALERT
from hub.console.feed import ConsoleFeed
from hub.events import StoredEvent
from hub.realtime import Realtime

# Timeline kinds the support console is alerted to.
ALERTS = frozenset({"late", "arrival_flagged"})
# What a customer may see of the dispatch bookkeeping in a timeline entry.
CUSTOMER_HIDDEN_DATA = frozenset({"offers", "previous_worker_id"})


def entry_for_customer(entry: dict[str, Any]) -> dict[str, Any]:
    data = {k: v for k, v in entry.get("data", {}).items() if k not in CUSTOMER_HIDDEN_DATA}
    return {**entry, "data": data}


class BookingLive:
    def __init__(self, realtime: Realtime, console: ConsoleFeed) -> None:
        self.realtime = realtime
        self.console = console

    async def __call__(self, event: StoredEvent) -> None:
        booking: dict[str, Any] = dict(event.payload["booking"])
        entry: dict[str, Any] = dict(event.payload["entry"])
        await self.realtime.to_user(
            booking["customer_id"],
            "customer",
            BOOKING_UPDATED,
            {"booking": booking, "entry": entry_for_customer(entry)},
        )
        update = {"booking": booking, "entry": entry}
        if booking.get("worker_id"):
            await self.realtime.to_user(booking["worker_id"], "worker", BOOKING_UPDATED, update)
        previous = entry.get("data", {}).get("previous_worker_id")
        if previous:  # re-dispatched away from this worker: their app drops the job
            await self.realtime.to_user(previous, "worker", BOOKING_UPDATED, update)
        source = str(event.id)
        await self.console.publish(BOOKING_UPDATED, update, source)
        if entry["kind"] in ALERTS:
            await self.console.publish(
                ORDER_ALERT,
                {"kind": entry["kind"], "booking_id": booking["id"], "booking": booking, "entry": entry},
                f"{source}:alert",
            )
        elif entry["kind"] == "escalated":
            data = entry.get("data", {})
            await self.console.publish(
                DISPATCH_ESCALATED,
                {
                    "booking": booking,
                    "reason": data.get("reason"),
                    "waves": data.get("waves"),
                    "entry": entry,
                },
                f"{source}:escalated",
            )


class DispatchRequests:
    """``dispatch.requested`` (paid, re-dispatched) → the next wave; idempotent by wave number."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher

    async def __call__(self, event: StoredEvent) -> None:
        await self.dispatcher.next_wave(
            uuid.UUID(event.payload["booking_id"]), int(event.payload["after_wave"])
        )
