"""The fake push providers (tests/support/push_fakes.py) refuse what the real services refuse."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jwt
import pytest

from tests.support.push_fakes import (
    FCM_SCOPE,
    JWT_BEARER,
    WEBHOOK_SECRET,
    FakeApns,
    FakeGoogle,
    Fakes,
    new_ec_key,
    new_rsa_key,
    private_pem,
    running_fakes,
)


@pytest.fixture
async def fakes(tmp_path: Path) -> AsyncIterator[Fakes]:
    async with running_fakes(tmp_path) as running:
        yield running


async def test_apns_fake_refuses_http1(fakes: Fakes) -> None:
    async with httpx.AsyncClient(http2=False, verify=fakes.ssl_context()) as client:
        response = await client.post(f"{fakes.apns.url}/3/device/{'ab' * 32}", content=b"{}")
    assert response.http_version == "HTTP/1.1"
    assert response.status_code == 400
    assert fakes.apns.violations == ["apns: HTTP/1.1, APNs only speaks HTTP/2"]


async def test_apns_fake_refuses_a_token_signed_with_another_key(fakes: Fakes) -> None:
    forged = jwt.encode(
        {"iss": FakeApns.TEAM_ID, "iat": int(time.time())},
        private_pem(new_ec_key()),
        algorithm="ES256",
        headers={"kid": FakeApns.KEY_ID, "typ": None},
    )
    async with httpx.AsyncClient(http2=True, verify=fakes.ssl_context()) as client:
        response = await client.post(
            f"{fakes.apns.url}/3/device/{'ab' * 32}",
            headers={"authorization": f"bearer {forged}"},
            content=b"{}",
        )
    assert response.http_version == "HTTP/2"
    assert (response.status_code, response.json()) == (403, {"reason": "InvalidProviderToken"})
    assert "signature" in fakes.apns.violations[0].lower()


async def test_google_fake_refuses_an_assertion_signed_with_another_key(fakes: Fakes) -> None:
    now = int(time.time())
    forged = jwt.encode(
        {
            "iss": FakeGoogle.CLIENT_EMAIL,
            "scope": FCM_SCOPE,
            "aud": fakes.google.token_uri,
            "iat": now,
            "exp": now + 3600,
        },
        private_pem(new_rsa_key()),
        algorithm="RS256",
        headers={"kid": FakeGoogle.KEY_ID},
    )
    async with httpx.AsyncClient() as client:
        response = await client.post(
            fakes.google.token_uri, data={"grant_type": JWT_BEARER, "assertion": forged}
        )
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_grant"
        unauthenticated = await client.post(
            f"{fakes.google.url}/v1/projects/{FakeGoogle.PROJECT}/messages:send",
            json={"message": {"token": "t"}},
            headers={"Authorization": "Bearer made-up"},
        )
    assert unauthenticated.status_code == 401
    assert fakes.google.issued == []


async def test_webhook_fake_refuses_bad_and_stale_signatures(fakes: Fakes) -> None:
    body = b'{"kind":"offer"}'
    stale = str(int(time.time()) - 301)
    good_stale = (
        "sha256="
        + hmac.new(WEBHOOK_SECRET.encode(), stale.encode() + b"." + body, hashlib.sha256).hexdigest()
    )
    now = str(int(time.time()))
    async with httpx.AsyncClient() as client:
        for timestamp, signature in ((stale, good_stale), (now, "sha256=" + "0" * 64)):
            response = await client.post(
                fakes.webhook.url("a"),
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Hub-Timestamp": timestamp,
                    "X-Hub-Signature": signature,
                },
            )
            assert response.status_code == 401
    assert fakes.webhook.violations == [f"webhook: stale timestamp {stale!r}", "webhook: bad signature"]
    assert fakes.webhook.received == []
