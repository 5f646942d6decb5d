"""What bookings adds to the core's ``/support`` namespace: the order monitor's reads and the
console's actions on a booking (re-dispatch, assign), with the same checks as over HTTP.

An action may name the work item it answers (``item_id``): the item must be unresolved, and the
action is kept in its history once it succeeded.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from bookings import payloads as bp
from bookings.http.idempotency import run_once
from bookings.orders import Actor, BookingDetail
from bookings.payments import refunding
from bookings.payments.refunding import RefundView
from bookings.runtime import BookingsRuntime
from hub.auth import Principal
from hub.console import items as work_items
from hub.errors import Conflict
from hub.namespaces.base import AuthenticatedNamespace
from hub.storage.db import Conn


class SupportEvents:
    def __init__(self, namespace: AuthenticatedNamespace, runtime: Callable[[], BookingsRuntime]) -> None:
        self.namespace = namespace
        self._runtime = runtime  # exists once the hub has started; events only arrive after that

    def attach(self) -> None:
        ns = self.namespace
        ns.add_event("booking:get", self.booking_get, payload=bp.BookingRef, ack=BookingDetail)
        ns.add_event(
            "booking:redispatch", self.booking_redispatch, payload=bp.StaffRedispatch, ack=BookingDetail
        )
        ns.add_event("booking:assign", self.booking_assign, payload=bp.StaffAssign, ack=BookingDetail)
        ns.add_event("booking:refund", self.booking_refund, payload=bp.StaffRefund, ack=RefundView)

    @property
    def rt(self) -> BookingsRuntime:
        return self._runtime()

    async def booking_get(self, user: Principal, sid: str, ref: bp.BookingRef) -> dict[str, Any]:
        """A booking with its whole timeline (the order monitor).

        Errors: ``booking_not_found``."""
        return (await self.rt.visible(user, ref.booking_id)).model_dump(mode="json")

    async def booking_redispatch(self, user: Principal, sid: str, move: bp.StaffRedispatch) -> dict[str, Any]:
        """Take the booking from its worker and offer it again.

        Errors: ``booking_not_found``, ``illegal_transition``, ``item_not_found``, ``item_resolved``."""
        await self._check_item(move.item_id)
        detail = await self.rt.redispatch(user, move.booking_id, move.reason)
        await self._record(user, move.item_id, "redispatched", {"booking_id": str(move.booking_id)})
        return detail.model_dump(mode="json")

    async def booking_assign(self, user: Principal, sid: str, move: bp.StaffAssign) -> dict[str, Any]:
        """Give a dispatching booking to a worker directly.

        Errors: ``booking_not_found``, ``illegal_transition``, ``worker_not_found``,
        ``worker_unavailable`` (and the other checks of the HTTP assign), ``item_not_found``,
        ``item_resolved``."""
        await self._check_item(move.item_id)
        detail = await self.rt.assign(user, move.booking_id, move.worker_id)
        await self._record(
            user, move.item_id, "assigned", {"booking_id": str(move.booking_id), "worker_id": move.worker_id}
        )
        return detail.model_dump(mode="json")

    async def booking_refund(self, user: Principal, sid: str, wanted: bp.StaffRefund) -> dict[str, Any]:
        """Give money back (``amount_cents``, or all that is left); the provider is asked once the
        refund is recorded. A retry with the same ``client_id`` returns the first refund.

        Errors: ``booking_not_found``, ``nothing_to_refund``, ``refund_exceeds_paid`` (and the other
        checks of the HTTP refund), ``idempotency_key_reused``, ``item_not_found``, ``item_resolved``."""
        await self._check_item(wanted.item_id)
        rt = self.rt
        made: list[uuid.UUID] = []

        async def make(conn: Conn) -> RefundView:
            row = await rt.payments.refund_in(
                conn,
                wanted.booking_id,
                wanted.amount_cents,
                wanted.reason,
                Actor(user.user_id, user.role.value),
            )
            made.append(row["id"])
            return refunding.view(row)

        fingerprint = json.dumps(wanted.model_dump(mode="json"), sort_keys=True)
        _, body, _ = await run_once(
            rt.pool,
            user,
            f"refund:{wanted.client_id}",
            "booking:refund",
            fingerprint,
            make,
            where=("body", "client_id"),
        )
        for refund_id in made:  # after the commit
            await rt.payments.send_refund(refund_id)
        if made:
            await self._record(
                user, wanted.item_id, "refunded", {"booking_id": str(wanted.booking_id), "refund": body}
            )
        result: dict[str, Any] = body
        return result

    async def _check_item(self, item_id: uuid.UUID | None) -> None:
        if item_id is None:
            return
        item, _ = await work_items.detail(self.rt.pool, item_id)
        if item.state == "resolved":
            raise Conflict(
                "the item is already resolved", code="item_resolved", details={"item": str(item_id)}
            )

    async def _record(
        self, user: Principal, item_id: uuid.UUID | None, action: str, data: dict[str, Any]
    ) -> None:
        if item_id is None:
            return
        async with self.rt.pool.acquire() as conn, conn.transaction():
            await work_items.record_action(conn, item_id, work_items.by(user), action, data)
