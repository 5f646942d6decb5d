"""What the console stream adds to the ``/support`` protocol: its events and acks."""

from __future__ import annotations

from typing import Literal

import pydantic

from hub.console.models import HistoryEntry, WorkItem
from hub.cursors import NEXT_CURSOR_DESCRIPTION
from hub.protocol import SUPPORT, ServerEvent, Wire


class ItemUpdate(Wire):
    seq: int = pydantic.Field(description="The console stream's seq: apply once, sync after a gap.")
    action: Literal["opened", "acknowledged", "assigned", "noted", "acted", "resolved"]
    item: WorkItem


class PresenceCounts(Wire):
    online: int
    busy: int
    on_leave: int
    away: int
    offline: int


class PresenceFigures(Wire):
    workers: PresenceCounts
    agents: PresenceCounts


class ItemsByPriority(Wire):
    urgent: int
    high: int
    normal: int
    low: int


class ConsoleSnapshot(pydantic.BaseModel):
    """Where the console stands; extensions add their own parts (bookings adds ``bookings``)."""

    model_config = pydantic.ConfigDict(extra="allow")

    seq: int = pydantic.Field(
        description="The stream's seq when the snapshot was read: apply live events above it."
    )
    items: list[WorkItem] = pydantic.Field(description="Unresolved items, most pressing first, then oldest.")
    items_more: bool = pydantic.Field(description="More unresolved items than sent: page with items:list.")
    items_by_priority: ItemsByPriority = pydantic.Field(description="Unresolved items by priority.")
    presence: PresenceFigures | None = pydantic.Field(description="null while presence is unavailable.")


class ItemDetail(Wire):
    item: WorkItem
    history: list[HistoryEntry] = pydantic.Field(description="Oldest first.")


class ItemList(Wire):
    items: list[WorkItem] = pydantic.Field(description="Most pressing first, then oldest.")
    next_cursor: str | None = pydantic.Field(description=NEXT_CURSOR_DESCRIPTION)


ITEM_UPDATED = ServerEvent(
    "item:updated",
    (SUPPORT,),
    ItemUpdate,
    "A work item was opened or changed (on the console stream)",
)
CONSOLE_SNAPSHOT = ServerEvent(
    "console:snapshot",
    (SUPPORT,),
    ConsoleSnapshot,
    "Where the console stands, right after connecting: then live changes with larger seqs",
)

SERVER_EVENTS = (ITEM_UPDATED, CONSOLE_SNAPSHOT)
