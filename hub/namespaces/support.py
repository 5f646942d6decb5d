"""``/support``: the live console of support agents and admins."""

from __future__ import annotations

from typing import ClassVar

from hub.auth import Role
from hub.namespaces.base import AuthenticatedNamespace


class SupportNamespace(AuthenticatedNamespace):
    allowed_roles: ClassVar[frozenset[Role]] = frozenset({Role.SUPPORT, Role.ADMIN})
