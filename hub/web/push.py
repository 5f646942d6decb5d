"""HTTP routes for devices and notification preferences. Any role; each user sees only their own.

| Route | Body | Response |
|---|---|---|
| ``POST /api/v1/devices`` | ``{platform, token, app_id?, locale?}`` | 201 new device, 200 already yours |
| ``GET /api/v1/devices`` | | ``{"devices": [...]}`` |
| ``DELETE /api/v1/devices/{id}`` | | 204; 404 when not yours or unknown |
| ``GET /api/v1/notification-preferences`` | | ``{"kinds": {...}, "quiet_hours": {...} or null}`` |
| ``PUT /api/v1/notification-preferences`` | same shape; kinds merge, ``quiet_hours: null`` clears | as GET |

Invalid bodies get 422 ``invalid_payload`` with ``details``: ``[{"loc": [...], "message"}]``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import time
from typing import Annotated

from aiohttp import web
from pydantic import (
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)

from hub.acks import Payload, parse_json
from hub.auth import ANY_ROLE
from hub.errors import InvalidPayload, NotFound
from hub.keys import DATABASE, PUSH_CONFIG, PUSH_SENDER, SETTINGS
from hub.push import devices, preferences
from hub.push.config import PushConfig
from hub.push.models import Platform
from hub.push.preferences import KIND, MAX_KINDS_PER_USER, QuietHours
from hub.push.sender import PushSender
from hub.times import Timestamp
from hub.web.http import Reply
from hub.web.openapi import Operation, add_operations, caller, reply

_HH_MM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class DeviceIn(Payload):
    model_config = ConfigDict(strict=True)

    platform: Platform
    token: str = Field(min_length=1, max_length=devices.MAX_TOKEN_LENGTH)
    app_id: str | None = Field(default=None, min_length=1, max_length=155)
    locale: str | None = Field(default=None, min_length=1, max_length=35)


class ChannelsIn(Payload):
    in_app: StrictBool | None = None
    push: StrictBool | None = None


class QuietHoursIn(Payload):
    model_config = ConfigDict(strict=True)

    start: str = Field(pattern=_HH_MM)
    end: str = Field(pattern=_HH_MM)
    time_zone: str = Field(min_length=1, max_length=64)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        preferences.zone(value)  # ValueError becomes a validation error on this field
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHoursIn:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        return self

    def to_domain(self) -> QuietHours:
        return QuietHours(time.fromisoformat(self.start), time.fromisoformat(self.end), self.time_zone)


class PreferencesIn(Payload):
    kinds: dict[Annotated[str, Field(pattern=KIND.pattern)], ChannelsIn] = Field(
        default_factory=dict, max_length=MAX_KINDS_PER_USER
    )
    quiet_hours: QuietHoursIn | None = None


class DeviceOut(Reply):
    id: str = Field(json_schema_extra={"format": "uuid"})
    platform: Platform
    token: str
    app_id: str | None
    locale: str | None
    created_at: Timestamp | None
    last_seen_at: Timestamp | None


class DeviceList(Reply):
    items: list[DeviceOut]
    next_cursor: None = Field(description="Always null: the list has one page.")


class ChannelsOut(Reply):
    in_app: bool
    push: bool


class QuietHoursOut(Reply):
    start: str = Field(pattern=_HH_MM)
    end: str = Field(pattern=_HH_MM)
    time_zone: str


class PreferencesOut(Reply):
    kinds: dict[str, ChannelsOut] = Field(description="Only the kinds the user changed; others are all on.")
    quiet_hours: QuietHoursOut | None


async def register_device(request: web.Request) -> web.Response:
    principal = caller(request)
    body = parse_json(DeviceIn, await request.read())
    token = devices.check_registration(
        request.app[PUSH_CONFIG], body.platform, body.token, body.app_id, body.locale
    )
    async with request.app[DATABASE].pool.acquire() as conn:
        device, created = await devices.register(
            conn,
            principal.user_id,
            principal.role.value,
            body.platform,
            token,
            app_id=body.app_id,
            locale=body.locale,
        )
    return reply(DeviceOut(**device.to_json()), status=201 if created else 200)


async def list_devices(request: web.Request) -> web.Response:
    principal = caller(request)
    found = await devices.list_for_user(request.app[DATABASE].pool, principal.user_id, principal.role.value)
    return reply(DeviceList(items=[DeviceOut(**d.to_json()) for d in found], next_cursor=None))


async def delete_device(request: web.Request) -> web.Response:
    principal = caller(request)
    try:
        device_id = uuid.UUID(request.match_info["device_id"])
    except ValueError:
        device_id = None
    # Someone else's device is "not found" too: do not confirm that an id exists.
    if device_id is None or not await devices.remove(
        request.app[DATABASE].pool, principal.user_id, principal.role.value, device_id
    ):
        raise NotFound("no such device", code="device_not_found")
    return web.Response(status=204)


async def get_preferences(request: web.Request) -> web.Response:
    principal = caller(request)
    stored = await preferences.load(request.app[DATABASE].pool, principal.user_id, principal.role.value)
    return reply(PreferencesOut(**stored.to_json()))


async def put_preferences(request: web.Request) -> web.Response:
    principal = caller(request)
    body = parse_json(PreferencesIn, await request.read())
    kinds = {kind: change.model_dump(exclude_none=True) for kind, change in body.kinds.items()}
    quiet = body.quiet_hours.to_domain() if body.quiet_hours is not None else None
    async with request.app[DATABASE].pool.acquire() as conn:
        try:
            stored = await preferences.update(
                conn,
                principal.user_id,
                principal.role.value,
                kinds,
                set_quiet_hours="quiet_hours" in body.model_fields_set,
                quiet_hours=quiet,
            )
        except ValueError as exc:  # too many kinds for this user
            raise InvalidPayload(str(exc), details=[{"loc": ["kinds"], "message": str(exc)}]) from None
    return reply(PreferencesOut(**stored.to_json()))


async def sender_context(app: web.Application) -> AsyncIterator[None]:
    """aiohttp cleanup context running a ``PushSender``; append it after the database's.

    Uses ``app[PUSH_CONFIG]`` (set by ``hub.web.push.add_routes``) and ``app[DATABASE]``.
    """
    database = app[DATABASE]
    sender = PushSender(database.pool, database.dsn, app[PUSH_CONFIG])
    app[PUSH_SENDER] = sender
    sender.start()
    yield
    await sender.stop()


def add_routes(app: web.Application, config: PushConfig | None = None) -> None:
    """Register the push routes and make the configuration available as ``app[PUSH_CONFIG]``.

    The configuration is ``config``, else one the app holds already, else the hub settings'
    ``push`` part, else read from the environment (``ConfigError`` at start-up when bad).
    """
    if config is None and PUSH_CONFIG not in app:
        config = getattr(app.get(SETTINGS), "push", None) or PushConfig.from_env()
    if config is not None:
        app[PUSH_CONFIG] = config
    add_operations(app, OPERATIONS)


OPERATIONS = [
    Operation(
        "POST",
        "/api/v1/devices",
        register_device,
        summary="Register a device for push notifications (201 new, 200 already the caller's)",
        tag="push",
        roles=ANY_ROLE,
        body=DeviceIn,
        responses={201: DeviceOut, 200: DeviceOut},
        errors=(413,),
    ),
    Operation(
        "GET",
        "/api/v1/devices",
        list_devices,
        summary="The caller's devices",
        tag="push",
        roles=ANY_ROLE,
        responses={200: DeviceList},
    ),
    Operation(
        "DELETE",
        "/api/v1/devices/{device_id}",
        delete_device,
        summary="Remove one of the caller's devices (404 when unknown or someone else's)",
        tag="push",
        roles=ANY_ROLE,
        responses={204: None},
        errors=(404,),
        path_params={"device_id": {"type": "string", "format": "uuid"}},
    ),
    Operation(
        "GET",
        "/api/v1/notification-preferences",
        get_preferences,
        summary="The caller's channels per notification kind and quiet hours",
        tag="push",
        roles=ANY_ROLE,
        responses={200: PreferencesOut},
    ),
    Operation(
        "PUT",
        "/api/v1/notification-preferences",
        put_preferences,
        summary="Change channels per kind (merged) and quiet hours (null clears them)",
        tag="push",
        roles=ANY_ROLE,
        body=PreferencesIn,
        responses={200: PreferencesOut},
        errors=(413,),
    ),
]
