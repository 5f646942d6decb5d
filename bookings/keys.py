"""What the bookings extension keeps in the aiohttp application, and how views reach it."""

from __future__ import annotations

from aiohttp import web

from bookings.runtime import BookingsRuntime

BOOKINGS = web.AppKey("bookings", BookingsRuntime)


def runtime(request: web.Request) -> BookingsRuntime:
    return request.app[BOOKINGS]
