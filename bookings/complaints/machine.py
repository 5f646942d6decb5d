"""A complaint's status machine, pure: which action may be taken in which status, and where it
leads. Nothing here reads or writes the database; the storage applies a move as one conditional
UPDATE on the statuses this module names, so two staff members racing cannot both make it.

```
open ──investigate──▶ investigating ──resolve──▶ resolved
                            │
                            └──────reject──────▶ rejected
```

Taking, assigning, messaging the customer and the deadline's escalation happen while the
complaint is open or under investigation and leave its status as it is; a note may be added at
any time, a closed complaint included (what was learnt afterwards).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from hub.errors import Conflict


class Status(enum.StrEnum):
    OPEN = "open"
    INVESTIGATING = "investigating"
    RESOLVED = "resolved"
    REJECTED = "rejected"


class Action(enum.StrEnum):
    TAKE = "take"
    ASSIGN = "assign"
    INVESTIGATE = "investigate"
    NOTE = "note"
    MESSAGE = "message"
    ESCALATE = "escalate"
    RESOLVE = "resolve"
    REJECT = "reject"


UNRESOLVED = frozenset({Status.OPEN, Status.INVESTIGATING})
CLOSED = frozenset({Status.RESOLVED, Status.REJECTED})


@dataclass(frozen=True, slots=True)
class Move:
    froms: frozenset[Status]  # the statuses the action may be taken in
    to: Status | None  # where it leads; None: the status stays


MOVES: dict[Action, Move] = {
    Action.TAKE: Move(UNRESOLVED, None),
    Action.ASSIGN: Move(UNRESOLVED, None),
    Action.INVESTIGATE: Move(frozenset({Status.OPEN}), Status.INVESTIGATING),
    Action.NOTE: Move(frozenset(Status), None),
    Action.MESSAGE: Move(UNRESOLVED, None),
    Action.ESCALATE: Move(UNRESOLVED, None),
    Action.RESOLVE: Move(frozenset({Status.INVESTIGATING}), Status.RESOLVED),
    Action.REJECT: Move(frozenset({Status.INVESTIGATING}), Status.REJECTED),
}


def allowed(current: Status, action: Action) -> bool:
    return current in MOVES[action].froms


def after(current: Status, action: Action) -> Status:
    """The status ``action`` leaves the complaint in; ``illegal_transition`` if it may not be taken now."""
    if not allowed(current, action):
        raise illegal(current, action)
    return MOVES[action].to or current


def froms(action: Action) -> list[str]:
    """The statuses ``action`` may be taken in, as the storage's conditional UPDATE names them."""
    return sorted(s.value for s in MOVES[action].froms)


def illegal(current: Status | str, action: Action) -> Conflict:
    return Conflict(
        f"a complaint that is {current} cannot {action}",
        code="illegal_transition",
        details={"status": str(current), "wanted": action.value, "allowed_from": froms(action)},
    )
