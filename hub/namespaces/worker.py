"""``/worker``: service workers who receive offers and report their progress."""

from __future__ import annotations

from typing import ClassVar

from hub.auth import Role
from hub.namespaces.base import AuthenticatedNamespace


class WorkerNamespace(AuthenticatedNamespace):
    allowed_roles: ClassVar[frozenset[Role]] = frozenset({Role.WORKER})
