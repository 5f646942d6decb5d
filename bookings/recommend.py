"""Recommendations for a customer: what is popular, what they booked before, who works nearby.

- ``popular``: services by bookings that went ahead (paid and not cancelled or expired) in the last
  30 days, then the rest of the catalog in catalog order, so a new platform still recommends.
- ``history``: the services and the workers of the customer's own bookings (paid or cancelled
  after payment; not expired unpaid ones), most recent first (workers only while still eligible).
- ``nearby``: eligible workers whose service area covers the customer's point (the ``lat``/``lng``
  given, else the default saved address), nearest first.
- ``for_you``: services and workers blended from the customer's bookings and, with their consent,
  what they looked at and searched for, recent ones weighing more, each saying why
  (``bookings.for_you``).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

import pydantic

from bookings import catalog
from bookings.for_you import ForYou, suggest
from bookings.people.customers import default_address
from bookings.people.models import WorkerCard
from bookings.people.workers import cards_by_ids, list_workers
from bookings.storage import bookings as booking_store
from hub.storage.db import Executor
from hub.times import Timestamp

POPULAR_DAYS = 30
ACTIVE_BOOKING_STATUSES = ("dispatching", "accepted", "on_the_way", "arrived", "in_service", "completed")


class PopularService(pydantic.BaseModel):
    service: catalog.Service
    bookings_30d: int


class PastService(pydantic.BaseModel):
    service: catalog.Service
    times_booked: int
    last_booked_at: Timestamp


class PastWorker(pydantic.BaseModel):
    worker: WorkerCard
    times_booked: int
    last_booked_at: Timestamp


class History(pydantic.BaseModel):
    services: list[PastService]
    workers: list[PastWorker]


class Origin(pydantic.BaseModel):
    lat: float
    lng: float
    source: Literal["query", "default_address"]


class Recommendations(pydantic.BaseModel):
    popular: list[PopularService]
    history: History
    origin: Origin | None  # the point ``nearby`` is measured from; None when there is none
    nearby: list[WorkerCard]
    for_you: ForYou


async def popular(db: Executor, limit: int) -> list[PopularService]:
    rows = await booking_store.popular_services(db, ACTIVE_BOOKING_STATUSES, POPULAR_DAYS, limit)
    services = await catalog.services_by_ids(db, [row["id"] for row in rows])
    return [PopularService(service=services[row["id"]], bookings_30d=row["n"]) for row in rows]


async def history(db: Executor, customer_id: str, today: date, limit: int) -> History:
    service_rows = await booking_store.services_booked_by(db, customer_id, limit)
    worker_rows = await booking_store.workers_booked_by(db, customer_id, limit)
    services = await catalog.services_by_ids(db, [row["service_id"] for row in service_rows])
    workers = await cards_by_ids(db, [row["worker_id"] for row in worker_rows], today)
    return History(
        services=[
            PastService(service=services[r["service_id"]], times_booked=r["n"], last_booked_at=r["last_at"])
            for r in service_rows
            if r["service_id"] in services
        ],
        workers=[
            PastWorker(worker=workers[r["worker_id"]], times_booked=r["n"], last_booked_at=r["last_at"])
            for r in worker_rows
            if r["worker_id"] in workers
        ],
    )


async def recommend(
    db: Executor,
    customer_id: str,
    today: date,
    *,
    point: tuple[float, float] | None = None,
    limit: int = 10,
) -> Recommendations:
    origin: Origin | None = None
    if point is not None:
        origin = Origin(lat=point[0], lng=point[1], source="query")
    else:
        address = await default_address(db, customer_id)
        if address is not None:
            origin = Origin(lat=address.lat, lng=address.lng, source="default_address")
    nearby: list[WorkerCard] = []
    if origin is not None:
        nearby = (await list_workers(db, today, near=(origin.lat, origin.lng), limit=limit)).items
    return Recommendations(
        popular=await popular(db, limit),
        history=await history(db, customer_id, today, limit),
        origin=origin,
        nearby=nearby,
        for_you=await suggest(db, customer_id, today, limit),
    )
