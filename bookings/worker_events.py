"""The offer and job events bookings adds to the core's ``/worker`` namespace.

Thin: call the runtime, shape the ack. Each event is declared with its payload and ack models
(``bookings.protocol``); the namespace validates the payload before the handler runs, answers
with the ack envelope and rate-limits it like the core's own events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bookings import payloads as bp
from bookings import protocol as bo
from bookings.runtime import BookingsRuntime
from hub.auth import Principal
from hub.namespaces.base import AuthenticatedNamespace


class WorkerEvents:
    def __init__(self, namespace: AuthenticatedNamespace, runtime: Callable[[], BookingsRuntime]) -> None:
        self.namespace = namespace
        # The runtime exists once the hub has started; events only arrive after that.
        self._runtime = runtime

    def attach(self) -> None:
        ns = self.namespace
        ns.on_connected(self.resend_offers)
        ns.add_event("offer:list", self.offer_list, payload=None, ack=bo.Offers)
        ns.add_event("offer:seen", self.offer_seen, payload=bp.OfferRef, ack=bo.OfferSeen)
        ns.add_event("offer:accept", self.offer_accept, payload=bp.OfferRef, ack=bo.OfferAccepted)
        ns.add_event("offer:decline", self.offer_decline, payload=bp.OfferDecline, ack=bo.OfferDeclined)
        ns.add_event("job:depart", self.job_depart, payload=bp.Depart, ack=bo.JobStep)
        ns.add_event("job:location", self.job_location, payload=bp.Position, ack=bo.Forwarded)
        ns.add_event("job:arrive", self.job_arrive, payload=bp.Position, ack=bo.Arrived)
        ns.add_event("job:start", self.job_start, payload=bp.BookingRef, ack=bo.JobStep)
        ns.add_event("job:finish", self.job_finish, payload=bp.BookingRef, ack=bo.JobStep)

    @property
    def rt(self) -> BookingsRuntime:
        return self._runtime()

    async def resend_offers(self, sid: str, user: Principal) -> None:
        """A phone that lost its connection during an offer sees it again on reconnecting."""
        for offer in await self.rt.dispatcher.pending_for(user.user_id):
            await self.namespace.emit(bo.OFFER.name, offer, to=sid)

    # Offers -------------------------------------------------------------------------------------

    async def offer_list(self, user: Principal, sid: str, payload: None) -> dict[str, Any]:
        """The worker's open offers."""
        return {"items": await self.rt.dispatcher.pending_for(user.user_id), "next_cursor": None}

    async def offer_seen(self, user: Principal, sid: str, ref: bp.OfferRef) -> dict[str, Any]:
        """The offer is on screen: the app stops repeating the alert.

        Errors: ``offer_not_found``."""
        return await self.rt.dispatcher.seen(user.user_id, ref.offer_id)

    async def offer_accept(self, user: Principal, sid: str, ref: bp.OfferRef) -> dict[str, Any]:
        """Take the booking; the first accept wins, and the same worker sending it again (a lost
        ack) gets the same answer.

        Errors: ``offer_taken`` (another worker was first, or the booking was assigned),
        ``offer_expired``, ``offer_declined``, ``offer_withdrawn`` (cancelled), ``offer_not_found``."""
        accepted = await self.rt.accept(user.user_id, ref.offer_id)
        return {
            "offer_id": str(accepted.offer_id),
            "booking": accepted.booking.model_dump(mode="json"),
            "conversation_id": str(accepted.conversation_id),
        }

    async def offer_decline(self, user: Principal, sid: str, answer: bp.OfferDecline) -> dict[str, Any]:
        """Decline the offer (also answered for a resent decline); the worker is not offered that
        booking again."""
        return await self.rt.dispatcher.decline(user.user_id, answer.offer_id, answer.reason)

    # The job ------------------------------------------------------------------------------------
    # A step sent again after it was made (its ack lost) is answered with the booking.

    async def job_depart(self, user: Principal, sid: str, d: bp.Depart) -> dict[str, Any]:
        """On the way (``accepted → on_the_way``): the worker shows busy.

        Errors: ``booking_not_found`` (not the worker's), ``illegal_transition`` (``details:
        {"status", "wanted"}``)."""
        booking = await self.rt.depart(user.user_id, d.booking_id, d.lat, d.lng, d.eta_minutes)
        return {"booking": booking.model_dump(mode="json")}

    async def job_location(self, user: Principal, sid: str, at: bp.Position) -> dict[str, bool]:
        """The worker's position, as often as the phone likes; the customer gets one per interval.

        Errors: ``booking_not_found``."""
        return {"forwarded": await self.rt.locate(user.user_id, at.booking_id, at.lat, at.lng)}

    async def job_arrive(self, user: Principal, sid: str, at: bp.Position) -> dict[str, Any]:
        """Arrived (``on_the_way → arrived``); outside the geofence it is accepted and flagged.

        Errors: ``booking_not_found``, ``illegal_transition``."""
        booking = await self.rt.arrive(user.user_id, at.booking_id, at.lat, at.lng)
        return {"booking": booking.model_dump(mode="json"), "outside_geofence": booking.arrival_flagged}

    async def job_start(self, user: Principal, sid: str, ref: bp.BookingRef) -> dict[str, Any]:
        """The service begins (``arrived → in_service``).

        Errors: ``booking_not_found``, ``illegal_transition``."""
        return {"booking": (await self.rt.start(user.user_id, ref.booking_id)).model_dump(mode="json")}

    async def job_finish(self, user: Principal, sid: str, ref: bp.BookingRef) -> dict[str, Any]:
        """The service is done (``in_service → completed``); the worker shows their chosen status
        again.

        Errors: ``booking_not_found``, ``illegal_transition``."""
        return {"booking": (await self.rt.finish(user.user_id, ref.booking_id)).model_dump(mode="json")}
