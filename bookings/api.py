"""Every bookings route, registered with aiohttp and documented in ``/api/v1/openapi.json``."""

from __future__ import annotations

from aiohttp import web

from bookings.http import (
    bookings,
    catalog,
    customers,
    recommendations,
    settings,
    vetting,
    worker_jobs,
    workers,
)
from hub.openapi import add_operations


def add_routes(app: web.Application) -> None:
    add_operations(
        app,
        [
            *bookings.OPERATIONS,
            *settings.OPERATIONS,
            *worker_jobs.OPERATIONS,
            *catalog.OPERATIONS,
            *workers.OPERATIONS,
            *vetting.OPERATIONS,
            *customers.OPERATIONS,
            *recommendations.OPERATIONS,
        ],
    )
