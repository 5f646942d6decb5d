"""What an extension sees of the hub while it attaches: the app, the shared context, the outbox
bus and the namespaces. The host knows nothing of what plugs into it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from aiohttp import web

from hub.bus import Bus
from hub.context import HubContext
from hub.namespaces.base import AuthenticatedNamespace
from hub.protocol import ServerEvent
from hub.web.asyncapi import PROTOCOL
from hub.web.openapi import Operation, add_operations

Service = Callable[[web.Application], AsyncIterator[None]]


@dataclass(slots=True)
class Host:
    app: web.Application
    hub: HubContext
    bus: Bus
    namespaces: Mapping[str, AuthenticatedNamespace]
    # Started in order once the database, presence and timers run and before the outbox relay
    # starts, so an outbox subscriber registered by a service never misses an event.
    services: list[Service] = field(default_factory=list)

    def add_operations(self, operations: Sequence[Operation]) -> None:
        """HTTP routes, documented in ``/api/v1/openapi.json`` like the core's own."""
        add_operations(self.app, operations)

    def add_server_events(self, events: Sequence[ServerEvent]) -> None:
        """The events the extension sends to clients (``hub.protocol.ServerEvent`` constants),
        documented in ``/api/v1/asyncapi.json`` like the core's own. The socket events it
        handles are documented from their ``add_event`` declarations."""
        self.app[PROTOCOL].add_server_events(events)

    def add_service(self, service: Service) -> None:
        """An aiohttp cleanup context: set-up before ``yield``, tear-down after."""
        self.services.append(service)

    def namespace(self, path: str) -> AuthenticatedNamespace:
        """The core's namespace at ``path`` (``/customer``, ``/worker``, ``/support``), to add
        event handlers and connect hooks to."""
        return self.namespaces[path]
