"""In-process subscribers of outbox events.

A subscriber has a stable name (the relay records deliveries under it, so a retry skips the
subscribers that already succeeded) and must be idempotent by ``event.id``: delivery is at least
once, e.g. when a node dies after handling an event but before recording it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hub.events import StoredEvent

Handler = Callable[[StoredEvent], Awaitable[None]]
OrderKey = Callable[[Mapping[str, Any]], str]


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
        self._order_keys: dict[str, OrderKey] = {}

    def order_by(self, topic: str, key: OrderKey) -> None:
        """Let events of ``topic`` be delivered concurrently, except those with the same
        ``key(payload)`` (one booking, one person), which keep their order. Events of a topic
        without a key are delivered one after another, in claim order."""
        self._order_keys[topic] = key

    def lane(self, event: StoredEvent) -> str:
        """The delivery lane of ``event``: events in one lane are delivered in order."""
        key = self._order_keys.get(event.topic)
        if key is None:
            return ""
        try:
            return f"{event.topic}:{key(event.payload)}"
        except Exception:  # a payload the key does not fit: deliver it in the serial lane
            return ""

    def subscribe(self, name: str, handler: Handler, topics: Iterable[str] | None = None) -> None:
        """Register ``handler`` under ``name``; raises ``ValueError`` if the name is taken."""
        if name in self._subscriptions:
            raise ValueError(f"a subscriber named {name!r} is already registered")
        self._subscriptions[name] = Subscription(name, handler, None if topics is None else frozenset(topics))

    def unsubscribe(self, name: str) -> None:
        self._subscriptions.pop(name, None)

    def subscribers_for(self, topic: str) -> list[Subscription]:
        return [s for s in self._subscriptions.values() if s.wants(topic)]
