"""Every bookings route, documented in ``/api/v1/openapi.json``."""

from __future__ import annotations

from bookings.http import (
    bookings,
    campaigns,
    catalog,
    complaints,
    coupons,
    customers,
    earnings,
    history,
    packages,
    payments,
    payouts,
    points,
    recommendations,
    reviews,
    settings,
    spending,
    synonyms,
    vetting,
    worker_jobs,
    workers,
)
from hub.web.openapi import Operation

OPERATIONS: list[Operation] = [
    *bookings.OPERATIONS,
    *settings.OPERATIONS,
    *worker_jobs.OPERATIONS,
    *catalog.OPERATIONS,
    *synonyms.OPERATIONS,
    *workers.OPERATIONS,
    *vetting.OPERATIONS,
    *customers.OPERATIONS,
    *history.OPERATIONS,
    *payments.OPERATIONS,
    *earnings.OPERATIONS,
    *payouts.OPERATIONS,
    *recommendations.OPERATIONS,
    *coupons.OPERATIONS,
    *campaigns.OPERATIONS,
    *points.OPERATIONS,
    *spending.OPERATIONS,
    *packages.OPERATIONS,
    *reviews.OPERATIONS,
    *complaints.OPERATIONS,
]
