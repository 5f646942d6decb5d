"""The offer and job events bookings adds to the core's ``/worker`` namespace.

Thin: validate the payload, call the runtime, shape the ack. The namespace answers every event
with the ack envelope and rate-limits it like the core's own events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bookings import payloads as bp
from bookings.runtime import BookingsRuntime
from hub import acks
from hub.auth import Principal
from hub.namespaces.base import AuthenticatedNamespace

OFFER_EVENT = "offer"  # server → worker: a new offer, or one still open after a reconnect


class WorkerEvents:
    def __init__(self, namespace: AuthenticatedNamespace, runtime: Callable[[], BookingsRuntime]) -> None:
        self.namespace = namespace
        # The runtime exists once the hub has started; events only arrive after that.
        self._runtime = runtime

    def attach(self) -> None:
        ns = self.namespace
        ns.on_connected(self.resend_offers)
        ns.add_event("offer:list", self.offer_list)
        ns.add_event("offer:seen", self.offer_seen)
        ns.add_event("offer:accept", self.offer_accept)
        ns.add_event("offer:decline", self.offer_decline)
        ns.add_event("job:depart", self.job_depart)
        ns.add_event("job:location", self.job_location)
        ns.add_event("job:arrive", self.job_arrive)
        ns.add_event("job:start", self.job_start)
        ns.add_event("job:finish", self.job_finish)

    @property
    def rt(self) -> BookingsRuntime:
        return self._runtime()

    async def resend_offers(self, sid: str, user: Principal) -> None:
        """A phone that lost its connection during an offer sees it again on reconnecting."""
        for offer in await self.rt.dispatcher.pending_for(user.user_id):
            await self.namespace.emit(OFFER_EVENT, offer, to=sid)

    # Offers -------------------------------------------------------------------------------------

    async def offer_list(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        return {"offers": await self.rt.dispatcher.pending_for(user.user_id)}

    async def offer_seen(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        """The offer is on screen: the app stops repeating the alert."""
        ref = acks.parse(bp.OfferRef, payload)
        return await self.rt.dispatcher.seen(user.user_id, ref.offer_id)

    async def offer_accept(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        ref = acks.parse(bp.OfferRef, payload)
        accepted = await self.rt.accept(user.user_id, ref.offer_id)
        return {
            "offer_id": str(accepted.offer_id),
            "booking": accepted.booking.model_dump(mode="json"),
            "conversation_id": str(accepted.conversation_id),
        }

    async def offer_decline(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        answer = acks.parse(bp.OfferDecline, payload)
        return await self.rt.dispatcher.decline(user.user_id, answer.offer_id, answer.reason)

    # The job ------------------------------------------------------------------------------------

    async def job_depart(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        d = acks.parse(bp.Depart, payload)
        booking = await self.rt.depart(user.user_id, d.booking_id, d.lat, d.lng, d.eta_minutes)
        return {"booking": booking.model_dump(mode="json")}

    async def job_location(self, user: Principal, sid: str, payload: Any) -> dict[str, bool]:
        """Positions come as often as the phone likes; the customer gets one per interval."""
        at = acks.parse(bp.Position, payload)
        return {"forwarded": await self.rt.locate(user.user_id, at.booking_id, at.lat, at.lng)}

    async def job_arrive(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        at = acks.parse(bp.Position, payload)
        booking = await self.rt.arrive(user.user_id, at.booking_id, at.lat, at.lng)
        return {"booking": booking.model_dump(mode="json"), "outside_geofence": booking.arrival_flagged}

    async def job_start(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        ref = acks.parse(bp.BookingRef, payload)
        return {"booking": (await self.rt.start(user.user_id, ref.booking_id)).model_dump(mode="json")}

    async def job_finish(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        ref = acks.parse(bp.BookingRef, payload)
        return {"booking": (await self.rt.finish(user.user_id, ref.booking_id)).model_dump(mode="json")}
