"""``/worker``: service workers who receive offers and report their progress."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar

from bookings import payloads as bp
from hub import acks
from hub.auth import Principal, Role
from hub.namespaces import payloads as p
from hub.namespaces.base import event
from hub.namespaces.common import HubNamespace
from hub.presence import InvalidStatus, Status

if TYPE_CHECKING:
    from bookings.runtime import BookingsRuntime

log = logging.getLogger(__name__)


async def set_presence(hub_presence: Any, user: Principal, payload: Any) -> dict[str, Any]:
    wanted = acks.parse(p.PresenceSet, payload)
    try:
        state = await hub_presence.set_status(user.user_id, user.role.value, Status(wanted.status))
    except (ValueError, InvalidStatus) as exc:
        raise acks.InvalidPayload(str(exc), code="invalid_status") from None
    result: dict[str, Any] = state.to_dict()
    return result


class WorkerNamespace(HubNamespace):
    allowed_roles: ClassVar[frozenset[Role]] = frozenset({Role.WORKER})

    @property
    def bookings(self) -> BookingsRuntime:
        if self.hub.bookings is None:
            raise RuntimeError("bookings are not running yet")
        return self.hub.bookings

    async def connected(self, sid: str, user: Principal, auth: dict[str, Any]) -> None:
        await super().connected(sid, user, auth)
        # A phone that lost its connection during an offer sees it again on reconnecting.
        self.hub.spawn(self._resend_offers(sid, user))

    async def _resend_offers(self, sid: str, user: Principal) -> None:
        for offer in await self.bookings.dispatcher.pending_for(user.user_id):
            await self.emit("offer", offer, to=sid)

    @event("presence:set")
    async def presence_set(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        """``online`` or ``on_leave``; ``busy`` is the system's to set while a job is in service.
        Leave is also recorded with the worker's profile: no offers while on leave, connected or not."""
        state = await set_presence(self.hub.presence, user, payload)
        await self.hub.pool.execute(
            "UPDATE workers SET on_leave = $2 WHERE id = $1",
            user.user_id,
            payload.get("status") == Status.ON_LEAVE,
        )
        return state

    # Offers -------------------------------------------------------------------------------------

    @event("offer:list")
    async def offer_list(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        return {"offers": await self.bookings.dispatcher.pending_for(user.user_id)}

    @event("offer:seen")
    async def offer_seen(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        """The offer is on screen: the app stops repeating the alert."""
        ref = acks.parse(bp.OfferRef, payload)
        return await self.bookings.dispatcher.seen(user.user_id, ref.offer_id)

    @event("offer:accept")
    async def offer_accept(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        ref = acks.parse(bp.OfferRef, payload)
        accepted = await self.bookings.accept(user.user_id, ref.offer_id)
        return {
            "offer_id": str(accepted.offer_id),
            "booking": accepted.booking.model_dump(mode="json"),
            "conversation_id": str(accepted.conversation_id),
        }

    @event("offer:decline")
    async def offer_decline(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        answer = acks.parse(bp.OfferDecline, payload)
        return await self.bookings.dispatcher.decline(user.user_id, answer.offer_id, answer.reason)

    # The job ------------------------------------------------------------------------------------

    @event("job:depart")
    async def job_depart(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        d = acks.parse(bp.Depart, payload)
        booking = await self.bookings.depart(user.user_id, d.booking_id, d.lat, d.lng, d.eta_minutes)
        return {"booking": booking.model_dump(mode="json")}

    @event("job:location")
    async def job_location(self, user: Principal, sid: str, payload: Any) -> dict[str, bool]:
        """Positions come as often as the phone likes; the customer gets one per interval."""
        at = acks.parse(bp.Position, payload)
        return {"forwarded": await self.bookings.locate(user.user_id, at.booking_id, at.lat, at.lng)}

    @event("job:arrive")
    async def job_arrive(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        at = acks.parse(bp.Position, payload)
        booking = await self.bookings.arrive(user.user_id, at.booking_id, at.lat, at.lng)
        return {"booking": booking.model_dump(mode="json"), "outside_geofence": booking.arrival_flagged}

    @event("job:start")
    async def job_start(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        ref = acks.parse(bp.BookingRef, payload)
        return {"booking": (await self.bookings.start(user.user_id, ref.booking_id)).model_dump(mode="json")}

    @event("job:finish")
    async def job_finish(self, user: Principal, sid: str, payload: Any) -> dict[str, Any]:
        ref = acks.parse(bp.BookingRef, payload)
        return {"booking": (await self.bookings.finish(user.user_id, ref.booking_id)).model_dump(mode="json")}
