"""OperationIds that outlive the modules they were named after.

``hub.openapi`` builds an operationId from the handler's module name, and generated clients name
their methods after operationIds. These views were published from ``bookings.catalog_api`` and
``bookings.orders_api``; they keep those names so that splitting the modules renames nothing
for clients.
"""

from __future__ import annotations

from collections.abc import Sequence

from hub.openapi import Operation


def published_as(module: str, operations: Sequence[Operation]) -> list[Operation]:
    for operation in operations:
        operation.handler.__module__ = f"bookings.{module}"
    return list(operations)
