"""What the namespaces and background jobs of one hub process share.

Built with the app; the database-backed parts are filled in at start-up, once the pool exists.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg

from hub.auth import Principal, TokenVerifier
from hub.chat.service import ChatService
from hub.coalesce import CoalescedPasses
from hub.console.feed import ConsoleFeed
from hub.metrics import Metrics
from hub.outages import outage
from hub.presence import PresenceTracker, Status
from hub.realtime import Realtime
from hub.scheduler import Timers
from hub.settings import Settings
from hub.storage.db import Database

if TYPE_CHECKING:  # the server is built by hub.app; domain code that reads the context never imports it
    import socketio

# Told of every status a person chose (``presence:set``), after presence has it; e.g. an
# extension that keeps "on leave" with a worker's profile.
StatusListener = Callable[[Principal, Status], Awaitable[None]]

log = logging.getLogger(__name__)


@dataclass
class HubContext:
    settings: Settings
    metrics: Metrics
    verifier: TokenVerifier
    sio: socketio.AsyncServer
    realtime: Realtime
    presence: PresenceTracker
    database: Database | None = None
    chat_service: ChatService | None = None
    console_feed: ConsoleFeed | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    timers: Timers = field(default_factory=Timers)
    status_listeners: list[StatusListener] = field(default_factory=list)
    # Support assignment passes on this node, one at a time, each serving every request made
    # before it started (hub.desk builds it on first use); the database lock spans nodes.
    assignment_passes: CoalescedPasses | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self.database is None:
            raise RuntimeError("the database is not open yet")
        return self.database.pool

    @property
    def chat(self) -> ChatService:
        if self.chat_service is None:
            raise RuntimeError("the database is not open yet")
        return self.chat_service

    @property
    def console(self) -> ConsoleFeed:
        """The console stream (``hub.console.feed``): what support must not miss, with a seq."""
        if self.console_feed is None:
            raise RuntimeError("the hub is not built yet")
        return self.console_feed

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a fire-and-forget coroutine, keeping a reference until it finishes; its failure
        is logged, since nobody awaits it."""
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        task.add_done_callback(_finished)


def _finished(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is None:
        return
    refusal = outage(exc)
    if refusal is None:
        log.error("background task failed", exc_info=exc)
    else:  # an outage, not a bug: one line, no traceback
        log.warning("background task %s: %s (%r)", task.get_name(), refusal.code, exc)
