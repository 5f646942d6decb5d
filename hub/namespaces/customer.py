"""``/customer``: people who book services, chat with support and track their worker."""

from __future__ import annotations

from typing import ClassVar

from hub.auth import Role
from hub.namespaces.base import AuthenticatedNamespace


class CustomerNamespace(AuthenticatedNamespace):
    allowed_roles: ClassVar[frozenset[Role]] = frozenset({Role.CUSTOMER})
