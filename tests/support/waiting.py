"""Bounded waits: every wait in a test has a timeout, and nothing sleeps and hopes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

WAIT = 10.0  # seconds any single wait in a test may take before it fails


async def wait_until(predicate: Callable[[], Any], within: float = WAIT, interval: float = 0.05) -> Any:
    """Poll ``predicate`` (sync or async) until it returns something truthy, or fail at ``timeout``."""
    deadline = time.monotonic() + within
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(interval)
