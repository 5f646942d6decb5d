"""Every bookings route, documented in ``/api/v1/openapi.json``."""

from __future__ import annotations

from bookings import catalog_api, orders_api
from hub.web.openapi import Operation

OPERATIONS: list[Operation] = [*orders_api.OPERATIONS, *catalog_api.OPERATIONS]
