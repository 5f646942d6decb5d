"""Every bookings route, registered with aiohttp and documented in ``/api/v1/openapi.json``."""

from __future__ import annotations

from aiohttp import web

from bookings import catalog_api, orders_api
from hub.openapi import add_operations


def add_routes(app: web.Application) -> None:
    add_operations(app, [*orders_api.OPERATIONS, *catalog_api.OPERATIONS])
