"""The demo pages' connection class (``clients/demo/shared/hub.js``, on the socket.io-client build
the pages load) against a real hub, run by Node.js as a browser runs it: it reconnects by itself,
sends its marks on every connect and gets what it missed once, in order; a redelivered message is
dropped; a gap is noticed and filled; ``sync:required`` is answered."""

from __future__ import annotations

import asyncio
import json
import shutil
from typing import Any

import pytest

from hub.keys import CONTEXT
from hub.push.inbox import NewNotification, notify
from tests.support.hubs import ROOT, StartHub
from tests.support.js import JS_DIR
from tests.support.services import IN_CI
from tests.support.waiting import WAIT

SCRIPT = JS_DIR / "demo_hub_checks.mjs"


def node() -> str:
    found = shutil.which("node")
    if found is None:
        if IN_CI:
            pytest.fail("Node.js is needed for the demo pages' checks", pytrace=False)
        pytest.skip("Node.js is not installed")
    return found


async def test_the_pages_connection_recovers_what_it_missed_once(start_hub: StartHub) -> None:
    hub = await start_hub(HUB_CHAT_AGENT_CAPACITY="5")
    pool = hub.app[CONTEXT].pool
    made = 0

    async def make_notifications(count: int) -> None:
        nonlocal made
        for _ in range(count):
            made += 1
            async with pool.acquire() as conn, conn.transaction():
                await notify(conn, NewNotification("c-1", "customer", "promotion", f"#{made}", ""))

    process = await asyncio.create_subprocess_exec(
        node(),
        "--experimental-websocket",  # the browser's WebSocket, built into Node 22, behind a flag in 20
        str(SCRIPT),
        cwd=ROOT,
        env={
            "PATH": "",
            "HUB_URL": hub.url,
            "CUSTOMER_TOKEN": hub.token("customer", "c-1"),
            "AGENT_TOKEN": hub.token("support", "agent"),
        },
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stdin is not None
    result: dict[str, Any] | None = None
    try:
        async with asyncio.timeout(WAIT * 6):
            while result is None:
                line = (await process.stdout.readline()).decode()
                if not line:
                    stderr = (await process.stderr.read()).decode() if process.stderr else ""
                    raise AssertionError(f"the script ended without a result: {stderr[-2000:]}")
                if line.startswith("NEED notify "):
                    await make_notifications(int(line.split()[-1]))
                    process.stdin.write(b"done\n")
                    await process.stdin.drain()
                elif line.startswith("RESULT "):
                    result = json.loads(line.removeprefix("RESULT "))
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()

    assert "error" not in result, result["error"]
    assert result["customerStates"][:2] == ["connecting", "online"]
    assert "reconnecting" in result["customerStates"]
    assert result["customerStates"][-1] == "offline"  # closed at the end
    # Every message once, in the order they reached the page: the replay after the drop in order,
    # five before four (four was lost live and fetched by the sync the gap caused).
    bodies = [m["body"] for m in result["messages"]]
    assert bodies == ["one", "two", "three", "five", "four"]
    seqs = [m["seq"] for m in result["messages"]]
    assert len(set(seqs)) == len(seqs)
    assert result["afterReconnect"]["mark"] == seqs[2]
    assert result["afterGap"]["mark"] == max(seqs)
    assert result["finalMessages"] == 5  # the sync after sync:required brought nothing twice
    # Notifications: one live, two made while away, each once (those two in either order: the
    # relay may emit one live just as the socket is back, before the replay).
    start = result["notificationMarkAtStart"]
    assert result["notifications"][0] == start + 1
    assert sorted(result["notifications"]) == [start + 1, start + 2, start + 3]
    assert result["afterReconnect"]["notificationMark"] == start + 3
    # The agent's console mark starts at its first snapshot.
    assert result["agentConsoleMark"] is not None
