"""In-process subscribers of outbox events.

A subscriber has a stable name (the relay records deliveries under it, so a retry skips the
subscribers that already succeeded) and must be idempotent by ``event.id``: delivery is at least
once, e.g. when a node dies after handling an event but before recording it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from hub.events import StoredEvent

Handler = Callable[[StoredEvent], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Subscription:
    name: str
    handler: Handler
    topics: frozenset[str] | None  # None: every topic

    def wants(self, topic: str) -> bool:
        return self.topics is None or topic in self.topics


class Bus:
    def __init__(self) -> None:
        self._subscriptions: dict[str, Subscription] = {}

    def subscribe(self, name: str, handler: Handler, topics: Iterable[str] | None = None) -> None:
        """Register ``handler`` under ``name``; raises ``ValueError`` if the name is taken."""
        if name in self._subscriptions:
            raise ValueError(f"a subscriber named {name!r} is already registered")
        self._subscriptions[name] = Subscription(name, handler, None if topics is None else frozenset(topics))

    def unsubscribe(self, name: str) -> None:
        self._subscriptions.pop(name, None)

    def subscribers_for(self, topic: str) -> list[Subscription]:
        return [s for s in self._subscriptions.values() if s.wants(topic)]
