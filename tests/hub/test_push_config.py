"""HUB_* push variables: providers configured, skipped, or refused when half-configured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hub.env import ConfigError
from hub.push.config import DEFAULT_APNS_ENDPOINT, DEFAULT_FCM_ENDPOINT, PushConfig
from tests.support.push_fakes import ACCOUNT, EC_PEM, RSA_PEM

APNS = {"HUB_APNS_KEY": EC_PEM, "HUB_APNS_KEY_ID": "ABC123DEFG", "HUB_APNS_TEAM_ID": "TEAM012345"}


def test_nothing_configured_means_no_provider() -> None:
    config = PushConfig.from_env({})
    assert (config.fcm, config.apns, config.webhook) == (None, None, None)
    assert config.max_attempts == 8
    assert not config.configured("fcm")


def test_full_configuration(tmp_path: Path) -> None:
    account_file = tmp_path / "sa.json"
    account_file.write_text(json.dumps(ACCOUNT))
    key_file = tmp_path / "AuthKey_ABC123DEFG.p8"
    key_file.write_text(EC_PEM)
    config = PushConfig.from_env(
        {
            "HUB_FCM_SERVICE_ACCOUNT": str(account_file),
            "HUB_APNS_KEY": str(key_file),
            "HUB_APNS_KEY_ID": "ABC123DEFG",
            "HUB_APNS_TEAM_ID": "TEAM012345",
            "HUB_APNS_TOPIC": "com.example.worker",
            "HUB_APNS_ENDPOINT": "https://api.sandbox.push.apple.com/",
            "HUB_WEBHOOK_SECRET": "s" * 32,
            "HUB_WEBHOOK_ALLOWED_HOSTS": "hooks.example.com",
            "HUB_PUSH_MAX_ATTEMPTS": "3",
            "HUB_PUSH_BACKOFF_BASE": "0.5",
            "HUB_PUSH_BACKOFF_CAP": "60",
            "HUB_PUSH_SWEEP_SECONDS": "1",
        }
    )
    assert config.fcm is not None
    assert config.apns is not None
    assert config.webhook is not None
    assert (config.fcm.project_id, config.fcm.private_key_id) == ("p-1", "abc")
    assert config.fcm.endpoint == DEFAULT_FCM_ENDPOINT
    assert config.apns.endpoint == "https://api.sandbox.push.apple.com"
    assert config.apns.topic == "com.example.worker"
    assert (config.max_attempts, config.backoff_base_seconds, config.backoff_cap_seconds) == (3, 0.5, 60.0)
    assert config.sweep_seconds == 1.0
    assert all(config.configured(p) for p in ("fcm", "apns", "webhook"))


def test_inline_values() -> None:
    config = PushConfig.from_env(
        {"HUB_FCM_SERVICE_ACCOUNT": json.dumps(ACCOUNT), "HUB_FCM_ENDPOINT": "http://127.0.0.1:9/", **APNS}
    )
    assert config.fcm is not None
    assert config.fcm.endpoint == "http://127.0.0.1:9"
    assert config.apns is not None
    assert config.apns.endpoint == DEFAULT_APNS_ENDPOINT
    assert config.apns.topic is None  # devices must then register with an app_id


def _account(**changes: Any) -> str:
    account = {**ACCOUNT, **changes}
    return json.dumps({k: v for k, v in account.items() if v is not None})


@pytest.mark.parametrize(
    ("env", "variable", "reason"),
    [
        ({"HUB_APNS_KEY": EC_PEM, "HUB_APNS_KEY_ID": "ABC123DEFG"}, "HUB_APNS_TEAM_ID", "required"),
        ({"HUB_APNS_TEAM_ID": "TEAM012345", "HUB_APNS_KEY_ID": "ABC123DEFG"}, "HUB_APNS_KEY", "required"),
        ({"HUB_APNS_TOPIC": "com.example.app"}, "HUB_APNS_KEY", "required"),
        ({**APNS, "HUB_APNS_KEY": RSA_PEM}, "HUB_APNS_KEY", "P-256"),
        ({**APNS, "HUB_APNS_KEY": "/nonexistent/key.p8"}, "HUB_APNS_KEY", "readable"),
        ({**APNS, "HUB_APNS_KEY_ID": "short"}, "HUB_APNS_KEY_ID", "10 upper-case"),
        ({**APNS, "HUB_APNS_TOPIC": "not a bundle"}, "HUB_APNS_TOPIC", "bundle id"),
        ({**APNS, "HUB_APNS_ENDPOINT": "ftp://x"}, "HUB_APNS_ENDPOINT", "URL"),
        ({"HUB_FCM_ENDPOINT": "https://fcm.example"}, "HUB_FCM_SERVICE_ACCOUNT", "required"),
        ({"HUB_FCM_SERVICE_ACCOUNT": "{not json"}, "HUB_FCM_SERVICE_ACCOUNT", "JSON"),
        ({"HUB_FCM_SERVICE_ACCOUNT": "/nonexistent/sa.json"}, "HUB_FCM_SERVICE_ACCOUNT", "readable"),
        ({"HUB_FCM_SERVICE_ACCOUNT": _account(project_id=None)}, "HUB_FCM_SERVICE_ACCOUNT", "project_id"),
        ({"HUB_FCM_SERVICE_ACCOUNT": _account(private_key=EC_PEM)}, "HUB_FCM_SERVICE_ACCOUNT", "RSA"),
        ({"HUB_FCM_SERVICE_ACCOUNT": _account(private_key="x")}, "HUB_FCM_SERVICE_ACCOUNT", "PEM"),
        (
            {"HUB_FCM_SERVICE_ACCOUNT": _account(token_uri="file:///x")},
            "HUB_FCM_SERVICE_ACCOUNT",
            "token_uri",
        ),
        ({"HUB_WEBHOOK_SECRET": "short"}, "HUB_WEBHOOK_SECRET", "32 bytes"),
        ({"HUB_PUSH_MAX_ATTEMPTS": "0"}, "HUB_PUSH_MAX_ATTEMPTS", "at least"),
        ({"HUB_PUSH_BACKOFF_BASE": "5", "HUB_PUSH_BACKOFF_CAP": "1"}, "HUB_PUSH_BACKOFF_CAP", "BASE"),
        ({"HUB_PUSH_SWEEP_SECONDS": "abc"}, "HUB_PUSH_SWEEP_SECONDS", "valid float"),
    ],
)
def test_bad_or_half_configuration_names_the_variable(
    env: dict[str, str], variable: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        PushConfig.from_env(env)
    assert caught.value.variable == variable
    assert reason in caught.value.reason
