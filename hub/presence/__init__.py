"""Presence: who is connected, on how many devices, and what status they show.

A domain module: it knows nothing of Socket.IO or aiohttp. The namespaces call ``connect`` and
``disconnect`` for each socket and broadcast what ``on_change`` callbacks receive. Without Redis
the state lives in this process (one node); with Redis it is shared by every node.
"""

from __future__ import annotations

from hub.presence.base import (
    PRESENCE_UNAVAILABLE,
    ChangeCallback,
    InvalidStatus,
    PresenceChange,
    PresenceState,
    PresenceTracker,
    Status,
)
from hub.presence.config import PresenceConfig

__all__ = [
    "PRESENCE_UNAVAILABLE",
    "ChangeCallback",
    "InvalidStatus",
    "PresenceChange",
    "PresenceConfig",
    "PresenceState",
    "PresenceTracker",
    "Status",
    "create_tracker",
]


def create_tracker(
    config: PresenceConfig, redis_url: str | None, *, cluster: bool = False
) -> PresenceTracker:
    """The Redis tracker when ``redis_url`` is set (several nodes), else the in-process one.
    ``cluster``: ``redis_url`` is a node of a Redis Cluster."""
    if redis_url is None:
        from hub.presence.memory import MemoryPresenceTracker

        return MemoryPresenceTracker(config)
    # Imported only when used, so a single node never loads the Redis client.
    from hub.presence.redis import RedisPresenceTracker

    return RedisPresenceTracker(config, redis_url, cluster=cluster)
