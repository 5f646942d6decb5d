"""The authenticated namespace every hub namespace derives from.

Connection: the client sends ``{"token": "<JWT>"}`` as the Socket.IO ``auth`` object; a refusal
reaches its ``connect_error`` handler as ``{"code", "message"}``. Events: handlers are declared
with ``@event("name", payload=Model, ack=Model)`` (a ``hub.protocol.ClientEvent``); the namespace
validates the payload with the declared model before calling the handler with the parsed model,
and answers with the ack envelope (``hub.acks``) whatever happens inside, so a malformed payload
can never crash a handler or leave a client waiting. The declarations are what
``/api/v1/asyncapi.json`` documents.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, NoReturn, TypeVar

import pydantic
import socketio

from hub import acks, errors
from hub.auth import Principal, Role, TokenError
from hub.context import HubContext
from hub.deadlines import Deadlines
from hub.namespaces import payloads as p
from hub.namespaces import replies as r
from hub.outages import outage
from hub.presence import PRESENCE_UNAVAILABLE
from hub.protocol import AUTH_EXPIRED, SERVER_ABUSE, ClientEvent, docstring_parts
from hub.ratelimit import ABUSE, LIMITS, USER_LIMITS, RateTable, TokenBucket, connect_limit
from hub.realtime import user_room
from hub.times import iso

log = logging.getLogger(__name__)

EventHandler = Callable[[Any, Principal, str, Any], Awaitable[Any]]
# A handler as the namespace calls it: ``(user, sid, payload) -> data`` (a bound method, or a
# function an extension registers with ``add_event``); ``payload`` is an instance of the declared
# payload model, or None for an event without one.
BoundHandler = Callable[[Principal, str, Any], Awaitable[Any]]
ConnectHook = Callable[[str, Principal], Coroutine[Any, Any, None]]
F = TypeVar("F", bound=EventHandler)
Model = type[pydantic.BaseModel]
UNKNOWN_EVENT_LABEL = "<unknown>"  # keeps metric label cardinality bounded against junk names
MALFORMED_EVENT_LABEL = "<malformed>"  # a packet that could not be read (hub.namespaces.server)


class ConnectionRefused(socketio.exceptions.ConnectionRefusedError):  # type: ignore[misc]
    """Refuses a connection with ``{"code", "message"}`` as the client's connect_error data."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        # Python clients receive this dict as connect_error data; the JavaScript client exposes
        # only ``message`` and ``data`` of it (as err.message and err.data), hence the copy.
        self.error_args = {"code": code, "message": message, "data": {"code": code, "message": message}}


def declare(
    name: str,
    handler: Callable[..., Any],
    payload: Model | None,
    ack: Model | None,
    limit: str,
    summary: str | None,
) -> ClientEvent:
    """The ``ClientEvent`` of a handler: its summary defaults to the first paragraph of the
    handler's docstring, and the rest of the docstring is its description."""
    if limit not in LIMITS:
        raise ValueError(f"unknown rate limit {limit!r}")
    first, rest = docstring_parts(handler)
    return ClientEvent(name, payload, ack, limit, summary or first, rest)


def event(
    name: str, *, payload: Model | None, ack: Model | None, limit: str = "default", summary: str | None = None
) -> Callable[[F], F]:
    """Mark a method ``async (self, user, sid, payload) -> data`` as the handler of ``name``.

    ``payload``: the model the payload is validated with before the handler is called with the
    parsed model (None: the event takes no payload, and the handler gets None). ``ack``: the model
    of the data the handler returns (None: it returns None). Rate-limited per socket by the bucket
    ``limit`` (``hub.ratelimit.LIMITS``). The summary is the docstring's first paragraph."""

    def mark(func: F) -> F:
        func._hub_event = declare(name, func, payload, ack, limit, summary)  # type: ignore[attr-defined]
        return func

    return mark


@dataclass(slots=True)
class PersonSockets:
    """One person's sockets on this namespace of this node: how many, and their shared budget
    (made when one of them first sends an event: an idle socket needs none)."""

    count: int = 0
    buckets: dict[str, TokenBucket] | None = None


@dataclass(slots=True)
class SocketState:
    """Per-socket state, local to the node that holds the socket. The rate buckets and the
    abuse strikes are made when the socket first sends an event, or is first refused one."""

    user: Principal
    person: PersonSockets
    buckets: dict[str, TokenBucket] | None = None
    strikes: TokenBucket | None = None
    expires: float = 0.0  # loop time at which the session ends, its token run out (0: not yet set)


class AuthenticatedNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    allowed_roles: ClassVar[frozenset[Role]]
    _events: ClassVar[dict[str, tuple[str, ClientEvent]]]  # event name → (method name, declaration)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._events = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                declared = getattr(value, "_hub_event", None)
                if isinstance(declared, ClientEvent):
                    cls._events[declared.name] = (attr, declared)

    def __init__(self, namespace: str, hub: HubContext) -> None:
        super().__init__(namespace)
        self.hub = hub
        self.sockets: dict[str, SocketState] = {}
        self.people: dict[tuple[Role, str], PersonSockets] = {}  # by (role, id), on this node
        rate = hub.settings.sockets.connects_per_second_per_user
        self._connects = RateTable(connect_limit(rate))  # connects per (role, id)
        self._expiries = Deadlines(self._expire_soon, self._expiry_wanted)  # when each token runs out
        self._sockets_gauge = hub.metrics.sockets.labels(namespace)
        # Every event the namespace handles, with its declaration: what the AsyncAPI document lists.
        self.handlers: dict[str, tuple[BoundHandler, ClientEvent]] = {
            name: (getattr(self, method), declared) for name, (method, declared) in self._events.items()
        }
        self.connect_hooks: list[ConnectHook] = []

    def add_event(
        self,
        name: str,
        handler: BoundHandler,
        *,
        payload: Model | None,
        ack: Model | None,
        limit: str = "default",
        summary: str | None = None,
    ) -> None:
        """Handle ``name`` with ``handler(user, sid, payload) -> data``, declared, validated,
        answered with the ack envelope and rate-limited like the namespace's own events (see
        ``event`` for the arguments). Names are never replaced: an extension cannot silently
        take over an event of the core or of another extension."""
        if name in self.handlers:
            raise ValueError(f"{self.namespace} already handles {name!r}")
        self.handlers[name] = (handler, declare(name, handler, payload, ack, limit, summary))

    def on_connected(self, hook: ConnectHook) -> None:
        """Run ``hook(sid, user)`` in the background after each socket has connected."""
        self.connect_hooks.append(hook)

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            user = self.hub.verifier.verify(token)
        except TokenError as exc:
            self._refuse(exc.code, exc.message)
        if user.role not in self.allowed_roles:
            self._refuse("role_forbidden", f"role {user.role.value!r} may not use {self.namespace}")
        if self._connects.take((user.role, user.user_id)):
            self._refuse("connecting_too_often", f"too many connections to {self.namespace}; wait a moment")
        person = self.people.get((user.role, user.user_id))
        cap = self.hub.settings.sockets.max_per_user
        if person is not None and person.count >= cap:
            self._refuse("too_many_connections", f"at most {cap} connections per person on {self.namespace}")
        try:
            await self._admit(sid, user, auth)
        except Exception:
            # Without a refusal python-socketio would leave the client waiting for an answer.
            log.exception("connecting %s to %s failed", user.user_id, self.namespace)
            await self.on_disconnect(sid)
            self._refuse("internal_error", "the hub could not connect this socket; try again")

    async def _admit(self, sid: str, user: Principal, auth: Any) -> None:
        person = self.people.setdefault((user.role, user.user_id), PersonSockets())
        person.count += 1
        state = self.sockets[sid] = SocketState(user, person)
        self._schedule_expiry(sid, state)
        self._sockets_gauge.inc()
        await self.enter_room(sid, user_room(user.user_id, user.role.value))
        try:
            await self.hub.presence.connect(user.user_id, user.role.value, sid)
        except PRESENCE_UNAVAILABLE as exc:
            # Chat and notifications still work without presence (e.g. Redis briefly down); the
            # heartbeat registers the socket again once Redis is back.
            log.warning("presence connect for %s %s: presence_unavailable (%r)", user.role, user.user_id, exc)
        except Exception:
            log.exception("presence connect failed for %s", user.user_id)  # a bug: the socket stays
        await self.connected(sid, user, auth)
        for hook in self.connect_hooks:
            self.hub.spawn(hook(sid, user))

    async def on_disconnect(self, sid: str, reason: str | None = None) -> None:
        state = self.sockets.pop(sid, None)
        if state is None:
            return
        self._expiries.dropped()
        self._sockets_gauge.dec()
        state.person.count -= 1
        if state.person.count <= 0:
            self.people.pop((state.user.role, state.user.user_id), None)
        try:
            await self.hub.presence.disconnect(state.user.user_id, state.user.role.value, sid)
        except PRESENCE_UNAVAILABLE as exc:
            # The socket's registration expires with its TTL, and the sweep marks the person gone.
            log.warning("presence disconnect for %s: presence_unavailable (%r)", state.user.user_id, exc)
        except Exception:
            log.exception("presence disconnect failed for %s", state.user.user_id)

    async def connected(self, sid: str, user: Principal, auth: dict[str, Any]) -> None:
        """Hook for subclasses, after the socket joined its user room and presence."""

    def _schedule_expiry(self, sid: str, state: SocketState) -> None:
        """A socket lives no longer than its token: a revoked user must not keep listening.
        Clients extend it with ``auth:refresh`` before ``exp``."""
        if state.expires:
            self._expiries.dropped()  # the deadline of the token it replaces
        delay = state.user.expires_at + self.hub.settings.jwt.leeway_seconds - time.time()
        state.expires = asyncio.get_running_loop().time() + max(delay, 0.0)
        self._expiries.add(sid, state.expires)

    def _expiry_wanted(self, sid: str, when: float) -> bool:
        state = self.sockets.get(sid)
        return state is not None and state.expires == when

    def _expire_soon(self, sid: str, when: float) -> None:
        self.hub.spawn(self._expire(sid))

    async def _expire(self, sid: str) -> None:
        if sid not in self.sockets:
            return
        await self.emit(
            AUTH_EXPIRED.name, {"code": "token_expired", "message": "refresh the token and reconnect"}, to=sid
        )
        await self.disconnect(sid)

    def _refuse(self, code: str, message: str) -> NoReturn:
        self.hub.metrics.connections_refused.labels(self.namespace, code).inc()
        raise ConnectionRefused(code, message)

    async def trigger_event(self, event_name: str, *args: Any) -> Any:
        sid = args[0]
        # python-socketio routes a client *event* named "connect"/"disconnect" here too; only the
        # server's own calls come while the socket is still pending (not yet / no longer
        # connected), so a hostile client cannot fake a disconnect or a second connect.
        if event_name in ("connect", "disconnect") and not self.server.manager.is_connected(
            sid, self.namespace
        ):
            handler = self.on_connect if event_name == "connect" else self.on_disconnect
            return await handler(*args)
        payload = args[1] if len(args) > 1 else None
        state = self.sockets.get(sid)
        if state is None:  # pragma: no cover - python-socketio only routes connected sids
            return acks.refused("not_connected", "connect to the namespace first")
        route = self.handlers.get(event_name)
        if route is None:
            self._count(UNKNOWN_EVENT_LABEL, "refused")
            await self._strike(sid, state)
            return acks.refused("unknown_event", f"{self.namespace} has no event {str(event_name)[:64]!r}")
        call, declared = route
        # The socket's own budget, then its person's: many sockets of one token share one.
        wait = self._bucket(state, declared.limit).take() or self._person_bucket(state, declared.limit).take()
        if wait:
            self._count(event_name, "refused")
            await self._strike(sid, state)
            return acks.refused(
                "rate_limited", "too many events; slow down", {"retry_after_ms": int(wait * 1000) + 1}
            )
        try:
            parsed = None if declared.payload is None else acks.parse(declared.payload, payload)
            data = await call(state.user, sid, parsed)
        except errors.ClientError as exc:
            self._count(event_name, "refused")
            return acks.from_error(exc)
        except Exception as exc:
            refusal = exc if isinstance(exc, errors.Unavailable) else outage(exc)
            if refusal is None:
                self._count(event_name, "failed")
                log.exception(
                    "handler for %s %s failed (user %s)", self.namespace, event_name, state.user.user_id
                )
                return acks.refused("internal_error", "the hub could not handle this event; try again")
            # An outage, not a bug: one line per event, no traceback.
            self._count(event_name, "unavailable")
            log.warning(
                "%s %s (user %s): %s (%r)",
                self.namespace,
                event_name,
                state.user.user_id,
                refusal.code,
                exc,
            )
            return acks.from_error(refusal)
        self._count(event_name, "ok")
        return acks.ok(data)

    @staticmethod
    def _bucket(state: SocketState, limit: str) -> TokenBucket:
        if state.buckets is None:
            state.buckets = {}
        bucket = state.buckets.get(limit)
        if bucket is None:
            bucket = state.buckets[limit] = TokenBucket(LIMITS[limit])
        return bucket

    @staticmethod
    def _person_bucket(state: SocketState, limit: str) -> TokenBucket:
        if state.person.buckets is None:
            state.person.buckets = {}
        bucket = state.person.buckets.get(limit)
        if bucket is None:
            bucket = state.person.buckets[limit] = TokenBucket(USER_LIMITS[limit])
        return bucket

    async def refuse_malformed(self, sid: str) -> None:
        """A packet from this socket could not be read (``hub.namespaces.server``): a refusal
        like any other, counted toward the socket's abuse strikes."""
        state = self.sockets.get(sid)
        if state is not None:
            self._count(MALFORMED_EVENT_LABEL, "refused")
            await self._strike(sid, state)

    async def _strike(self, sid: str, state: SocketState) -> None:
        """Refusals are free up to a point; sustained abuse costs the socket its connection."""
        if state.strikes is None:
            state.strikes = TokenBucket(ABUSE)
        if state.strikes.take():
            log.warning("disconnecting %s (%s) for sustained abuse", state.user.user_id, self.namespace)
            await self.emit(SERVER_ABUSE.name, {"reason": "too_many_refused_events"}, to=sid)
            await self.disconnect(sid)

    def _count(self, event_name: str, outcome: str) -> None:
        self.hub.metrics.socket_events.labels(self.namespace, event_name, outcome).inc()

    @event("auth:refresh", payload=p.AuthRefresh, ack=r.TokenExpiry)
    async def auth_refresh(self, user: Principal, sid: str, payload: p.AuthRefresh) -> dict[str, int]:
        """Swap in a fresh token for the same person and role, extending the session.

        Errors: ``token_mismatch`` (another person or role) and the connect codes."""
        try:
            fresh = self.hub.verifier.verify(payload.token)
        except TokenError as exc:
            raise errors.Unauthenticated(exc.message, code=exc.code) from None
        if (fresh.user_id, fresh.role) != (user.user_id, user.role):
            raise errors.Forbidden("the new token is for someone else", code="token_mismatch")
        state = self.sockets[sid]
        state.user = fresh
        self._schedule_expiry(sid, state)
        return {"expires_at": fresh.expires_at}

    @event("ping", payload=None, ack=r.ServerTime)
    async def ping(self, user: Principal, sid: str, payload: None) -> dict[str, str]:
        """The server's clock: a round trip that checks the socket works."""
        return {"server_time": iso(datetime.now(UTC))}
