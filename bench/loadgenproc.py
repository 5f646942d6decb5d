"""The chat benchmark's load-generator processes (bench/loadgen.py) as the orchestrator sees them:
starting one, and one JSON-lines request and reply at a time."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hubproc

LOADGEN = Path(__file__).with_name("loadgen.py")
WORKER_START_TIMEOUT = 30.0


@dataclass
class WorkerProc:
    index: int
    process: asyncio.subprocess.Process
    log_path: Path
    customers: int
    agents: int
    local: int = 0  # conversations it can measure (customer and agent both here)

    async def request(self, message: dict[str, Any], within: float) -> dict[str, Any]:
        """Send one command and wait at most ``within`` seconds for its reply."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        await asyncio.wait_for(self.process.stdin.drain(), within)
        return await self.reply(within)

    async def reply(self, within: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), within)
        if not line:
            raise RuntimeError(f"worker {self.index} exited:\n{_tail(self.log_path)}")
        reply: dict[str, Any] = json.loads(line)
        if not reply.get("ok"):
            raise RuntimeError(f"worker {self.index}: {reply.get('error')}")
        return reply


async def start_worker(
    index: int, config: dict[str, Any], log_dir: Path, customers: int, agents: int
) -> WorkerProc:
    """``python bench/loadgen.py``, given its config line; returns once it says it is ready."""
    log_path = log_dir / f"worker-{index}.log"
    with log_path.open("wb") as log:
        process = await hubproc.spawn(
            [sys.executable, str(LOADGEN)],
            hubproc.clean_environ(),
            log,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
    worker = WorkerProc(index, process, log_path, customers, agents)
    assert process.stdin is not None
    process.stdin.write(json.dumps(config).encode() + b"\n")
    await worker.reply(WORKER_START_TIMEOUT)
    return worker


def _tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def subs(prefix: str, first: int, count: int) -> list[str]:
    return [f"{prefix}-{i}" for i in range(first, first + count)]


def split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]
