"""JWT verification and signing (pyjwt), roles and the authenticated principal.

The hub never issues tokens in production: the platform's login service does, and the hub only
verifies them. ``issue_token`` exists for development, tests and the ``token`` CLI command.
"""

from __future__ import annotations

import enum
import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from hub.env import ConfigError
from hub.settings import JwtSettings, Settings

log = logging.getLogger(__name__)

DEV_SECRET_FILE = "jwt-dev-secret"  # inside HUB_DATA_DIR; created on first start without a secret
TIME_CLAIMS = ("exp", "nbf", "iat")
MAX_NUMERIC_DATE = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second a datetime can hold


class Role(enum.StrEnum):
    CUSTOMER = "customer"
    WORKER = "worker"
    SUPPORT = "support"
    ADMIN = "admin"


ANY_ROLE = tuple(Role)
STAFF = (Role.SUPPORT, Role.ADMIN)  # the support console's people


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is on the other end of a socket or HTTP request, as the token says."""

    user_id: str
    role: Role
    expires_at: int


class TokenError(Exception):
    """A token was refused; ``code`` is the machine-readable reason sent to the client."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _refusal(exc: jwt.PyJWTError) -> TokenError:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return TokenError("token_expired", "the token has expired")
    if isinstance(exc, jwt.ImmatureSignatureError):
        return TokenError("token_not_yet_valid", "the token is not valid yet (nbf or iat in the future)")
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return TokenError("token_invalid", f"the token has no {exc.claim!r} claim")
    if isinstance(exc, jwt.InvalidAudienceError):
        return TokenError("token_invalid", "the token is for another audience")
    if isinstance(exc, jwt.InvalidIssuerError):
        return TokenError("token_invalid", "the token is from another issuer")
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return TokenError("token_invalid", "the token's algorithm is not accepted")
    if isinstance(exc, jwt.InvalidSignatureError):
        return TokenError("token_invalid", "the token's signature does not verify")
    return TokenError("token_invalid", "the token is malformed")


class TokenVerifier:
    """Checks signature, algorithm, time claims, issuer and audience, then reads ``sub`` and ``role``."""

    def __init__(self, config: JwtSettings, key: str) -> None:
        self._config = config
        self._key = key
        # Only configured algorithms are accepted, so "none" and algorithm-confusion attacks
        # (an HS256 token signed with the RSA public key as secret) fail before any check.
        self._algorithms = list(config.algorithms)
        self._required = ["exp", "sub", "role"]
        if config.issuer:
            self._required.append("iss")
        if config.audience:
            self._required.append("aud")

    def verify(self, token: object) -> Principal:
        """Return the principal of a valid token; raise ``TokenError`` otherwise."""
        if not isinstance(token, str) or not token.strip():
            raise TokenError("token_missing", "send a JWT as auth.token")
        if not token.isascii():  # a JWT is base64url and dots; pyjwt would fail to encode the rest
            raise TokenError("token_invalid", "the token is malformed")
        try:
            # pyjwt reads a time claim with int(), so "exp": "1735689600" or true would pass its
            # checks: the types are checked first, on the claims as sent.
            _check_time_claims(jwt.decode(token.strip(), options={"verify_signature": False}))
            claims: dict[str, Any] = jwt.decode(
                token.strip(),
                self._key,
                algorithms=self._algorithms,
                issuer=self._config.issuer,
                audience=self._config.audience,
                leeway=self._config.leeway_seconds,
                options={"require": self._required, "verify_aud": bool(self._config.audience)},
            )
        except jwt.PyJWTError as exc:
            raise _refusal(exc) from None
        return _principal(claims)


def _check_time_claims(claims: dict[str, Any]) -> None:
    """RFC 7519: ``exp``, ``nbf`` and ``iat`` are NumericDates, JSON numbers of seconds; not
    strings, not booleans, and within what a date can be (NaN and infinities are not)."""
    for name in TIME_CLAIMS:
        value = claims.get(name)
        if value is None:
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 <= value <= MAX_NUMERIC_DATE
        ):
            raise TokenError(
                "token_invalid", f"the token's {name} must be a number of seconds (a NumericDate)"
            )


def _principal(claims: dict[str, Any]) -> Principal:
    sub, role = claims.get("sub"), claims.get("role")
    if not isinstance(sub, str) or not sub or len(sub) > 128:
        raise TokenError(
            "token_invalid", "the token's sub must be a non-empty string of at most 128 characters"
        )
    try:
        parsed_role = Role(str(role))
    except ValueError:
        raise TokenError("token_invalid", f"unknown role {role!r}") from None
    return Principal(user_id=sub, role=parsed_role, expires_at=int(claims["exp"]))


def verification_key(settings: Settings) -> str:
    """The key tokens are verified with: the public key, the secret, or the development secret."""
    jwt_settings = settings.jwt
    if jwt_settings.public_key:
        return jwt_settings.public_key
    if jwt_settings.secret:
        return jwt_settings.secret
    return development_secret(settings.data_dir)


def signing_key(settings: Settings) -> tuple[str, str]:
    """(key, algorithm) for issuing tokens, or ``ConfigError`` when the hub only holds a public key."""
    jwt_settings = settings.jwt
    if jwt_settings.public_key:
        if not jwt_settings.private_key:
            raise ConfigError(
                "HUB_JWT_PRIVATE_KEY",
                "required to sign tokens when HUB_JWT_PUBLIC_KEY is set",
            )
        return jwt_settings.private_key, jwt_settings.algorithms[0]
    return verification_key(settings), jwt_settings.algorithms[0]


def build_verifier(settings: Settings) -> TokenVerifier:
    return TokenVerifier(settings.jwt, verification_key(settings))


def issue_token(
    settings: Settings,
    *,
    role: Role,
    sub: str,
    ttl_seconds: int = 3600,
    extra: dict[str, Any] | None = None,
) -> str:
    key, algorithm = signing_key(settings)
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "role": role.value, "iat": now, "exp": now + ttl_seconds}
    if settings.jwt.issuer:
        claims["iss"] = settings.jwt.issuer
    if settings.jwt.audience:
        claims["aud"] = settings.jwt.audience
    claims.update(extra or {})
    return jwt.encode(claims, key, algorithm=algorithm)


def development_secret(data_dir: Path) -> str:
    """A random secret kept in the data dir, so tokens survive restarts on a developer machine."""
    path = data_dir / DEV_SECRET_FILE
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secret)
    try:
        # link() publishes the complete file atomically and fails if another process won the
        # race, so every process that starts together ends up with the same secret.
        os.link(draft, path)
    except FileExistsError:
        return _read_secret(path)
    finally:
        draft.unlink()
    log.warning(
        "HUB_JWT_SECRET is not set: generated a development secret in %s. "
        "Set HUB_JWT_SECRET or HUB_JWT_PUBLIC_KEY in production.",
        path,
    )
    return secret


def _read_secret(path: Path) -> str:
    secret = path.read_text(encoding="ascii").strip()
    if len(secret) < 32:
        raise ConfigError("HUB_DATA_DIR", f"{path} holds no usable development secret; delete it")
    return secret
