"""Bookings in demo mode (``python -m hub demo``): settings for people trying it by hand, and the
people of the demo data (``bookings.seed``) whom the demo login offers.

The defaults give a person time: an offer waits ten minutes for an answer (so a dispatch is
escalated after its three waves, half an hour), a booking an hour for its payment, and the
lateness, stalled-job and overrun timers a day, so that none fires while someone is looking at
another tab. Payments go through the providers' sandboxes the hub serves itself. Whatever the
environment sets wins.
"""

from __future__ import annotations

from bookings import seed
from hub.extension import DemoPerson

ENV = {
    "HUB_PAY_SANDBOX": "all",  # WeChat Pay, Alipay and the card page, served by the hub itself
    "HUB_DISPATCH_OFFER_SECONDS": "600",
    "HUB_DISPATCH_CHOSEN_OFFER_SECONDS": "900",
    "HUB_BOOKING_PAYMENT_MINUTES": "60",
    "HUB_BOOKING_MIN_LEAD_MINUTES": "30",
    "HUB_LATENESS_GRACE_MINUTES": "1440",
    "HUB_STALLED_GRACE_MINUTES": "1440",
    "HUB_OVERRUN_MINUTES": "1440",
    "HUB_TRACKING_LOCATION_SECONDS": "2",  # the customer's map follows the worker closely
}

SKILL_EN = {
    "daily_cleaning": "daily cleaning",
    "deep_cleaning": "deep cleaning",
    "window_cleaning": "window cleaning",
    "appliance_cleaning": "appliances",
    "maternity_care": "maternity nurse",
    "childcare": "nanny",
    "elder_care": "elder care",
}


def people() -> list[DemoPerson]:
    """Customers, workers (with what they do), the support agent and the admin of the demo data."""
    customers = [DemoPerson("customer", cid, name) for cid, name, _ in seed.CUSTOMERS]
    workers = [
        DemoPerson("worker", seed.worker_id(index), entry[0], _worker_note(seed.worker_id(index), entry[4]))
        for index, entry in enumerate(seed.WORKERS, start=1)
    ]
    staff = [
        DemoPerson("support", seed.SUPPORT_ID, "Support agent"),
        DemoPerson("admin", seed.ADMIN_ID, "Admin"),
    ]
    return customers + workers + staff


def _worker_note(worker_id: str, skills: tuple[str, ...]) -> str:
    does = ", ".join(SKILL_EN.get(skill, skill) for skill in skills)
    if worker_id == seed.PENDING_WORKER:
        return f"{does}; vetting pending, gets no offers"
    if worker_id == seed.EXPIRED_WORKER:
        return f"{does}; health certificate expired, gets no offers"
    return does
