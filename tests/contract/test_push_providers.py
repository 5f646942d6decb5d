"""The outcome contract every push provider keeps, each against its fake server (real HTTP, real sockets).

Every test runs once per ``Platform``: ``build_providers`` builds that platform's provider from a
configuration pointing at the fakes (tests/support/push_fakes.py), and ``FAKES`` says how to reach
the platform's fake and what the real service answers in each case. A platform without an entry
in ``FAKES`` fails every test here, so a new provider cannot miss the contract.

- a delivered push is ``SENT``;
- a device token the service calls dead is ``UNREGISTERED`` (the sender deletes the device);
- a server error, a throttling answer (with its ``Retry-After`` where the service sends one) or
  no answer in time is ``RETRY``;
- credentials the service does not accept, or a request it refuses, is ``FAILED``;
- short-lived credentials the service calls expired are ``RETRY``, and the next send renews them.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import pkgutil
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import hub.push.providers
from hub.push.models import Device, Platform
from hub.push.providers import Outcome, Provider, SendResult, build_providers
from hub.push.queue import PushMessage
from tests.support.push_fakes import (
    FakeGoogle,
    Fakes,
    Reply,
    Scripted,
    fcm_error_reply,
    new_ec_key,
    new_rsa_key,
    private_pem,
    running_fakes,
)
from tests.support.waiting import WAIT

# Long enough for the fakes to answer on a busy machine, short enough to wait out in a test.
SHORT_READ_TIMEOUT = 1.0


def apns_token(name: str) -> str:
    """A device token as APNs hands them out: 64 hex digits."""
    return hashlib.sha256(name.encode()).hexdigest()


@dataclass(frozen=True)
class FakeServer:
    """One platform's fake server, and what the real service answers in each case."""

    server: Callable[[Fakes], Scripted]
    # (device token, the key the fake scripts replies by) for a device called ``name``.
    address: Callable[[Fakes, str], tuple[str, str]]
    sent_id: re.Pattern[str] | None  # the provider's id for a delivered message, if it gives one
    unregistered: tuple[Reply, ...]
    server_errors: tuple[Reply, ...]
    throttled: Reply
    retry_after: float | None  # what ``throttled`` asks for; None where the service sends none
    refused: Reply  # a request the service will never accept
    # HUB_* variables giving the provider credentials the fake does not accept.
    foreign_credentials: Callable[[Fakes], dict[str, str]]
    # For services with short-lived credentials: make the fake call the current ones expired,
    # and count the distinct ones it has seen.
    expire_credentials: Callable[[Fakes, str], None] | None = None
    credentials_seen: Callable[[Fakes], int] | None = None


FAKES: dict[Platform, FakeServer] = {
    Platform.FCM: FakeServer(
        server=lambda fakes: fakes.google,
        address=lambda fakes, name: (f"fcm-{name}", f"fcm-{name}"),
        sent_id=re.compile(rf"projects/{FakeGoogle.PROJECT}/messages/[0-9a-f]{{32}}"),
        unregistered=(fcm_error_reply(404, "NOT_FOUND", "UNREGISTERED"),),
        server_errors=(
            fcm_error_reply(500, "INTERNAL", "INTERNAL"),
            fcm_error_reply(503, "UNAVAILABLE", "UNAVAILABLE"),
        ),
        throttled=fcm_error_reply(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", **{"Retry-After": "7"}),
        retry_after=7.0,
        refused=fcm_error_reply(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
        foreign_credentials=lambda fakes: {
            "HUB_FCM_SERVICE_ACCOUNT": json.dumps(
                {**fakes.google.service_account(), "private_key": private_pem(new_rsa_key())}
            )
        },
        expire_credentials=lambda fakes, key: fakes.google.revoked.update(fakes.google.issued),
        credentials_seen=lambda fakes: len(fakes.google.issued),
    ),
    Platform.APNS: FakeServer(
        server=lambda fakes: fakes.apns,
        address=lambda fakes, name: (apns_token(name), apns_token(name)),
        sent_id=re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}"),  # apns-id
        unregistered=(
            Reply(410, {"reason": "Unregistered", "timestamp": int(time.time() * 1000)}),
            Reply(400, {"reason": "BadDeviceToken"}),
        ),
        server_errors=(
            Reply(500, {"reason": "InternalServerError"}),
            Reply(503, {"reason": "ServiceUnavailable"}),
        ),
        throttled=Reply(429, {"reason": "TooManyRequests"}),
        retry_after=None,  # Apple documents no Retry-After
        refused=Reply(400, {"reason": "DeviceTokenNotForTopic"}),
        foreign_credentials=lambda fakes: {"HUB_APNS_KEY": private_pem(new_ec_key())},
        expire_credentials=lambda fakes, key: fakes.apns.script(
            key, Reply(403, {"reason": "ExpiredProviderToken"})
        ),
        credentials_seen=lambda fakes: len(fakes.apns.provider_tokens),
    ),
    Platform.WEBHOOK: FakeServer(
        server=lambda fakes: fakes.webhook,
        address=lambda fakes, name: (fakes.webhook.url(name), name),
        sent_id=None,
        unregistered=(Reply(410, {"error": "gone"}),),
        server_errors=(Reply(500, {"error": "down"}), Reply(503, {"error": "busy"})),
        throttled=Reply(429, {"error": "slow down"}, {"Retry-After": "7"}),
        retry_after=7.0,
        refused=Reply(422, {"error": "no"}),
        foreign_credentials=lambda fakes: {
            "HUB_WEBHOOK_SECRET": "another-webhook-secret-long-enough-0123456789"
        },
    ),
}
# Platforms whose service hands out short-lived credentials (a webhook's secret never expires).
RENEWING = [platform for platform, fake in FAKES.items() if fake.expire_credentials is not None]

MakeProvider = Callable[..., Awaitable[Provider]]


@pytest.fixture
async def fakes(tmp_path: Path) -> AsyncIterator[Fakes]:
    async with running_fakes(tmp_path) as running:
        yield running


@pytest.fixture(params=list(Platform))
def platform(request: pytest.FixtureRequest) -> Platform:
    result: Platform = request.param
    return result


@pytest.fixture
def fake(platform: Platform) -> FakeServer:
    if platform not in FAKES:
        pytest.fail(f"no fake server for the {platform} push provider: add one to FAKES", pytrace=False)
    return FAKES[platform]


@pytest.fixture
async def make_provider(fakes: Fakes, platform: Platform) -> AsyncIterator[MakeProvider]:
    """``await make_provider(**HUB_env)``: the platform's provider, built as the hub builds it."""
    built: list[Provider] = []

    async def make(**env: str) -> Provider:
        providers = build_providers(fakes.config(**env), verify=fakes.ssl_context())
        built.extend(providers.values())
        if platform not in providers:
            pytest.fail(f"build_providers made no {platform} provider from Fakes.env()", pytrace=False)
        return providers[platform]

    yield make
    for provider in built:
        await provider.aclose()


def device_at(platform: Platform, token: str) -> Device:
    return Device(uuid.uuid4(), "u-1", "customer", platform, token)


async def send(provider: Provider, device: Device) -> SendResult:
    message = PushMessage(
        uuid.uuid4(),
        device.user_id,
        device.role,
        "booking.updated",
        "Booking confirmed",
        "Your cleaner arrives at 09:00",
        {"booking_id": "b-1"},
    )
    return await asyncio.wait_for(provider.send(device, message), WAIT)


def test_every_platform_has_a_fake_server() -> None:
    assert set(FAKES) == set(Platform)


async def test_a_delivered_push_is_sent(
    fakes: Fakes, platform: Platform, fake: FakeServer, make_provider: MakeProvider
) -> None:
    provider = await make_provider()
    token, key = fake.address(fakes, "ok")
    result = await send(provider, device_at(platform, token))
    assert (result.outcome, result.error, result.retry_after) == (Outcome.SENT, None, None)
    if fake.sent_id is None:
        assert result.provider_id is None
    else:
        assert result.provider_id is not None
        assert fake.sent_id.fullmatch(result.provider_id), result.provider_id
    assert len(fake.server(fakes).seen(key)) == 1
    assert fakes.violations == []


async def test_a_dead_device_token_is_unregistered(
    fakes: Fakes, platform: Platform, fake: FakeServer, make_provider: MakeProvider
) -> None:
    provider = await make_provider()
    for i, reply in enumerate(fake.unregistered):
        token, key = fake.address(fakes, f"gone-{i}")
        fake.server(fakes).script(key, reply)
        result = await send(provider, device_at(platform, token))
        assert result.outcome is Outcome.UNREGISTERED, (reply, result)
        assert result.error
        assert len(fake.server(fakes).seen(key)) == 1
    assert fakes.violations == []


async def test_server_errors_are_retried(
    fakes: Fakes, platform: Platform, fake: FakeServer, make_provider: MakeProvider
) -> None:
    provider = await make_provider()
    for i, reply in enumerate(fake.server_errors):
        token, key = fake.address(fakes, f"down-{i}")
        fake.server(fakes).script(key, reply)
        result = await send(provider, device_at(platform, token))
        assert (result.outcome, result.retry_after) == (Outcome.RETRY, None), (reply, result)
        assert result.error
        # Nothing is left scripted, so the retry goes through.
        assert (await send(provider, device_at(platform, token))).outcome is Outcome.SENT
        assert len(fake.server(fakes).seen(key)) == 2
    assert fakes.violations == []


async def test_throttling_is_retried_honouring_retry_after(
    fakes: Fakes, platform: Platform, fake: FakeServer, make_provider: MakeProvider
) -> None:
    provider = await make_provider()
    token, key = fake.address(fakes, "throttled")
    fake.server(fakes).script(key, fake.throttled)
    result = await send(provider, device_at(platform, token))
    assert (result.outcome, result.retry_after) == (Outcome.RETRY, fake.retry_after)
    assert result.error
    assert fakes.violations == []


async def test_no_answer_in_time_is_retried(
    fakes: Fakes,
    platform: Platform,
    fake: FakeServer,
    make_provider: MakeProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Providers build their HTTP clients with HTTP_TIMEOUT (10 s reads); shorten the reads of
    # every provider module, so that waiting one out fits in a test.
    prefix = f"{hub.push.providers.__name__}."
    for module_info in pkgutil.iter_modules(hub.push.providers.__path__, prefix):
        module = importlib.import_module(module_info.name)
        if hasattr(module, "HTTP_TIMEOUT"):
            usual: httpx.Timeout = module.HTTP_TIMEOUT
            shorter = httpx.Timeout(
                connect=usual.connect, read=SHORT_READ_TIMEOUT, write=usual.write, pool=usual.pool
            )
            monkeypatch.setattr(module, "HTTP_TIMEOUT", shorter)
    provider = await make_provider()
    token, key = fake.address(fakes, "slow")
    device = device_at(platform, token)
    # Connected (and, where the service wants it, authorised) first: only the answer is late.
    assert (await send(provider, device)).outcome is Outcome.SENT
    server = fake.server(fakes)
    server.hold = asyncio.Event()  # released when the fakes stop
    started = time.monotonic()
    result = await send(provider, device)
    assert result.outcome is Outcome.RETRY, result
    assert result.error is not None
    assert "Timeout" in result.error
    assert time.monotonic() - started >= SHORT_READ_TIMEOUT
    assert len(server.seen(key)) == 2  # the request did arrive; its answer did not
    assert fakes.violations == []


async def test_credentials_the_service_refuses_fail(
    fakes: Fakes, platform: Platform, fake: FakeServer, make_provider: MakeProvider
) -> None:
    provider = await make_provider(**fake.foreign_credentials(fakes))
    token, _ = fake.address(fakes, "forged")
    result = await send(provider, device_at(platform, token))
    assert result.outcome is Outcome.FAILED, result
    assert result.error
    server = fake.server(fakes)
    assert server.violations  # refused for the credentials, not for anything else
    assert server.received == []


async def test_a_request_the_service_refuses_fails(
    fakes: Fakes, platform: Platform, fake: FakeServer, make_provider: MakeProvider
) -> None:
    provider = await make_provider()
    token, key = fake.address(fakes, "refused")
    fake.server(fakes).script(key, fake.refused)
    result = await send(provider, device_at(platform, token))
    assert (result.outcome, result.retry_after) == (Outcome.FAILED, None), result
    assert result.error
    assert len(fake.server(fakes).seen(key)) == 1
    assert fakes.violations == []


@pytest.mark.parametrize("platform", RENEWING)
async def test_expired_credentials_are_retried_and_renewed(
    fakes: Fakes, platform: Platform, fake: FakeServer, make_provider: MakeProvider
) -> None:
    assert fake.expire_credentials is not None
    assert fake.credentials_seen is not None
    provider = await make_provider()
    token, key = fake.address(fakes, "renew")
    device = device_at(platform, token)
    assert (await send(provider, device)).outcome is Outcome.SENT
    assert fake.credentials_seen(fakes) == 1
    fake.expire_credentials(fakes, key)
    result = await send(provider, device)
    assert result.outcome is Outcome.RETRY, result
    assert result.error
    assert (await send(provider, device)).outcome is Outcome.SENT
    assert fake.credentials_seen(fakes) == 2
    assert fakes.violations == []
