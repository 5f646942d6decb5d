"""Which channels a user wants per notification kind, and when their phone should stay silent.

Everything is on until the user says otherwise: only changed kinds are stored. Quiet hours hold
back non-urgent pushes (the notification still reaches the in-app inbox); urgent ones, such as job
offers and safety alerts, are sent regardless. An explicit "push off" for a kind is respected even
for urgent notifications: it is the user's choice, quiet hours are only a schedule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.storage import push as store
from hub.storage.db import Conn, Executor

KIND = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")
MAX_KINDS_PER_USER = 200  # kinds are free-form; bound what one user can store


@dataclass(frozen=True, slots=True)
class Channels:
    in_app: bool = True
    push: bool = True


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local wall-clock window in ``time_zone``; ``start > end`` spans midnight. End is exclusive."""

    start: time
    end: time
    time_zone: str

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError("quiet hours must start and end at different times")
        zone(self.time_zone)  # raises ValueError for an unknown zone

    def to_json(self) -> dict[str, str]:
        return {
            "start": self.start.strftime("%H:%M"),
            "end": self.end.strftime("%H:%M"),
            "time_zone": self.time_zone,
        }


@dataclass(frozen=True, slots=True)
class Preferences:
    kinds: Mapping[str, Channels]
    quiet_hours: QuietHours | None

    def to_json(self) -> dict[str, Any]:
        return {
            "kinds": {k: {"in_app": c.in_app, "push": c.push} for k, c in self.kinds.items()},
            "quiet_hours": None if self.quiet_hours is None else self.quiet_hours.to_json(),
        }


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ``ValueError`` if unknown (``ZoneInfoNotFoundError`` is a KeyError)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def check_kind(kind: str) -> str:
    if not KIND.match(kind):
        raise ValueError(f"notification kind {kind!r} does not match {KIND.pattern}")
    return kind


def in_quiet_hours(quiet: QuietHours | None, now: datetime) -> bool:
    """Whether ``now`` (timezone-aware) falls in the quiet window, in the user's local time.

    Converting the instant to the zone first makes DST transitions come out right: a 22:00-07:00
    window is 22:00-07:00 on the wall clock whatever the UTC offset is that night.
    """
    if quiet is None:
        return False
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    local = now.astimezone(zone(quiet.time_zone)).time().replace(tzinfo=None)
    if quiet.start < quiet.end:
        return quiet.start <= local < quiet.end
    return local >= quiet.start or local < quiet.end


async def channels_for(conn: Executor, user_id: str, role: str, kind: str) -> Channels:
    """The channels the user (id and role) wants for ``kind``; both on unless they turned one off."""
    row = await store.channel_row(conn, user_id, role, check_kind(kind))
    return Channels() if row is None else Channels(in_app=row["in_app"], push=row["push"])


async def quiet_hours_for(conn: Executor, user_id: str, role: str) -> QuietHours | None:
    row = await store.quiet_hours_row(conn, user_id, role)
    if row is None:
        return None
    return QuietHours(start=row["starts_at"], end=row["ends_at"], time_zone=row["time_zone"])


async def load(conn: Executor, user_id: str, role: str) -> Preferences:
    rows = await store.list_preferences(conn, user_id, role)
    kinds = {r["kind"]: Channels(in_app=r["in_app"], push=r["push"]) for r in rows}
    return Preferences(kinds=kinds, quiet_hours=await quiet_hours_for(conn, user_id, role))


async def update(
    conn: Conn,
    user_id: str,
    role: str,
    kinds: Mapping[str, Mapping[str, bool]],
    *,
    set_quiet_hours: bool = False,
    quiet_hours: QuietHours | None = None,
) -> Preferences:
    """Merge ``{kind: {"in_app"?, "push"?}}`` into the stored preferences (a channel left out
    keeps its value); with ``set_quiet_hours``, set ``quiet_hours`` or clear them (None).
    Returns the preferences as stored afterwards.

    Raises ``ValueError`` for a bad kind or when the user would exceed ``MAX_KINDS_PER_USER``.
    """
    async with conn.transaction():
        current = await load(conn, user_id, role)
        merged: dict[str, tuple[bool, bool]] = {}
        for kind, change in kinds.items():
            before = current.kinds.get(check_kind(kind), Channels())
            merged[kind] = (change.get("in_app", before.in_app), change.get("push", before.push))
        if len(set(current.kinds) | set(merged)) > MAX_KINDS_PER_USER:
            raise ValueError(f"at most {MAX_KINDS_PER_USER} notification kinds per user")
        await store.save_preferences(conn, user_id, role, merged)
        if set_quiet_hours and quiet_hours is None:
            await store.clear_quiet_hours(conn, user_id, role)
        elif set_quiet_hours and quiet_hours is not None:
            await store.save_quiet_hours(
                conn, user_id, role, quiet_hours.start, quiet_hours.end, quiet_hours.time_zone
            )
        return await load(conn, user_id, role)
