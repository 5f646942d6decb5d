from __future__ import annotations

import logging
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hub.auth import development_secret, verification_key
from hub.env import ConfigError
from hub.settings import Settings
from hub.web import loops

SECRET = "s" * 64


def test_defaults_need_no_configuration() -> None:
    settings = Settings.from_env({})
    assert settings.port == 8080
    assert settings.database_url is None
    assert settings.redis_url is None
    assert settings.redis_cluster is False
    assert settings.data_dir == Path("./var")
    assert settings.serializer == "json"
    assert settings.jwt.algorithms == ("HS256",)
    assert settings.log_format == "text"
    # Every database wait is bounded, out of the box.
    assert settings.db_connect_timeout_seconds == 5.0
    assert settings.db_acquire_timeout_seconds == 3.0
    assert settings.db_statement_timeout_seconds == 5.0
    assert settings.sockets.websocket_compression is False  # as Node's Socket.IO server
    assert settings.event_loop == "auto"


def test_values_are_read_and_normalised() -> None:
    settings = Settings.from_env(
        {
            "HUB_PORT": "9000",
            "HUB_DATABASE_URL": "postgresql://u@db:5432/hub",
            "HUB_REDIS_URL": "redis://cache:6379/1",
            "HUB_SERIALIZER": "MsgPack",
            "HUB_CORS_ORIGINS": "https://a.example, https://b.example",
            "HUB_LOG_LEVEL": "debug",
            "HUB_JWT_SECRET": SECRET,
            "HUB_JWT_ALGORITHMS": "HS256,HS512",
            "HUB_JWT_ISSUER": "https://auth.example",
            "HUB_JWT_AUDIENCE": "hub",
            "HUB_WS_COMPRESSION": "True",
            "HUB_REDIS_MODE": "Cluster",
        }
    )
    assert settings.port == 9000
    assert (settings.redis_url, settings.redis_cluster) == ("redis://cache:6379/1", True)
    assert settings.sockets.websocket_compression is True
    assert settings.serializer == "msgpack"
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.log_level == "DEBUG"
    assert settings.jwt.algorithms == ("HS256", "HS512")
    assert (settings.jwt.issuer, settings.jwt.audience) == ("https://auth.example", "hub")


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"HUB_PORT": "eighty"}, "HUB_PORT"),
        ({"HUB_PORT": "70000"}, "HUB_PORT"),
        ({"HUB_SERIALIZER": "xml"}, "HUB_SERIALIZER"),
        ({"HUB_LOG_FORMAT": "yaml"}, "HUB_LOG_FORMAT"),
        ({"HUB_LOG_LEVEL": "loud"}, "HUB_LOG_LEVEL"),
        ({"HUB_DATABASE_URL": "mysql://x/y"}, "HUB_DATABASE_URL"),
        ({"HUB_REDIS_URL": "localhost:6379"}, "HUB_REDIS_URL"),
        ({"HUB_JWT_SECRET": "short"}, "HUB_JWT_SECRET"),
        ({"HUB_JWT_SECRET": SECRET, "HUB_JWT_ALGORITHMS": "RS256"}, "HUB_JWT_ALGORITHMS"),
        ({"HUB_JWT_ALGORITHMS": "none"}, "HUB_JWT_ALGORITHMS"),
        ({"HUB_JWT_PUBLIC_KEY": "/nonexistent/key.pem"}, "HUB_JWT_PUBLIC_KEY"),
        ({"HUB_DB_POOL_MIN": "5", "HUB_DB_POOL_MAX": "2"}, "HUB_DB_POOL_MIN"),
        ({"HUB_DB_CONNECT_TIMEOUT_SECONDS": "soon"}, "HUB_DB_CONNECT_TIMEOUT_SECONDS"),
        ({"HUB_DB_ACQUIRE_TIMEOUT_SECONDS": "0"}, "HUB_DB_ACQUIRE_TIMEOUT_SECONDS"),
        ({"HUB_DB_STATEMENT_TIMEOUT_SECONDS": "-1"}, "HUB_DB_STATEMENT_TIMEOUT_SECONDS"),
        ({"HUB_OUTBOX_BATCH": "0"}, "HUB_OUTBOX_BATCH"),
        ({"HUB_WS_COMPRESSION": "yes"}, "HUB_WS_COMPRESSION"),
        ({"HUB_REDIS_MODE": "sentinel"}, "HUB_REDIS_MODE"),
        ({"HUB_REDIS_MODE": "cluster"}, "HUB_REDIS_MODE"),  # without HUB_REDIS_URL
        ({"HUB_REDIS_MODE": "cluster", "HUB_REDIS_URL": "unix:///run/redis.sock"}, "HUB_REDIS_MODE"),
        ({"HUB_EVENT_LOOP": "trio"}, "HUB_EVENT_LOOP"),
    ],
)
def test_bad_values_name_their_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert caught.value.variable == variable
    assert str(caught.value).startswith(f"{variable}: ")


def test_secret_and_public_key_are_exclusive(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not both"):
        Settings.from_env({"HUB_JWT_SECRET": SECRET, "HUB_JWT_PUBLIC_KEY": _ec_public_pem()})


def test_public_key_from_file_picks_its_algorithm(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_text(_ec_public_pem())
    settings = Settings.from_env({"HUB_JWT_PUBLIC_KEY": str(path)})
    assert settings.jwt.public_key is not None
    assert settings.jwt.public_key.startswith("-----BEGIN PUBLIC KEY-----")
    assert settings.jwt.algorithms == ("ES256",)


def test_development_secret_is_created_once_and_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings.from_env({"HUB_DATA_DIR": str(tmp_path)})
    with caplog.at_level(logging.WARNING, logger="hub.auth"):
        first = verification_key(settings)
    assert "HUB_JWT_SECRET is not set" in caplog.text
    assert (tmp_path / "jwt-dev-secret").stat().st_mode & 0o777 == 0o600
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hub.auth"):
        assert development_secret(tmp_path) == first
    assert caplog.text == ""
    assert len(first) >= 32


def test_configured_secret_wins_over_development_secret(tmp_path: Path) -> None:
    settings = Settings.from_env({"HUB_DATA_DIR": str(tmp_path), "HUB_JWT_SECRET": SECRET})
    assert verification_key(settings) == SECRET
    assert not (tmp_path / "jwt-dev-secret").exists()


def _ec_public_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_event_loop_is_uvloop_when_installed_unless_asyncio_is_asked_for() -> None:
    auto = loops.loop_factory(Settings.from_env({}).event_loop)
    assert loops.loop_factory(Settings.from_env({"HUB_EVENT_LOOP": "asyncio"}).event_loop) is None
    if not loops.uvloop_installed():
        assert auto is None
        with pytest.raises(ConfigError, match="uvloop is not installed"):
            Settings.from_env({"HUB_EVENT_LOOP": "uvloop"})
        return
    assert auto is not None
    loop = auto()
    try:
        assert loops.loop_name(loop) == "uvloop"
    finally:
        loop.close()
    assert loops.loop_factory(Settings.from_env({"HUB_EVENT_LOOP": "UVLOOP"}).event_loop) is not None
