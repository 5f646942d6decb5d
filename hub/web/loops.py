"""The event loop the server runs on: uvloop when it is installed, asyncio's own otherwise.

uvloop (libuv, in C) runs the same asyncio code with less CPU per callback, per timer and per
socket write: the event loop and the writes of frames and statements are a third of what a chat
message costs the hub (bench/README.md, "Where a chat message's CPU goes").

It is optional: ``HUB_EVENT_LOOP=asyncio`` keeps the standard loop,
and ``uvloop`` insists on it (``Settings.from_env`` refuses it when uvloop is missing).
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def loop_factory(choice: str) -> LoopFactory | None:
    """The factory of the loop ``choice`` (``auto``, ``asyncio`` or ``uvloop``) names; None for
    asyncio's default loop."""
    if choice == "asyncio" or not uvloop_installed():
        return None
    import uvloop

    factory: LoopFactory = uvloop.new_event_loop
    return factory


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """``uvloop`` or ``asyncio``: what the log says the hub runs on."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"


def uvloop_installed() -> bool:
    return importlib.util.find_spec("uvloop") is not None
