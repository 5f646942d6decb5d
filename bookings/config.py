"""Booking and dispatch configuration from ``HUB_*`` variables.

Dispatch rules (wave size, deadlines, score weights) start from these values; an admin can change
them at run time (``PUT /api/v1/admin/settings/dispatch``), which is stored in ``system_settings``.
"""

from __future__ import annotations

import math
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass

from hub.env import ConfigError, EnvReader


@dataclass(frozen=True, slots=True)
class BookingConfig:
    timezone: str  # the city's zone: service hours and slot dates are local time
    payment_minutes: float  # an unpaid booking expires after this
    min_lead_minutes: float  # a slot must start at least this far in the future
    max_days_ahead: int
    geofence_meters: float  # job:arrive farther than this from the address is flagged to support
    location_interval_seconds: float  # job:location is forwarded at most this often per booking
    travel_speed_kmh: float  # to estimate travel time from distance (lateness)
    lateness_grace_minutes: float
    stalled_grace_minutes: float  # on the way this long past the ETA: the job is stalled
    overrun_minutes: float  # in service this long past the booked length: stalled too
    timer_sweep_seconds: float  # the safety net that fires deadlines another node scheduled

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BookingConfig:
        r = EnvReader(env)
        timezone = r.text("HUB_BOOKING_TIMEZONE") or "Asia/Shanghai"
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigError("HUB_BOOKING_TIMEZONE", f"unknown time zone {timezone!r}") from None
        return cls(
            timezone=timezone,
            payment_minutes=r.real("HUB_BOOKING_PAYMENT_MINUTES", 15.0, minimum=0.01),
            min_lead_minutes=r.real("HUB_BOOKING_MIN_LEAD_MINUTES", 60.0, minimum=0.0),
            max_days_ahead=r.integer("HUB_BOOKING_MAX_DAYS_AHEAD", 60, minimum=1, maximum=366),
            geofence_meters=r.real("HUB_TRACKING_GEOFENCE_METERS", 300.0, minimum=10.0),
            location_interval_seconds=r.real("HUB_TRACKING_LOCATION_SECONDS", 5.0, minimum=0.0),
            travel_speed_kmh=r.real("HUB_TRACKING_SPEED_KMH", 20.0, minimum=1.0),
            lateness_grace_minutes=r.real("HUB_LATENESS_GRACE_MINUTES", 5.0, minimum=0.0),
            stalled_grace_minutes=r.real("HUB_STALLED_GRACE_MINUTES", 15.0, minimum=0.0),
            overrun_minutes=r.real("HUB_OVERRUN_MINUTES", 30.0, minimum=0.0),
            timer_sweep_seconds=r.real("HUB_TIMER_SWEEP_SECONDS", 5.0, minimum=0.05),
        )


@dataclass(frozen=True, slots=True)
class DispatchDefaults:
    wave_size: int  # K: workers offered a booking at once
    max_waves: int
    offer_seconds: float
    chosen_offer_seconds: float  # a worker the customer chose gets longer to answer
    travel_buffer_minutes: int  # kept free between two jobs of one worker

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DispatchDefaults:
        r = EnvReader(env)
        return cls(
            wave_size=r.integer("HUB_DISPATCH_WAVE_SIZE", 3, minimum=1, maximum=50),
            max_waves=r.integer("HUB_DISPATCH_MAX_WAVES", 3, minimum=1, maximum=20),
            offer_seconds=r.real("HUB_DISPATCH_OFFER_SECONDS", 30.0, minimum=0.1),
            chosen_offer_seconds=r.real("HUB_DISPATCH_CHOSEN_OFFER_SECONDS", 120.0, minimum=0.1),
            travel_buffer_minutes=r.integer("HUB_DISPATCH_TRAVEL_BUFFER_MINUTES", 30, minimum=0, maximum=600),
        )


@dataclass(frozen=True, slots=True)
class PointsDefaults:
    """The points rule until an admin changes it (``PUT /api/v1/admin/settings/points``)."""

    earn_per_yuan: int  # points a completed booking earns per 1 CNY it cost
    points_per_yuan: int  # points that buy 1 CNY off a booking
    max_share_pct: int  # points pay at most this share of a booking's total

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PointsDefaults:
        r = EnvReader(env)
        return cls(
            earn_per_yuan=r.integer("HUB_POINTS_PER_YUAN", 1, minimum=0, maximum=100),
            points_per_yuan=r.integer("HUB_POINTS_REDEEM_PER_YUAN", 100, minimum=1, maximum=10_000),
            max_share_pct=r.integer("HUB_POINTS_MAX_SHARE_PCT", 50, minimum=0, maximum=90),
        )


@dataclass(frozen=True, slots=True)
class ReviewConfig:
    """Reviews of a worker after a service (``bookings.reviews``)."""

    edit_minutes: float = 60.0  # the author may change a review this long after writing it
    within_days: int = 30  # a review may be written this long after the service finished
    low_below: float = 3.0  # an overall rating below this opens a console item for support

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ReviewConfig:
        r = EnvReader(env)
        edit_minutes = r.real("HUB_REVIEW_EDIT_MINUTES", 60.0, minimum=0.0)
        if not math.isfinite(edit_minutes):
            raise ConfigError("HUB_REVIEW_EDIT_MINUTES", "must be a finite number of minutes")
        low_below = r.real("HUB_REVIEW_LOW_BELOW", 3.0, minimum=1.0)
        if not low_below <= 5.0:  # also refuses nan
            raise ConfigError("HUB_REVIEW_LOW_BELOW", f"must be at most 5.0, got {low_below}")
        return cls(
            edit_minutes=edit_minutes,
            within_days=r.integer("HUB_REVIEW_WITHIN_DAYS", 30, minimum=1, maximum=3650),
            low_below=low_below,
        )
