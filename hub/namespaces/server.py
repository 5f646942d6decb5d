"""The Socket.IO server of the hub: python-socketio's, with what it leaves to chance refused.

- A namespace the hub does not serve, the default ``/`` included, is refused with a
  ``connect_error`` ``namespace_not_found``: python-socketio would accept ``/`` without a token
  and then never answer on it.
- A packet that does not decode (truncated JSON, nesting beyond the parser's depth, an integer of
  more than 100 digits, an unknown packet type), or an event that is not an array starting with
  its name, makes python-socketio raise deep inside its message handler: the client never hears
  back and the log gets a traceback. Here such a packet is refused where it is read: an error ack
  ``invalid_packet`` when the packet asked for one, a ``connect_error`` for a connection request,
  one WARNING line otherwise; on a connected socket it counts toward the abuse strikes.
- An Engine.IO packet that does not parse ends its connection (``hub.namespaces.engine``); it
  counts toward the abuse strikes of each namespace the connection had joined.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Iterable
from typing import Any

import socketio
from socketio import packet
from socketio.msgpack_packet import MsgPackPacket

from hub import acks, jsoncodec
from hub.metrics import Metrics
from hub.namespaces import engine
from hub.namespaces.base import AuthenticatedNamespace, ConnectionRefused
from hub.ratelimit import RateTable, connect_limit
from hub.settings import SocketSettings

log = logging.getLogger(__name__)

CATCH_ALL = "*"  # python-socketio's name for the handler of every namespace without its own
INVALID_PACKET = "invalid_packet"
# Packet types a client may send; CONNECT_ERROR is the server's alone.
CLIENT_PACKET_TYPES = (
    packet.CONNECT,
    packet.DISCONNECT,
    packet.EVENT,
    packet.ACK,
    packet.BINARY_EVENT,
    packet.BINARY_ACK,
)
EVENT_TYPES = (packet.EVENT, packet.BINARY_EVENT)
# What python-socketio's decoders raise on bad input: the JSON and msgpack parsers (ValueError,
# and RecursionError on deep JSON), and lookups into a decoded value of the wrong shape.
DECODE_ERRORS = (ValueError, TypeError, LookupError, RecursionError)


class MalformedPacket(ValueError):
    """A packet the hub cannot act on, with what could be read of it before it failed."""

    def __init__(self, reason: str, packet_type: Any, namespace: Any, ack_id: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.packet_type = packet_type if type(packet_type) is int else None
        self.namespace = namespace if isinstance(namespace, str) else None
        self.ack_id = ack_id if type(ack_id) is int and ack_id >= 0 else None


class _Checked(packet.Packet):  # type: ignore[misc]
    """Decoding that raises ``MalformedPacket`` for anything a client must not send."""

    def decode(self, encoded_packet: Any) -> int:
        try:
            count: int = super().decode(encoded_packet)
        except DECODE_ERRORS as exc:
            raise self._malformed(f"the packet does not decode: {_describe(exc)}") from None
        if type(self.packet_type) is not int or self.packet_type not in CLIENT_PACKET_TYPES:
            raise self._malformed(f"a client cannot send packets of type {str(self.packet_type)[:8]!r}")
        if not (self.namespace is None or isinstance(self.namespace, str)) or not (
            self.id is None or (type(self.id) is int and self.id >= 0)
        ):
            raise self._malformed("the packet's namespace or id is malformed")
        return count

    def add_attachment(self, attachment: Any) -> bool:
        try:
            done: bool = super().add_attachment(attachment)
        except DECODE_ERRORS:
            raise self._malformed("a binary attachment does not match the event's placeholders") from None
        return done

    def _malformed(self, reason: str) -> MalformedPacket:
        return MalformedPacket(reason, self.packet_type, self.namespace, self.id)


class JsonPacket(_Checked):
    """python-socketio's default (JSON) packets, checked, encoded and decoded with orjson
    (``hub.jsoncodec``: python-socketio reads the codec from the packet class)."""

    json = jsoncodec

    @classmethod
    def data_is_binary(cls, data: Any) -> bool:
        """python-socketio's test, which runs on every packet the hub sends, without its cost:
        the same answer (bytes anywhere in lists and dict values), found without building a list
        and a ``reduce`` at every level."""
        pending = [data]
        while pending:
            item = pending.pop()
            if isinstance(item, dict):
                pending.extend(item.values())
            elif isinstance(item, list):
                pending.extend(item)
            elif isinstance(item, bytes | bytearray):
                return True
        return False


class CheckedMsgPackPacket(_Checked, MsgPackPacket):  # type: ignore[misc]
    """python-socketio's msgpack packets, checked."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "it is nested too deeply"
    return (str(exc) or type(exc).__name__)[:120]


class UnknownNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """Registered as ``*``: python-socketio hands it every namespace that has no handler of its
    own, and it refuses each connection, naming the namespaces the hub serves."""

    def __init__(self, served: list[str], metrics: Metrics) -> None:
        super().__init__(CATCH_ALL)
        self.served = ", ".join(sorted(served))
        self._refused = metrics.connections_refused.labels(CATCH_ALL, "namespace_not_found")

    async def trigger_event(self, event: str, *args: Any) -> None:
        # (namespace, sid, environ, auth) for a connection; nothing else arrives unconnected.
        if event == "connect":
            self._refused.inc()
            raise ConnectionRefused(
                "namespace_not_found", f"no namespace {str(args[0])[:64]!r}; connect to {self.served}"
            )


class HubServer(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio's server with checked packets, the catch-all namespace enabled, and
    connections that must join a namespace in time, few at once per address."""

    eio: engine.HubEngineServer

    def __init__(self, *, serializer: str, sockets: SocketSettings, **kwargs: Any) -> None:
        packets = CheckedMsgPackPacket if serializer == "msgpack" else JsonPacket
        # namespaces="*": every namespace reaches a handler, so that the catch-all can refuse it.
        super().__init__(serializer=packets, namespaces=CATCH_ALL, **kwargs)
        self.eio.websocket_compression = sockets.websocket_compression
        self._limits = sockets
        # Engine.IO sid -> (address, when it must have joined by), until it joins a namespace: in
        # the order they came, so in the order of their deadlines, with one timer for the first.
        self._joining: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._joining_per_address: Counter[str] = Counter()
        self._join_timer: asyncio.TimerHandle | None = None
        self._dropping: set[asyncio.Task[None]] = set()
        self.connections_closed = 0  # Engine.IO connections, since start-up (``hub.memory``)
        rate = sockets.connects_per_second_per_address
        self._connects = RateTable(connect_limit(rate))
        self.eio.on(engine.INVALID_PACKET, self._handle_eio_invalid_packet)

    async def drain(self, event: str, data: Any, namespaces: Iterable[str], deadline: float) -> int:
        """At shutdown: send ``event`` with ``data`` to every socket of ``namespaces`` on this node
        and end every Engine.IO session, by ``deadline`` (``engine.HubEngineServer.drain``);
        returns how many sessions the deadline came before. The event is encoded once per
        namespace, not once per socket.
        """
        farewells: dict[str, list[str | bytes]] = defaultdict(list)
        for namespace in namespaces:
            encoded = self.packet_class(packet.EVENT, namespace=namespace, data=[event, data]).encode()
            for _, eio_sid in self.manager.get_participants(namespace, None):
                farewells[eio_sid].append(encoded)
        return await self.eio.drain(farewells, deadline)

    def _engineio_server_class(self) -> type[engine.HubEngineServer]:
        return engine.HubEngineServer

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> bool | None:
        """Admit an Engine.IO connection: before any token is seen, so it must stay cheap."""
        address = engine.peer_address(environ)
        if self._connects.take(address):
            log.info("refused a connection from %s: connecting too often", address)
            return False
        if self._joining_per_address[address] >= self._limits.max_pending_per_address:
            log.info("refused a connection from %s: too many that have not joined a namespace", address)
            return False  # python-engineio answers 401
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._limits.join_timeout_seconds
        self._joining[eio_sid] = (address, deadline)
        self._joining_per_address[address] += 1
        if self._join_timer is None:
            self._join_timer = loop.call_at(deadline, self._close_unjoined)
        await super()._handle_eio_connect(eio_sid, environ)
        return None

    async def _handle_connect(self, eio_sid: str, namespace: str | None, data: Any) -> None:
        await super()._handle_connect(eio_sid, namespace, data)
        if self.manager.sid_from_eio_sid(eio_sid, namespace or "/") is not None:
            self._joined(eio_sid)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any) -> None:
        self._joined(eio_sid)
        self.connections_closed += 1
        await super()._handle_eio_disconnect(eio_sid, reason)

    def _joined(self, eio_sid: str) -> None:
        joining = self._joining.pop(eio_sid, None)
        if joining is not None:
            address = joining[0]
            self._joining_per_address[address] -= 1
            if self._joining_per_address[address] <= 0:
                del self._joining_per_address[address]

    def _close_unjoined(self) -> None:
        """Close the connections past their deadline to join a namespace, then wait for the next
        deadline: one timer for every connection that has not joined yet, rather than one each
        (each stayed in the event loop for the whole join timeout, 45 s by default, however soon
        its connection joined)."""
        self._join_timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._joining:
            eio_sid, (_, deadline) = next(iter(self._joining.items()))
            if deadline > now:
                self._join_timer = loop.call_at(deadline, self._close_unjoined)
                return
            self._joined(eio_sid)
            task = asyncio.create_task(self._drop(eio_sid))
            self._dropping.add(task)  # a reference, so the task is not collected mid-way
            task.add_done_callback(self._dropping.discard)

    async def _drop(self, eio_sid: str) -> None:
        socket = self.eio.sockets.get(eio_sid)
        if socket is None:
            return
        timeout = self._limits.join_timeout_seconds
        log.info("closing a connection that joined no namespace within %gs", timeout)
        # Without waiting for the client to take the close packet: python-engineio's disconnect()
        # waits until it does, and a polling client that never polls again never does, which
        # kept this task and the socket alive for as long as the process ran.
        await socket.close(wait=False, reason=self.eio.reason.SERVER_DISCONNECT)
        self.eio.sockets.pop(eio_sid, None)

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        socket = self.eio.sockets.get(eio_sid)
        if socket is None or socket.closing or socket.closed:
            # python-engineio reads on from a websocket it closed until the client closes it too;
            # a connection request read then would be registered in python-socketio's rooms for
            # good (its disconnect has already run), and fail on the environ it already dropped.
            return
        try:
            await super()._handle_eio_message(eio_sid, data)
        except MalformedPacket as exc:
            # A broken binary event must not swallow the packets that follow it as attachments.
            self._binary_packet.pop(eio_sid, None)
            await self._refuse_packet(eio_sid, exc)
        except ValueError as exc:
            # python-socketio's own refusals (a binary event on a namespace the socket has not
            # joined); every handler it calls inline answers errors itself and never raises.
            log.warning("dropped a Socket.IO packet from %s: %s", eio_sid, exc)

    async def _handle_eio_invalid_packet(self, eio_sid: str, reason: str) -> None:
        """An Engine.IO packet that does not parse, just before its connection ends: a refusal
        like a malformed Socket.IO packet, on each namespace the connection had joined."""
        for namespace, handler in self.namespace_handlers.items():
            sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
            if sid is not None and isinstance(handler, AuthenticatedNamespace):
                await handler.refuse_malformed(sid)

    async def _handle_event(self, eio_sid: str, namespace: str | None, id: int | None, data: Any) -> None:
        if not (isinstance(data, list) and data and isinstance(data[0], str)):
            raise MalformedPacket(
                "an event is an array whose first item is its name", packet.EVENT, namespace, id
            )
        await super()._handle_event(eio_sid, namespace, id, data)

    async def _refuse_packet(self, eio_sid: str, exc: MalformedPacket) -> None:
        namespace = exc.namespace or "/"
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        connected = sid is not None and self.manager.is_connected(sid, namespace)
        log.warning("malformed Socket.IO packet from %s on %s: %s", sid or eio_sid, namespace, exc.reason)
        if exc.packet_type == packet.CONNECT and not connected:
            refusal = ConnectionRefused(INVALID_PACKET, exc.reason).error_args
            await self._send_packet(
                eio_sid, self.packet_class(packet.CONNECT_ERROR, data=refusal, namespace=namespace)
            )
            return
        if not connected:
            return
        if exc.ack_id is not None and exc.packet_type in EVENT_TYPES:
            ack = acks.refused(INVALID_PACKET, exc.reason)
            await self._send_packet(
                eio_sid, self.packet_class(packet.ACK, data=[ack], namespace=namespace, id=exc.ack_id)
            )
        handler = self.namespace_handlers.get(namespace)
        if isinstance(handler, AuthenticatedNamespace):
            await handler.refuse_malformed(sid)
