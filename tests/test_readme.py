"""The README's client snippets run as written, against a real hub: the Python ping, the Python
console and the JavaScript ping (with the official socket.io-client of ``tests/js``).

Each is taken from the README as it is, saved to a file and run as the README says to run it;
only its address, ``http://localhost:8080``, is replaced by the test hub's.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import uuid
from pathlib import Path

from hub.console import items
from hub.console.models import NewItem
from hub.keys import CONTEXT
from tests.support.hubs import ROOT, RunningHub
from tests.support.js import js_packages
from tests.support.waiting import WAIT

README = ROOT / "README.md"
FENCED = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
ADDRESS = "http://localhost:8080"


def snippet(language: str, marker: str) -> str:
    """The one code block of ``language`` in the README that contains ``marker``."""
    found = [code for lang, code in FENCED.findall(README.read_text()) if lang == language and marker in code]
    assert len(found) == 1, f"{len(found)} {language} blocks with {marker!r} in the README"
    assert ADDRESS in found[0]
    return found[0]


def saved(code: str, hub: RunningHub, path: Path) -> Path:
    path.write_text(code.replace(ADDRESS, hub.url))
    return path


async def run(*command: str, cwd: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *command,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 3 * WAIT)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, stdout.decode(), stderr.decode()


async def test_python_ping(hub: RunningHub, tmp_path: Path) -> None:
    script = saved(snippet("python", '"ping"'), hub, tmp_path / "ping.py")
    code, out, err = await run(sys.executable, str(script), hub.token("customer", "c-1"), cwd=tmp_path)
    assert code == 0, err
    assert out.startswith("{'ok': True, 'data': {'server_time': '"), out


async def test_python_console(hub: RunningHub, tmp_path: Path) -> None:
    """The console prints its snapshot, then each change on the console stream as it comes."""
    script = saved(snippet("python", "console:snapshot"), hub, tmp_path / "console.py")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        hub.token("support", "support-01"),
        cwd=tmp_path,
        # As in a terminal: each print is seen when it is made, not when the buffer fills.
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        first = (await asyncio.wait_for(proc.stdout.readline(), 3 * WAIT)).decode()
        assert first.startswith("snapshot at seq 0 {'urgent': 0, 'high': 0, 'normal': 0, 'low': 0}"), first
        async with hub.app[CONTEXT].pool.acquire() as conn, conn.transaction():
            subject = str(uuid.uuid4())
            opened = await items.open_item(
                conn, NewItem(kind="job_stalled", subject=subject, cause="c", title="stalled")
            )
        assert opened is not None
        assert (await asyncio.wait_for(proc.stdout.readline(), WAIT)).decode() == "1 item:updated\n"
    finally:
        proc.kill()
        await proc.wait()


async def test_javascript_ping(hub: RunningHub, tmp_path: Path) -> None:
    """Saved next to a node_modules with socket.io-client in it, as after `npm install`."""
    (tmp_path / "node_modules").symlink_to(js_packages(), target_is_directory=True)
    script = saved(snippet("js", '"ping"'), hub, tmp_path / "ping.mjs")
    code, out, err = await run("node", script.name, hub.token("customer", "c-1"), cwd=tmp_path)
    assert code == 0, err
    assert out.startswith("{ ok: true, data: { server_time: '"), out
    code, out, err = await run("node", script.name, "not-a-token", cwd=tmp_path)
    assert code == 1
    assert err.startswith("refused: token_invalid "), err
