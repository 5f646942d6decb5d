"""Token verification: every way a token can be wrong is refused with the right code."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hub.auth import Principal, Role, TokenError, build_verifier, issue_token
from hub.settings import Settings

SECRET = "k" * 64


def hs_settings(**env: str) -> Settings:
    return Settings.from_env({"HUB_JWT_SECRET": SECRET, **env})


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"sub": "u-1", "role": "customer", "iat": now, "exp": now + 600}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def refusal(settings: Settings, token: object) -> str:
    with pytest.raises(TokenError) as caught:
        build_verifier(settings).verify(token)
    return caught.value.code


def test_valid_token_gives_principal() -> None:
    token = jwt.encode(claims(role="worker", sub="w-7"), SECRET, algorithm="HS256")
    principal = build_verifier(hs_settings()).verify(token)
    assert principal == Principal("w-7", Role.WORKER, principal.expires_at)


def test_issue_token_round_trips_with_issuer_and_audience() -> None:
    settings = hs_settings(HUB_JWT_ISSUER="https://auth.example", HUB_JWT_AUDIENCE="hub")
    token = issue_token(settings, role=Role.SUPPORT, sub="agent-1")
    assert build_verifier(settings).verify(token).role is Role.SUPPORT


@pytest.mark.parametrize("token", [None, "", "   ", 42, {"a": 1}])
def test_missing_token(token: object) -> None:
    assert refusal(hs_settings(), token) == "token_missing"


def test_alg_none_is_refused() -> None:
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(claims()).encode()).rstrip(b"=")
    assert refusal(hs_settings(), f"{header.decode()}.{body.decode()}.") == "token_invalid"


def test_unconfigured_algorithm_is_refused() -> None:
    token = jwt.encode(claims(), SECRET, algorithm="HS512")
    assert refusal(hs_settings(), token) == "token_invalid"


def test_bad_signature_is_refused() -> None:
    token = jwt.encode(claims(), "x" * 64, algorithm="HS256")
    assert refusal(hs_settings(), token) == "token_invalid"


def test_garbage_is_refused() -> None:
    assert refusal(hs_settings(), "not.a.jwt") == "token_invalid"


def test_expired_beyond_leeway() -> None:
    now = int(time.time())
    token = jwt.encode(claims(iat=now - 300, exp=now - 60), SECRET, algorithm="HS256")
    assert refusal(hs_settings(), token) == "token_expired"


def test_expired_within_leeway_is_accepted() -> None:
    now = int(time.time())
    token = jwt.encode(claims(iat=now - 300, exp=now - 5), SECRET, algorithm="HS256")
    assert build_verifier(hs_settings()).verify(token).user_id == "u-1"


def test_not_yet_valid() -> None:
    token = jwt.encode(claims(nbf=int(time.time()) + 600), SECRET, algorithm="HS256")
    assert refusal(hs_settings(), token) == "token_not_yet_valid"


@pytest.mark.parametrize("missing", ["sub", "role", "exp"])
def test_required_claims(missing: str) -> None:
    token = jwt.encode(claims(**{missing: None}), SECRET, algorithm="HS256")
    assert refusal(hs_settings(), token) == "token_invalid"


@pytest.mark.parametrize(
    "times",
    [
        {"exp": str(int(time.time()) + 600)},  # a numeric string is not a NumericDate
        {"exp": f"{int(time.time()) + 600}.0"},
        {"exp": True},
        {"exp": [int(time.time()) + 600]},
        {"exp": 10**20},  # past year 9999
        {"nbf": "0"},
        {"iat": str(int(time.time()))},
        {"iat": False},
    ],
)
def test_time_claims_must_be_numbers(times: dict[str, Any]) -> None:
    token = jwt.encode(claims(**times), SECRET, algorithm="HS256")
    assert refusal(hs_settings(), token) == "token_invalid"


def test_time_claims_may_be_fractional() -> None:
    now = time.time()
    token = jwt.encode(claims(iat=now, nbf=now - 1.5, exp=now + 600.25), SECRET, algorithm="HS256")
    assert build_verifier(hs_settings()).verify(token).expires_at == int(now + 600.25)


@pytest.mark.parametrize("token", ["\ud800", "a.\udfff.b", "\x00"])
def test_tokens_that_are_not_text_are_invalid(token: str) -> None:
    assert refusal(hs_settings(), token) == "token_invalid"


@pytest.mark.parametrize("role", ["root", "", "Customer"])
def test_unknown_role(role: str) -> None:
    token = jwt.encode(claims(role=role), SECRET, algorithm="HS256")
    assert refusal(hs_settings(), token) == "token_invalid"


def test_issuer_and_audience_are_enforced_when_configured() -> None:
    settings = hs_settings(HUB_JWT_ISSUER="https://auth.example", HUB_JWT_AUDIENCE="hub")
    for wrong in (
        claims(iss="https://evil.example", aud="hub"),
        claims(iss="https://auth.example", aud="other"),
        claims(aud="hub"),
        claims(iss="https://auth.example"),
    ):
        assert refusal(settings, jwt.encode(wrong, SECRET, algorithm="HS256")) == "token_invalid"


def _pem(private_key: Any) -> tuple[str, str]:
    public = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return public.decode(), private.decode()


@pytest.mark.parametrize(
    ("make_key", "algorithm"),
    [
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ES256"),
    ],
)
def test_public_key_verification(make_key: Any, algorithm: str) -> None:
    public, private = _pem(make_key())
    settings = Settings.from_env({"HUB_JWT_PUBLIC_KEY": public})
    assert settings.jwt.algorithms == (algorithm,)
    token = jwt.encode(claims(role="admin"), private, algorithm=algorithm)
    assert build_verifier(settings).verify(token).role is Role.ADMIN
    # Algorithm confusion: an HMAC token "signed" with the public key must not pass.
    forged = jwt.encode(claims(), "x" * 64, algorithm="HS256")
    assert refusal(settings, forged) == "token_invalid"
    _, other_private = _pem(make_key())
    assert refusal(settings, jwt.encode(claims(), other_private, algorithm=algorithm)) == "token_invalid"


def test_signing_needs_private_key_with_public_key_config() -> None:
    public, private = _pem(ec.generate_private_key(ec.SECP256R1()))
    from hub.env import ConfigError

    with pytest.raises(ConfigError, match="HUB_JWT_PRIVATE_KEY"):
        issue_token(Settings.from_env({"HUB_JWT_PUBLIC_KEY": public}), role=Role.WORKER, sub="w")
    settings = Settings.from_env({"HUB_JWT_PUBLIC_KEY": public, "HUB_JWT_PRIVATE_KEY": private})
    token = issue_token(settings, role=Role.WORKER, sub="w")
    assert build_verifier(settings).verify(token).user_id == "w"
