"""The complaint use cases of one process, called alike by the HTTP views and the ``/support``
events: each is one transaction, then what must happen after it commits (a refund sent to its
provider, a redo dispatched)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

import asyncpg

from bookings.complaints import filing, handling, resolving, views
from bookings.complaints.models import (
    ComplaintDetail,
    ComplaintList,
    ComplaintsQuery,
    CustomerComplaint,
    NewComplaint,
    Resolve,
)
from bookings.config import BookingConfig, ComplaintsConfig
from bookings.orders import Actor, Booking
from bookings.payments.service import Payments
from bookings.storage import complaints as store
from hub import cursors
from hub.auth import Principal, Role
from hub.errors import InvalidPayload, NotFound
from hub.storage import uploads as upload_store
from hub.storage.db import Conn

log = logging.getLogger(__name__)

STAFF = frozenset({Role.SUPPORT, Role.ADMIN})


def actor_of(user: Principal) -> Actor:
    return Actor(user.user_id, user.role.value)


class Complaints:
    def __init__(
        self,
        pool: asyncpg.Pool,
        config: ComplaintsConfig,
        bookings: BookingConfig,
        payments: Payments,
        on_paid: Callable[[Booking], None],
    ) -> None:
        self.pool = pool
        self.config = config
        self.bookings = bookings
        self.payments = payments
        self._on_paid = on_paid

    # The customer -------------------------------------------------------------------------------

    async def file(
        self, conn: Conn, customer_id: str, booking_id: uuid.UUID, new: NewComplaint
    ) -> CustomerComplaint:
        """In the caller's transaction (one per Idempotency-Key)."""
        row = await filing.file(conn, customer_id, booking_id, new, self.config)
        return views.for_customer(row, [])

    # Reading ------------------------------------------------------------------------------------

    async def listing(self, user: Principal, query: ComplaintsQuery) -> ComplaintList:
        """A customer's own complaints, or (staff) everyone's by status, owner and overdue; newest
        first."""
        offset = cursors.offset(query.cursor, "complaints")
        if user.role not in STAFF:
            if query.owner is not None or query.overdue is not None:
                raise InvalidPayload(
                    "owner and overdue are filters for staff",
                    code="invalid_query",
                    details=[
                        {"loc": ["query", "owner" if query.owner else "overdue"], "message": "staff only"}
                    ],
                )
            rows = await store.listing(
                self.pool,
                customer_id=user.user_id,
                statuses=query.status,
                owner=None,
                unowned=False,
                overdue=None,
                limit=query.limit + 1,
                offset=offset,
            )
            rows, next_cursor = cursors.offset_page("complaints", rows, query.limit, offset)
            steps = await store.steps_to_customer(self.pool, [row["id"] for row in rows])
            return ComplaintList(items=views.for_customer_list(rows, steps), next_cursor=next_cursor)
        owner: tuple[str, str] | None = None
        if query.owner == "me":
            owner = (user.role.value, user.user_id)
        elif query.owner is not None and query.owner != "none":
            role, _, person = query.owner.partition(":")
            owner = (role, person)
        rows = await store.listing(
            self.pool,
            customer_id=None,
            statuses=query.status,
            owner=owner,
            unowned=query.owner == "none",
            overdue=query.overdue,
            limit=query.limit + 1,
            offset=offset,
        )
        rows, next_cursor = cursors.offset_page("complaints", rows, query.limit, offset)
        return ComplaintList(items=[views.for_staff(row) for row in rows], next_cursor=next_cursor)

    async def visible(self, user: Principal, complaint_id: uuid.UUID) -> CustomerComplaint | ComplaintDetail:
        """Its customer sees it as customers do; staff see everything."""
        row = await store.get(self.pool, complaint_id)
        if row is None or (user.role not in STAFF and row["customer_id"] != user.user_id):
            raise NotFound("no such complaint", code="complaint_not_found")
        if user.role in STAFF:
            return await self.detail(complaint_id)
        return views.for_customer(row, await store.steps(self.pool, complaint_id, to_customer_only=True))

    async def detail(self, complaint_id: uuid.UUID) -> ComplaintDetail:
        row = await handling.require(self.pool, complaint_id)
        return views.detail(row, await store.steps(self.pool, complaint_id, to_customer_only=False))

    async def attachment(
        self, user: Principal, complaint_id: uuid.UUID, upload_id: uuid.UUID
    ) -> tuple[str, str | None, bytes, str]:
        """(content type, filename, bytes, sha256) of an attachment, for the complaint's customer
        and staff; ``NotFound`` otherwise, before any bytes are read."""
        row = await store.get(self.pool, complaint_id)
        if row is None or (user.role not in STAFF and row["customer_id"] != user.user_id):
            raise NotFound("no such complaint", code="complaint_not_found")
        found = None
        if any(item["upload_id"] == str(upload_id) for item in row["attachments"]):
            found = await upload_store.content(self.pool, upload_id)
        if found is None:
            raise NotFound("no such upload", code="upload_not_found")
        return found

    # Staff --------------------------------------------------------------------------------------

    async def take(self, user: Principal, complaint_id: uuid.UUID) -> ComplaintDetail:
        async with self.pool.acquire() as conn, conn.transaction():
            await handling.take(conn, complaint_id, actor_of(user))
        return await self.detail(complaint_id)

    async def assign(
        self, user: Principal, complaint_id: uuid.UUID, owner_id: str, owner_role: str
    ) -> ComplaintDetail:
        async with self.pool.acquire() as conn, conn.transaction():
            await handling.assign(conn, complaint_id, actor_of(user), owner_id, owner_role)
        return await self.detail(complaint_id)

    async def investigate(self, user: Principal, complaint_id: uuid.UUID) -> ComplaintDetail:
        async with self.pool.acquire() as conn, conn.transaction():
            await handling.investigate(conn, complaint_id, actor_of(user))
        return await self.detail(complaint_id)

    async def note(self, user: Principal, complaint_id: uuid.UUID, body: str) -> ComplaintDetail:
        async with self.pool.acquire() as conn, conn.transaction():
            await handling.note(conn, complaint_id, actor_of(user), body)
        return await self.detail(complaint_id)

    async def message(self, user: Principal, complaint_id: uuid.UUID, body: str) -> ComplaintDetail:
        async with self.pool.acquire() as conn, conn.transaction():
            await handling.message(conn, complaint_id, actor_of(user), body)
        return await self.detail(complaint_id)

    async def reject(self, user: Principal, complaint_id: uuid.UUID, reason: str) -> ComplaintDetail:
        async with self.pool.acquire() as conn, conn.transaction():
            await handling.reject(conn, complaint_id, actor_of(user), reason)
        return await self.detail(complaint_id)

    async def resolve(self, user: Principal, complaint_id: uuid.UUID, wanted: Resolve) -> ComplaintDetail:
        async with self.pool.acquire() as conn, conn.transaction():
            done = await resolving.resolve(
                conn, complaint_id, actor_of(user), wanted, self.payments, self.bookings
            )
        # After the commit: the provider is asked (the sweep asks again if it does not answer),
        # and the redo is offered at once (its outbox event is the safety net).
        if done.refund_id is not None:
            await self.payments.send_refund(done.refund_id)
        if done.redo is not None:
            self._on_paid(done.redo)
        return await self.detail(complaint_id)

    # The sweep ----------------------------------------------------------------------------------

    async def escalate_overdue(self) -> int:
        """Complaints past their deadline, escalated once each, on however many nodes."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await handling.escalate_overdue(conn)
        if rows:
            log.info("complaints escalated past their deadline: %d", len(rows))
        return len(rows)
