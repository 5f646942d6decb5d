"""The official JavaScript socket.io-client (and its msgpack parser) against the hub.

External apps and the browser use that client, not python-socketio; this proves the handshake
(auth, connect_error data), acks and events work for it, in both wire formats.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.support.hubs import StartHub
from tests.support.js import JS_DIR, js_packages


@pytest.fixture(scope="session")
def node_client() -> Path:
    js_packages()
    return JS_DIR / "client_checks.mjs"


async def run_client(script: Path, env: dict[str, str]) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(script),
        cwd=JS_DIR,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    result: dict[str, Any] = json.loads(stdout.decode() or "{}")
    assert proc.returncode == 0, (result.get("error"), stderr.decode())
    return result


@pytest.mark.parametrize("serializer", ["json", "msgpack"])
async def test_socket_io_client(start_hub: StartHub, node_client: Path, serializer: str) -> None:
    hub = await start_hub(HUB_SERIALIZER=serializer)
    result = await run_client(
        node_client,
        {
            "HUB_URL": hub.url,
            "CUSTOMER_TOKEN": hub.token("customer", "c-js"),
            "AGENT_TOKEN": hub.token("support", "a-js"),
            "PARSER": "msgpack" if serializer == "msgpack" else "json",
        },
    )
    assert result["refusal"]["data"]["code"] == "token_invalid"
    assert result["ping"]["ok"] is True
    assert result["opened"]["data"]["conversation"]["assigned_agent_id"] == "a-js"
    sent, received = result["sent"]["data"], result["agent_received"]
    assert (received["id"], received["seq"], received["body"]) == (
        sent["id"],
        sent["seq"],
        "你好, window cleaning?",
    )
    assert result["customer_received"]["body"] == "Yes, tomorrow 9:00"
    assert result["bad_payload"]["ok"] is False
    assert result["bad_payload"]["error"]["code"] == "invalid_payload"
