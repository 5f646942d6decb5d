"""The Node.js processes of ``compare.py``: the reference server (bench/reference/server.mjs) and
the load generator that drives either server (bench/reference/loadgen.mjs)."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import hubproc
from loadgenproc import WORKER_START_TIMEOUT, WorkerProc

REFERENCE = Path(__file__).with_name("reference")


def node() -> str:
    """The ``node`` executable, once ``npm ci`` has installed bench/reference's packages."""
    found = shutil.which("node")
    if found is None:
        raise RuntimeError("compare.py needs Node.js (node 20 or later) on the PATH")
    if not (REFERENCE / "node_modules" / "socket.io").is_dir():
        raise RuntimeError(f"run `npm ci` in {REFERENCE} first: its node_modules are missing")
    return found


async def start_reference(dsn: str, jwt_secret: str, agent_capacity: int, log_dir: Path) -> hubproc.HubNode:
    """``node server.mjs`` on its own database; returns once /readyz answers (tables created)."""
    port = hubproc.free_port()
    env = hubproc.clean_environ() | {
        "REF_PORT": str(port),
        "REF_DATABASE_URL": dsn,
        "REF_JWT_SECRET": jwt_secret,
        "REF_AGENT_CAPACITY": str(agent_capacity),
        "NODE_ENV": "production",
    }
    log_path = log_dir / "reference.log"
    with log_path.open("wb") as log:
        process = await hubproc.spawn([node(), str(REFERENCE / "server.mjs")], env, log)
    server = hubproc.HubNode("reference", port, process, log_path)
    await hubproc.wait_ready(server)
    return server


async def start_generator(name: str, config: dict[str, Any], log_dir: Path) -> WorkerProc:
    """``node loadgen.mjs``, given its config line; returns once it says it is ready."""
    log_path = log_dir / f"loadgen-{name}.log"
    with log_path.open("wb") as log:
        process = await hubproc.spawn(
            [node(), str(REFERENCE / "loadgen.mjs")],
            hubproc.clean_environ(),
            log,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
    generator = WorkerProc(0, process, log_path, customers=0, agents=0)
    assert process.stdin is not None
    process.stdin.write(json.dumps(config).encode() + b"\n")
    await generator.reply(WORKER_START_TIMEOUT)
    return generator
