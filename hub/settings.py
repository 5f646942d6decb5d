"""Configuration: one frozen dataclass read from ``HUB_*`` environment variables.

Every variable is parsed here and nowhere else, so a bad value is reported once, at start-up,
naming the variable (``ConfigError``) instead of surfacing later as a confusing runtime failure.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from hub import extension
from hub.env import ConfigError, EnvReader
from hub.extension import Extension
from hub.presence.config import PresenceConfig
from hub.push.config import PushConfig

Serializer = Literal["json", "msgpack"]
LogFormat = Literal["text", "json"]

# Algorithms a public key may verify; HMAC ones are only for a shared secret.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
# RFC 7518 §3.2: an HMAC key must be at least as long as the hash output.
HMAC_KEY_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
HMAC_ALGORITHMS = frozenset(HMAC_KEY_BYTES)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MAX_WORKERS = 256  # hub processes of `serve --workers`; more is a typo, not a machine


@dataclass(frozen=True, slots=True)
class JwtSettings:
    secret: str | None
    public_key: str | None
    private_key: str | None
    algorithms: tuple[str, ...]
    issuer: str | None
    audience: str | None
    leeway_seconds: int


@dataclass(frozen=True, slots=True)
class OutboxSettings:
    sweep_seconds: float
    batch_size: int
    lease_seconds: float
    max_attempts: int
    backoff_base_seconds: float
    backoff_cap_seconds: float
    retention_hours: float


@dataclass(frozen=True, slots=True)
class ChatSettings:
    agent_capacity: int  # conversations an agent is given automatically at once
    booking_read_only_seconds: float  # after a booking completes, its conversation becomes read-only
    upload_max_bytes: int
    upload_quota_bytes: int  # what one person may upload in a day (rolling 24 hours)
    upload_concurrency: int  # uploads of one person in flight at once on one node
    batch_max: int  # chat:send messages written in one transaction at most (1: each on its own)


@dataclass(frozen=True, slots=True)
class SocketSettings:
    # An Engine.IO connection must join a namespace this soon (Node's Socket.IO: 45 s), or it is
    # closed: without it, connections that never authenticate stay open for free.
    join_timeout_seconds: float
    # Connections from one address that have not joined a namespace yet; more are refused.
    max_pending_per_address: int
    # Sockets of one person (role and id) on one namespace of one node (a phone, a tablet, tabs).
    max_per_user: int
    # New connections per second (bursts of 3 seconds' worth): from one address, checked before
    # any token is read, and of one person, checked once the token is.
    connects_per_second_per_address: float
    connects_per_second_per_user: float
    # permessage-deflate on websockets, when the client offers it (browsers and socket.io-client
    # do): Node's Socket.IO server declines it by default, and it costs the hub 12-30 % more CPU
    # for the small frames it sends.
    websocket_compression: bool = False


@dataclass(frozen=True, slots=True)
class Settings:
    host: str
    port: int
    database_url: str | None
    redis_url: str | None
    redis_channel: str
    data_dir: Path
    jwt: JwtSettings
    serializer: Serializer
    cors_origins: tuple[str, ...]
    log_level: str
    log_format: LogFormat
    max_payload_bytes: int
    db_pool_min: int
    db_pool_max: int
    db_connect_timeout_seconds: float
    db_acquire_timeout_seconds: float
    db_statement_timeout_seconds: float
    shutdown_timeout_seconds: float
    outbox: OutboxSettings
    chat: ChatSettings
    sockets: SocketSettings
    presence: PresenceConfig
    push: PushConfig
    # The add-ons HUB_EXTENSIONS names, each configured with its own settings.
    extensions: tuple[Extension, ...] = ()
    # How long the console stream keeps what it sent; a console away longer takes a snapshot.
    console_retention_hours: float = 72.0
    # The demo pages served at /demo/ (``hub.web.demo``); a folder that does not exist serves none.
    demo_dir: Path = Path("clients/demo")
    # Demo mode (``python -m hub demo``): the extensions load their demo data at start-up and the
    # demo login (``POST /api/v1/demo/login``) signs a token for any of its people. Never read
    # from the environment, so no deployment turns it on by a stray variable.
    demo_mode: bool = False
    # HUB_REDIS_MODE=cluster: HUB_REDIS_URL is a node of a Redis Cluster; the fan-out uses sharded
    # pub/sub, one channel per room (``hub.fanout_sharded``), and presence keeps its keys of one
    # change in one slot (``hub.presence.redis``).
    redis_cluster: bool = False
    # Hub processes `python -m hub serve` runs on its port (``hub.workers``); 1 is a lone process.
    workers: int = 1
    # The asyncio event loop the server runs on (``hub.web.loops``): auto, asyncio or uvloop.
    event_loop: str = "auto"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read every ``HUB_*`` variable; raise ``ConfigError`` on the first bad one."""
        env = os.environ if env is None else env
        r = EnvReader(env)
        outbox = _read_outbox(r)
        pool_min = r.integer("HUB_DB_POOL_MIN", 1, minimum=0)
        pool_max = r.integer("HUB_DB_POOL_MAX", 10, minimum=1)
        if pool_min > pool_max:
            raise ConfigError("HUB_DB_POOL_MIN", f"{pool_min} is above HUB_DB_POOL_MAX ({pool_max})")
        redis_url = r.url("HUB_REDIS_URL", ("redis", "rediss", "unix"))
        redis_cluster = r.choice("HUB_REDIS_MODE", ("single", "cluster"), "single") == "cluster"
        if redis_cluster and (redis_url is None or redis_url.startswith("unix")):
            raise ConfigError("HUB_REDIS_MODE", "cluster needs HUB_REDIS_URL (redis:// or rediss://, a node)")
        return cls(
            host=r.text("HUB_HOST") or "0.0.0.0",
            port=r.integer("HUB_PORT", 8080, minimum=0, maximum=65535),
            database_url=r.url("HUB_DATABASE_URL", ("postgres", "postgresql")),
            redis_url=redis_url,
            redis_channel=r.text("HUB_REDIS_CHANNEL") or "hub-socketio",
            data_dir=Path(r.text("HUB_DATA_DIR") or "./var"),
            jwt=_read_jwt(r),
            serializer=cast(Serializer, r.choice("HUB_SERIALIZER", ("json", "msgpack"), "json")),
            cors_origins=r.csv("HUB_CORS_ORIGINS"),
            log_level=r.choice("HUB_LOG_LEVEL", LOG_LEVELS, "INFO", upper=True),
            log_format=cast(LogFormat, r.choice("HUB_LOG_FORMAT", ("text", "json"), "text")),
            max_payload_bytes=r.integer("HUB_MAX_PAYLOAD_BYTES", 100_000, minimum=1024),
            db_pool_min=pool_min,
            db_pool_max=pool_max,
            # Every database wait is bounded (hub.storage.db.Timeouts); none can be switched off.
            db_connect_timeout_seconds=r.real("HUB_DB_CONNECT_TIMEOUT_SECONDS", 5.0, minimum=0.1),
            db_acquire_timeout_seconds=r.real("HUB_DB_ACQUIRE_TIMEOUT_SECONDS", 3.0, minimum=0.1),
            db_statement_timeout_seconds=r.real("HUB_DB_STATEMENT_TIMEOUT_SECONDS", 5.0, minimum=0.1),
            shutdown_timeout_seconds=r.real("HUB_SHUTDOWN_TIMEOUT", 3.0, minimum=0.0),
            outbox=outbox,
            chat=ChatSettings(
                agent_capacity=r.integer("HUB_CHAT_AGENT_CAPACITY", 5, minimum=1, maximum=1000),
                booking_read_only_seconds=r.real("HUB_CHAT_BOOKING_READ_ONLY_HOURS", 72.0, minimum=0.0)
                * 3600,
                upload_max_bytes=r.integer("HUB_UPLOAD_MAX_BYTES", 10 * 1024 * 1024, minimum=1024),
                upload_quota_bytes=r.integer("HUB_UPLOAD_QUOTA_BYTES", 200 * 1024 * 1024, minimum=1024),
                upload_concurrency=r.integer("HUB_UPLOAD_CONCURRENCY", 2, minimum=1, maximum=100),
                batch_max=r.integer("HUB_CHAT_BATCH_MAX", 256, minimum=1, maximum=1000),
            ),
            sockets=SocketSettings(
                join_timeout_seconds=r.real("HUB_SOCKET_JOIN_TIMEOUT_SECONDS", 45.0, minimum=0.1),
                max_pending_per_address=r.integer("HUB_SOCKET_MAX_PENDING_PER_ADDRESS", 50, minimum=1),
                max_per_user=r.integer("HUB_SOCKET_MAX_PER_USER", 10, minimum=1, maximum=10_000),
                connects_per_second_per_address=r.real("HUB_SOCKET_CONNECTS_PER_ADDRESS", 20.0, minimum=0.1),
                connects_per_second_per_user=r.real("HUB_SOCKET_CONNECTS_PER_USER", 2.0, minimum=0.1),
                websocket_compression=r.choice("HUB_WS_COMPRESSION", ("true", "false"), "false") == "true",
            ),
            presence=PresenceConfig.from_env(env),
            push=PushConfig.from_env(env),
            extensions=extension.configure(env),
            console_retention_hours=r.real("HUB_CONSOLE_RETENTION_HOURS", 72.0, minimum=1.0),
            demo_dir=Path(r.text("HUB_DEMO_DIR") or "clients/demo"),
            redis_cluster=redis_cluster,
            workers=read_workers("HUB_WORKERS", r.text("HUB_WORKERS")),
            event_loop=_read_event_loop(r),
        )


def read_workers(name: str, value: str | None) -> int:
    """A number of hub processes, or ``auto``: one per CPU this process may run on (a container's
    share, not the host's)."""
    if value is None:
        return 1
    if value.lower() == "auto":
        if hasattr(os, "sched_getaffinity"):
            return max(1, len(os.sched_getaffinity(0)))
        return os.cpu_count() or 1
    return EnvReader({name: value}).integer(name, 1, minimum=1, maximum=MAX_WORKERS)


def _read_outbox(r: EnvReader) -> OutboxSettings:
    settings = OutboxSettings(
        sweep_seconds=r.real("HUB_OUTBOX_SWEEP_SECONDS", 2.0, minimum=0.05),
        batch_size=r.integer("HUB_OUTBOX_BATCH", 100, minimum=1),
        lease_seconds=r.real("HUB_OUTBOX_LEASE_SECONDS", 30.0, minimum=5.0),
        max_attempts=r.integer("HUB_OUTBOX_MAX_ATTEMPTS", 25, minimum=1),
        backoff_base_seconds=r.real("HUB_OUTBOX_BACKOFF_BASE", 0.5, minimum=0.01),
        backoff_cap_seconds=r.real("HUB_OUTBOX_BACKOFF_CAP", 300.0, minimum=0.01),
        retention_hours=r.real("HUB_OUTBOX_RETENTION_HOURS", 72.0, minimum=0.0),
    )
    if settings.backoff_cap_seconds < settings.backoff_base_seconds:
        raise ConfigError("HUB_OUTBOX_BACKOFF_CAP", "must not be below HUB_OUTBOX_BACKOFF_BASE")
    return settings


def _read_jwt(r: EnvReader) -> JwtSettings:
    secret = r.text("HUB_JWT_SECRET")
    public_key = r.pem("HUB_JWT_PUBLIC_KEY")
    private_key = r.pem("HUB_JWT_PRIVATE_KEY")
    if secret and public_key:
        raise ConfigError("HUB_JWT_SECRET", "set either HUB_JWT_SECRET or HUB_JWT_PUBLIC_KEY, not both")
    algorithms = r.csv("HUB_JWT_ALGORITHMS")
    if public_key:
        algorithms = algorithms or (_default_algorithm(public_key),)
        wrong = [a for a in algorithms if a not in ASYMMETRIC_ALGORITHMS]
        allowed = ASYMMETRIC_ALGORITHMS
    else:
        algorithms = algorithms or ("HS256",)
        wrong = [a for a in algorithms if a not in HMAC_ALGORITHMS]
        allowed = HMAC_ALGORITHMS
    if wrong:
        kind = "a public key" if public_key else "a shared secret"
        raise ConfigError(
            "HUB_JWT_ALGORITHMS",
            f"{', '.join(wrong)} cannot be used with {kind}; choose from {', '.join(sorted(allowed))}",
        )
    if secret is not None:
        needed = max(HMAC_KEY_BYTES[a] for a in algorithms)
        if len(secret.encode()) < needed:
            raise ConfigError(
                "HUB_JWT_SECRET", f"must be at least {needed} bytes long for {', '.join(algorithms)}"
            )
    return JwtSettings(
        secret=secret,
        public_key=public_key,
        private_key=private_key,
        algorithms=algorithms,
        issuer=r.text("HUB_JWT_ISSUER"),
        audience=r.text("HUB_JWT_AUDIENCE"),
        leeway_seconds=r.integer("HUB_JWT_LEEWAY_SECONDS", 30, minimum=0, maximum=300),
    )


def _default_algorithm(public_key_pem: str) -> str:
    """The algorithm a key of this type is normally used with (RSA → RS256, P-256 → ES256, …)."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(public_key_pem.encode())
    except ValueError as exc:
        raise ConfigError("HUB_JWT_PUBLIC_KEY", f"not a PEM public key ({exc})") from None
    if isinstance(key, rsa.RSAPublicKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"secp384r1": "ES384", "secp521r1": "ES512"}.get(key.curve.name, "ES256")
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "EdDSA"
    raise ConfigError("HUB_JWT_PUBLIC_KEY", f"unsupported key type {type(key).__name__}")


def _read_event_loop(r: EnvReader) -> str:
    choice = r.choice("HUB_EVENT_LOOP", ("auto", "asyncio", "uvloop"), "auto")
    if choice == "uvloop" and importlib.util.find_spec("uvloop") is None:
        raise ConfigError("HUB_EVENT_LOOP", "uvloop is not installed (pip install uvloop)")
    return choice
