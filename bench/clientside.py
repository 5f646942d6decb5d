"""Small helpers of the processes that hold client sockets (loadgen.py, the dispatch benchmark):
bounded concurrency, ack error codes, milliseconds between two perf_counter readings."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

_T = TypeVar("_T")


async def bounded(coroutines: Iterable[Awaitable[_T]], concurrency: int) -> list[_T]:
    """Run at most ``concurrency`` at once: a thousand simultaneous handshakes would only measure
    the listen backlog."""
    gate = asyncio.Semaphore(concurrency)

    async def one(coroutine: Awaitable[_T]) -> _T:
        async with gate:
            return await coroutine

    return list(await asyncio.gather(*(one(c) for c in coroutines)))


def error_code(reply: Any) -> str:
    if isinstance(reply, dict) and isinstance(reply.get("error"), dict):
        return str(reply["error"].get("code", "unknown"))
    return "malformed_ack"


def ms(later: float | None, earlier: float) -> float:
    assert later is not None
    return round((later - earlier) * 1000, 3)
