"""The complaint events bookings adds to the core's ``/support`` namespace, so the console acts on
complaints over its socket as it would over HTTP.

Thin: each event calls the same use case as its HTTP route (``bookings.complaints.service``) and
acknowledges with the complaint as staff see it. The namespace validates the payload against the
declared model before the handler runs, answers with the ack envelope (errors included, e.g.
``illegal_transition``) and rate-limits it like the core's own events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bookings.complaints import models as m
from bookings.complaints.service import Complaints
from hub.auth import Principal
from hub.namespaces.base import AuthenticatedNamespace


class ComplaintEvents:
    def __init__(self, namespace: AuthenticatedNamespace, complaints: Callable[[], Complaints]) -> None:
        self.namespace = namespace
        # The runtime exists once the hub has started; events only arrive after that.
        self._complaints = complaints

    def attach(self) -> None:
        ns = self.namespace
        ns.add_event("complaint:get", self.get, payload=m.ComplaintRef, ack=m.ComplaintDetail)
        ns.add_event("complaint:take", self.take, payload=m.ComplaintRef, ack=m.ComplaintDetail)
        ns.add_event("complaint:assign", self.assign, payload=m.AssignComplaint, ack=m.ComplaintDetail)
        ns.add_event("complaint:investigate", self.investigate, payload=m.ComplaintRef, ack=m.ComplaintDetail)
        ns.add_event("complaint:note", self.note, payload=m.NoteComplaint, ack=m.ComplaintDetail)
        ns.add_event("complaint:message", self.message, payload=m.MessageComplaint, ack=m.ComplaintDetail)
        ns.add_event("complaint:resolve", self.resolve, payload=m.ResolveComplaint, ack=m.ComplaintDetail)
        ns.add_event("complaint:reject", self.reject, payload=m.RejectComplaint, ack=m.ComplaintDetail)

    @property
    def complaints(self) -> Complaints:
        return self._complaints()

    async def get(self, user: Principal, sid: str, ref: m.ComplaintRef) -> dict[str, Any]:
        """A complaint with its whole history, notes included.

        Errors: ``complaint_not_found``."""
        return (await self.complaints.detail(ref.complaint_id)).model_dump(mode="json")

    async def take(self, user: Principal, sid: str, ref: m.ComplaintRef) -> dict[str, Any]:
        """Own the complaint (while it is open or under investigation).

        Errors: ``complaint_not_found``, ``illegal_transition``."""
        return (await self.complaints.take(user, ref.complaint_id)).model_dump(mode="json")

    async def assign(self, user: Principal, sid: str, to: m.AssignComplaint) -> dict[str, Any]:
        """Give the complaint to another agent or admin, who is notified.

        Errors: ``complaint_not_found``, ``illegal_transition``."""
        done = await self.complaints.assign(user, to.complaint_id, to.owner_id, to.owner_role)
        return done.model_dump(mode="json")

    async def investigate(self, user: Principal, sid: str, ref: m.ComplaintRef) -> dict[str, Any]:
        """Start investigating (``open → investigating``); the customer and the worker are told.

        Errors: ``complaint_not_found``, ``illegal_transition``."""
        return (await self.complaints.investigate(user, ref.complaint_id)).model_dump(mode="json")

    async def note(self, user: Principal, sid: str, note: m.NoteComplaint) -> dict[str, Any]:
        """A private note: staff only, never shown or sent to the customer or the worker.

        Errors: ``complaint_not_found``."""
        return (await self.complaints.note(user, note.complaint_id, note.body)).model_dump(mode="json")

    async def message(self, user: Principal, sid: str, message: m.MessageComplaint) -> dict[str, Any]:
        """A message to the customer, shown with their complaint and sent as a notification.

        Errors: ``complaint_not_found``, ``illegal_transition`` (closed)."""
        done = await self.complaints.message(user, message.complaint_id, message.body)
        return done.model_dump(mode="json")

    async def resolve(self, user: Principal, sid: str, wanted: m.ResolveComplaint) -> dict[str, Any]:
        """Resolve with a refund, a redo, a compensation or no action (``investigating → resolved``).

        Errors: ``complaint_not_found``, ``illegal_transition``, and the remedy's own:
        ``nothing_paid``, ``nothing_to_refund``, ``refund_exceeds_paid``, ``slot_too_soon``,
        ``outside_service_hours``, ``coupon_not_found``, ``coupon_exhausted``, ..."""
        return (await self.complaints.resolve(user, wanted.complaint_id, wanted)).model_dump(mode="json")

    async def reject(self, user: Principal, sid: str, wanted: m.RejectComplaint) -> dict[str, Any]:
        """Close without action (``investigating → rejected``); the customer is told the reason.

        Errors: ``complaint_not_found``, ``illegal_transition``."""
        done = await self.complaints.reject(user, wanted.complaint_id, wanted.reason)
        return done.model_dump(mode="json")
