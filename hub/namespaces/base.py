"""The authenticated namespace every hub namespace derives from.

Connection: the client sends ``{"token": "<JWT>"}`` as the Socket.IO ``auth`` object; a refusal
reaches its ``connect_error`` handler as ``{"code", "message"}``. Events: handlers are declared
with ``@event("name")`` and answered with the ack envelope (``hub.acks``) whatever happens
inside them, so a malformed payload can never crash a handler or leave a client waiting.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, NoReturn, TypeVar

import socketio

from hub import acks
from hub.auth import Principal, Role, TokenError, TokenVerifier
from hub.metrics import Metrics

log = logging.getLogger(__name__)

EventHandler = Callable[[Any, Principal, str, Any], Awaitable[Any]]
F = TypeVar("F", bound=EventHandler)
UNKNOWN_EVENT_LABEL = "<unknown>"  # keeps metric label cardinality bounded against junk names


class ConnectionRefused(socketio.exceptions.ConnectionRefusedError):  # type: ignore[misc]
    """Refuses a connection with ``{"code", "message"}`` as the client's connect_error data."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        # Python clients receive this dict as connect_error data; the JavaScript client exposes
        # only ``message`` and ``data`` of it (as err.message and err.data), hence the copy.
        self.error_args = {"code": code, "message": message, "data": {"code": code, "message": message}}


def event(name: str) -> Callable[[F], F]:
    """Mark a method ``async (self, user, sid, payload) -> data`` as the handler of ``name``."""

    def mark(func: F) -> F:
        func._hub_event = name  # type: ignore[attr-defined]
        return func

    return mark


def user_room(user_id: str) -> str:
    return f"user:{user_id}"


class AuthenticatedNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    allowed_roles: ClassVar[frozenset[Role]]
    _events: ClassVar[dict[str, str]]  # event name → method name

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._events = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                name = getattr(value, "_hub_event", None)
                if name is not None:
                    cls._events[name] = attr

    def __init__(self, namespace: str, verifier: TokenVerifier, metrics: Metrics) -> None:
        super().__init__(namespace)
        self.verifier = verifier
        self.metrics = metrics
        # Local to this node: a socket lives on exactly one node, so its principal does too.
        self.principals: dict[str, Principal] = {}
        self._sockets_gauge = metrics.sockets.labels(namespace)

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            principal = self.verifier.verify(token)
        except TokenError as exc:
            self._refuse(exc.code, exc.message)
        if principal.role not in self.allowed_roles:
            self._refuse("role_forbidden", f"role {principal.role.value!r} may not use {self.namespace}")
        self.principals[sid] = principal
        self._sockets_gauge.inc()
        await self.enter_room(sid, user_room(principal.user_id))
        await self.connected(sid, principal, auth)

    async def on_disconnect(self, sid: str, reason: str | None = None) -> None:
        principal = self.principals.pop(sid, None)
        if principal is None:
            return
        self._sockets_gauge.dec()
        await self.disconnected(sid, principal, reason)

    async def connected(self, sid: str, user: Principal, auth: dict[str, Any]) -> None:
        """Hook for subclasses, after the socket joined its user room."""

    async def disconnected(self, sid: str, user: Principal, reason: str | None) -> None:
        """Hook for subclasses, after the socket left."""

    def _refuse(self, code: str, message: str) -> NoReturn:
        self.metrics.connections_refused.labels(self.namespace, code).inc()
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
        method = self._events.get(event_name)
        if method is None:
            self._count(UNKNOWN_EVENT_LABEL, "refused")
            return acks.refused("unknown_event", f"{self.namespace} has no event {str(event_name)[:64]!r}")
        principal = self.principals.get(sid)
        if principal is None:  # pragma: no cover - python-socketio only routes connected sids
            return acks.refused("not_connected", "connect to the namespace first")
        try:
            data = await getattr(self, method)(principal, sid, payload)
        except acks.ClientError as exc:
            self._count(event_name, "refused")
            return acks.from_error(exc)
        except Exception:
            self._count(event_name, "failed")
            log.exception("handler for %s %s failed (user %s)", self.namespace, event_name, principal.user_id)
            return acks.refused("internal_error", "the hub could not handle this event; try again")
        self._count(event_name, "ok")
        return acks.ok(data)

    def _count(self, event_name: str, outcome: str) -> None:
        self.metrics.socket_events.labels(self.namespace, event_name, outcome).inc()

    @event("ping")
    async def ping(self, user: Principal, sid: str, payload: Any) -> dict[str, str]:
        return {"server_time": datetime.now(UTC).isoformat(timespec="milliseconds")}
