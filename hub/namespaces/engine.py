"""The Engine.IO server under the hub's Socket.IO server: python-engineio's, with the packets it
cannot parse refused where they arrive.

python-engineio parses what a client sends without checking it first. A websocket frame ``x`` or
an empty one raised out of the request handler (a 500 and a traceback); an unknown packet type
such as ``9`` raised in the receive loop ("Unknown receive error", a traceback per frame, the
connection kept); a polling POST whose body did not parse was answered 200 after a traceback.
Here such a packet ends the session, which is the Engine.IO protocol's answer to a packet it
cannot parse: a websocket is closed with 1002 (protocol error), a polling POST gets
python-engineio's 400 and a waiting poll the CLOSE packet. It costs one INFO line, and handlers
of the ``invalid_packet`` event (``hub.namespaces.server``) count it as abuse before the session's
sockets are disconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket as net
import struct
import sys
from collections.abc import Awaitable, Iterator, Mapping, Sequence
from typing import Any

import engineio
from aiohttp import WSCloseCode, WSMessage, WSMsgType, web
from engineio import exceptions, packet, payload
from engineio.async_drivers import aiohttp as aiohttp_driver

from hub.deadlines import Deadlines
from hub.namespaces.session import HubSocket, SessionQueue

log = logging.getLogger(__name__)

INVALID_PACKET = "invalid_packet"  # the event: (Engine.IO sid, reason), while the session is still open
# What python-engineio's decoders raise on bad input: int() of the type and the base64, JSON and
# UTF-8 decoders (ValueError), JSON nested too deeply (RecursionError), a JSONP body without
# its ``d`` field (KeyError).
PARSE_ERRORS = (ValueError, LookupError, TypeError, RecursionError)
# The packet types a client sends. OPEN and NOOP are the server's: python-engineio drops them from
# a websocket, and answers them in a polling POST with a disconnect that waits, without bound, for
# a poll to collect its CLOSE packet.
CLIENT_PACKET_TYPES = (packet.CLOSE, packet.PING, packet.PONG, packet.MESSAGE, packet.UPGRADE)
# The CLOSE packet as python-engineio writes it: the server ends the session.
CLOSE_PACKET = packet.Packet(packet.CLOSE).encode()
DRAIN_CHUNK = 500  # sessions told and closed at shutdown between two passes of the loop
GOING_AWAY = struct.pack("!H", WSCloseCode.GOING_AWAY)  # the close frame's payload at shutdown
# The websocket a request opened, to be served once python-engineio has returned.
TO_SERVE: web.RequestKey[CheckedWebSocket] = web.RequestKey("to_serve")


class InvalidPacket(exceptions.EngineIOError):  # type: ignore[misc]
    """A packet python-engineio cannot parse. Raised while it reads a polling POST's body, it makes
    python-engineio answer 400."""


def unreadable(encoded: str | bytes) -> str | None:
    """Why python-engineio cannot parse and dispatch this packet (a websocket frame), or None."""
    try:
        decoded = packet.Packet(encoded_packet=encoded)
    except PARSE_ERRORS as exc:
        return _describe(exc)
    return _unexpected([decoded])


def unreadable_payload(body: bytes) -> str | None:
    """Why python-engineio cannot parse and dispatch the packets of this polling POST body, or None."""
    try:
        packets = payload.Payload(encoded_payload=body.decode("utf-8")).packets
    except PARSE_ERRORS as exc:
        return _describe(exc)
    return _unexpected(packets)


def _unexpected(packets: list[Any]) -> str | None:
    types = [p.packet_type for p in packets if p.packet_type not in CLIENT_PACKET_TYPES]
    return f"a client cannot send packets of type {types[0]}" if types else None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "it is nested too deeply"
    return f"{type(exc).__name__}: {str(exc)[:120]}"


def peer_address(environ: dict[str, Any]) -> str:
    """The peer's address as aiohttp sees it (behind a proxy, configure aiohttp's forwarding)."""
    request = environ.get("aiohttp.request")
    remote = getattr(request, "remote", None)
    return str(remote or environ.get("REMOTE_ADDR") or "unknown")


class CheckedWebSocket(aiohttp_driver.WebSocket):  # type: ignore[misc]
    """python-engineio's websocket for aiohttp, whose frames are checked before they are parsed,
    which closes once it has sent the CLOSE packet, and which its server can find at shutdown
    (``HubEngineServer.websockets``)."""

    server: HubEngineServer
    environ: dict[str, Any]
    farewelled = False  # told at shutdown (``farewell``); a class default, so idle sockets carry none

    async def __call__(self, environ: dict[str, Any]) -> web.WebSocketResponse:
        """Open the websocket, and leave it to be served once python-engineio has returned
        (``HubEngineServer.handle_request``).

        The driver serves the websocket here, deep inside python-engineio's handling of the
        request: for as long as the connection lasted, five of its coroutine frames stayed
        suspended above this one, holding the request's parsed query, the opening packet and
        more (about 2 KiB of every idle socket). python-engineio only hands this method's
        result back up, so the websocket is served from the top of the request instead."""
        # The driver's, with the server's choice of permessage-deflate: aiohttp accepts a client's
        # offer unless told otherwise, and compressing every frame costs the hub 12-30 % more CPU.
        request = environ["aiohttp.request"]
        self._sock = web.WebSocketResponse(
            max_msg_size=self.server.max_http_buffer_size, compress=self.server.websocket_compression
        )
        await self._sock.prepare(request)
        self.environ = environ
        self.server.websockets[self.session.sid] = self
        request[TO_SERVE] = self
        return self._sock

    @property
    def session(self) -> Any:
        """The ``AsyncSocket`` (session) this websocket carries. The driver is built with the
        session's bound handler: the one way back to it."""
        return self.handler.__self__

    @property
    def response(self) -> web.WebSocketResponse:
        """aiohttp's websocket, which the driver keeps as ``_sock``."""
        sock: web.WebSocketResponse = self._sock
        return sock

    @property
    def _transport(self) -> asyncio.Transport | None:
        transport: asyncio.Transport | None = self.environ["aiohttp.request"].transport
        return transport

    async def farewell(self, frames: Sequence[str | bytes]) -> None:
        """At shutdown: send ``frames`` (encoded Engine.IO packets), the CLOSE packet and a close
        frame (going away), and end the connection's sending side, without waiting for anything.

        The frames are written to the transport without a pause (uncompressed, or compressed in
        the loop: they are small), so a whole chunk of sessions is told in one pass of the loop,
        instead of the several passes per session that python-engineio's writer task and
        aiohttp's ``close()`` (which waits for the client's close frame) take; corked, they leave
        in one segment with the FIN. Ending the sending side lets every client see the connection
        close at once; the connection ends when the client closes its side, or is aborted at the
        deadline (``abort``). aiohttp, when the client's close frame arrives, tries to answer it,
        finds the sending side closed and closes the transport: the end we want.
        """
        self.farewelled = True
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        with _corked(transport):
            for frame in frames:
                await (
                    self._sock.send_bytes(frame) if isinstance(frame, bytes) else self._sock.send_str(frame)
                )
            await self._sock.send_str(CLOSE_PACKET)
            await self._sock.send_frame(GOING_AWAY, WSMsgType.CLOSE)
            if transport.can_write_eof():
                transport.write_eof()
        # The client's answer waits in the kernel until every session has been told: handling it
        # (python-engineio's receive loop and writer task ending, aiohttp's request finishing)
        # costs more than telling, and would slow the telling of the sessions still to come.
        transport.pause_reading()

    def resume(self) -> None:
        """Read the client's answer to ``farewell`` again."""
        transport = self._transport
        if transport is not None:
            transport.resume_reading()

    def abort(self) -> None:
        """Drop the connection at once: the last resort at shutdown."""
        transport = self._transport
        if transport is not None:
            transport.abort()

    async def close(self) -> None:
        if not self.farewelled:  # python-engineio's writer closes it on its way out
            await super().close()

    async def send(self, message: str | bytes) -> None:
        await super().send(message)
        if message == CLOSE_PACKET:
            # socket.io-client's websocket transport ignores a CLOSE packet and waits for the
            # close frame, which python-engineio never sent: a node shutting down told its sockets
            # at once, and they were dropped only when the process exited seconds later. Closing
            # here ends python-engineio's receive loop too (the read it waits on returns).
            await self._sock.close()

    def receive(self) -> Awaitable[WSMessage]:
        """aiohttp's read of the next message, for the caller to await itself and then hand to
        ``checked``: an idle session then waits on one coroutine frame, not three."""
        return self._sock.receive()

    async def wait(self) -> str | bytes:
        return await self.checked(await self._sock.receive())

    async def checked(self, message: WSMessage) -> str | bytes:
        """The message's data, once it is known to parse; ``OSError`` once the client has gone
        (as the driver's ``wait``), or sent what does not parse (its session is then ended)."""
        data = message.data
        if not isinstance(data, str | bytes):
            raise OSError()
        reason = unreadable(data)
        if reason is None:
            return data
        # The driver is built with the socket's bound handler: the one way back to its session.
        await self.server.refuse(self.handler.__self__, self.environ, reason)
        await self._sock.close(code=WSCloseCode.PROTOCOL_ERROR, message=b"invalid Engine.IO packet")
        # What the driver raises when the client goes away: both of python-engineio's receive
        # loops (the websocket's, and the upgrade from polling) end quietly on it.
        raise OSError(reason)


def _queued(session: Any) -> list[str | bytes]:
    """What python-engineio has queued for ``session`` and its writer task not yet sent, encoded
    and taken off the queue: sent before the farewell, in order."""
    frames = []
    while not session.queue.empty():
        queued = session.queue.get_nowait()
        session.queue.task_done()
        if queued is not None:
            frames.append(queued.encode())
    return frames


@contextlib.contextmanager
def _corked(transport: asyncio.Transport) -> Iterator[None]:
    """Writes to ``transport`` meanwhile are held by the kernel and sent together (Linux's
    TCP_CORK; elsewhere, or on a socket that refuses it, each is sent as it comes)."""
    sock = transport.get_extra_info("socket")
    cork = getattr(net, "TCP_CORK", None)
    try:
        if sock is not None and cork is not None:
            sock.setsockopt(net.IPPROTO_TCP, cork, 1)
    except OSError:
        cork = None
    try:
        yield
    finally:
        if sock is not None and cork is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(net.IPPROTO_TCP, cork, 0)


def _drop_traceback(exc: BaseException | None) -> None:
    """Forget where ``exc`` (and what it was raised from) was raised. aiohttp keeps the error a
    websocket ended with (a reset connection, a write that failed), whose traceback holds frames
    that hold the websocket: a reference cycle, which left a dropped connection's objects to a
    full garbage collection (``hub.memory``). Nobody reads that traceback once the socket is over."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc.__traceback__ = None
        exc = exc.__cause__ or exc.__context__


class CheckedBody:
    """A polling POST's body (``environ["wsgi.input"]``), refused when it does not parse.

    It keeps the request, not the environ that holds it: python-socketio keeps a connection's
    environ as long as the connection, and a reference back to it would make a cycle of every
    connection, left to a full garbage collection once closed (``hub.memory``)."""

    __slots__ = ("_request", "_server", "_stream")  # one for every connection, kept with its environ

    def __init__(self, server: HubEngineServer, request: web.Request, stream: Any) -> None:
        self._server, self._request, self._stream = server, request, stream

    async def read(self, size: int = -1) -> bytes:
        body: bytes = await self._stream.read(size)
        reason = unreadable_payload(body)
        if reason is None:
            return body
        socket = self._server.sockets.get(self._request.query.get("sid", ""))
        if socket is not None:
            await self._server.refuse(socket, {"aiohttp.request": self._request}, reason)
        raise InvalidPacket(reason)


class HubEngineServer(engineio.AsyncServer):  # type: ignore[misc]
    """python-engineio's server, on aiohttp, that refuses packets it cannot parse."""

    event_names = [*engineio.AsyncServer.event_names, INVALID_PACKET]
    _async: dict[str, Any]
    websocket_compression = False  # permessage-deflate, when a client offers it (HUB_WS_COMPRESSION)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.async_mode != "aiohttp":
            raise ValueError(f"the hub's Engine.IO server runs on aiohttp, not {self.async_mode}")
        # python-engineio takes its websocket class and request translation from the driver's
        # table; this server's copy (the table is shared by every server) swaps in checked ones.
        self._async = {**self._async, "websocket": CheckedWebSocket, "translate_request": self._translate}
        self.websockets: dict[str, CheckedWebSocket] = {}  # open ones by session id, for the shutdown
        self.draining = False  # shutting down: sessions end without their disconnect handlers
        self._all_ended: asyncio.Future[None] | None = None  # at shutdown: no websocket is left
        self.pings = Deadlines(self._ping, lambda sid, when: True)  # each session's next ping

    def create_queue(self, *args: Any, **kwargs: Any) -> SessionQueue:
        """A session's queue (python-engineio's sessions are the only callers): one that holds
        nothing while it is empty (``hub.namespaces.session``)."""
        return SessionQueue()

    async def handle_request(self, request: web.Request) -> web.StreamResponse:
        """python-engineio's handling of a request (aiohttp's handler of the Engine.IO route);
        then, for a websocket it opened (``CheckedWebSocket.__call__``), python-engineio's
        handling of the session on it, until the session ends (here, not in a coroutine of its
        own: one frame less for every idle socket)."""
        response: web.StreamResponse = await super().handle_request(request)
        websocket = request.get(TO_SERVE)
        if websocket is None:
            return response
        # The request would hold the websocket that holds the request: a reference cycle, which
        # left every closed connection's objects to a full garbage collection (``hub.memory``).
        del request[TO_SERVE]
        session = websocket.session
        try:
            await websocket.handler(websocket)
        finally:
            self.websocket_ended(session.sid)
            # What python-engineio does once the driver returns: a session that has ended is
            # forgotten at once, not at its service task's next sweep.
            if session.closed and self.sockets.get(session.sid) is session:
                del self.sockets[session.sid]
            _drop_traceback(websocket.response.exception())
        return response

    def _ping(self, sid: str, when: float) -> None:
        session = self.sockets.get(sid)
        if isinstance(session, HubSocket):
            session.ping()

    def _translate(self, request: web.Request) -> dict[str, Any]:
        """The driver's environ, whose body (read only by a polling POST) is checked as it is read.

        Its header keys (``HTTP_USER_AGENT``, ...) are the interpreter's shared copies: the driver
        makes each anew for every request, and python-socketio keeps a connection's environ as
        long as the connection, so 5,000 sockets kept 5,000 copies of each (about 400 bytes a
        socket). Strings made shared this way are freed once unused, so a client's made-up
        header names do not accumulate."""
        translated: dict[str, Any] = aiohttp_driver.translate_request(request)
        environ = {sys.intern(k) if k.startswith("HTTP_") else k: v for k, v in translated.items()}
        environ["wsgi.input"] = CheckedBody(self, request, environ["wsgi.input"])
        return environ

    async def _trigger_event(self, event: str, *args: Any, **kwargs: Any) -> Any:
        if event == "connect":
            # The session python-engineio has just built (its opening packet queued, nothing
            # else run yet) becomes the hub's, which holds no task while its websocket is idle.
            session = self.sockets.get(args[0])
            if session is not None:
                HubSocket.adopt(session)
        if event == "disconnect" and self.draining:
            # The process is stopping: python-socketio's bookkeeping of each socket, and the
            # namespaces' (presence), die with it; the presence tracker removes this node's
            # sockets from Redis in batches when it stops. Done per socket, it cost more than the
            # closing itself.
            return None
        return await super()._trigger_event(event, *args, **kwargs)

    async def drain(self, farewells: Mapping[str, Sequence[str | bytes]], deadline: float) -> int:
        """End every session at shutdown by ``deadline`` (the loop's clock), each first sent its
        ``farewells`` (the data of Engine.IO messages, by session id); returns how many sessions
        the deadline came before (dropped untold).

        A session on a websocket is told and closed without its writer task
        (``CheckedWebSocket.farewell``). One on long-polling gets its messages and the CLOSE
        packet queued, which a waiting poll returns; a client between two polls finds its next
        one refused, which socket.io-client also answers by reconnecting. Sessions are taken a
        chunk at a time, the loop running in between and the deadline looked at. At the
        deadline every websocket still open is aborted: those told and waiting for their client
        to close its side, and those not reached.
        """
        self.draining = True
        sessions = list(self.sockets.values())
        self.sockets.clear()
        loop = asyncio.get_running_loop()
        encoded: dict[str | bytes, str | bytes] = {}  # a message is the same for many sessions
        told = 0
        while told < len(sessions) and loop.time() < deadline:
            for session in sessions[told : told + DRAIN_CHUNK]:
                messages = farewells.get(session.sid, ())
                for message in messages:
                    if message not in encoded:
                        encoded[message] = packet.Packet(packet.MESSAGE, data=message).encode()
                try:
                    await self._farewell(session, messages, [encoded[m] for m in messages])
                except Exception as exc:
                    log.warning("closing the connection %s failed: %r", session.sid, exc)
            told += DRAIN_CHUNK
            await asyncio.sleep(0)
        for websocket in list(self.websockets.values()):
            if websocket.farewelled:
                websocket.resume()
        if self.websockets:
            self._all_ended = loop.create_future()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(deadline):
                    await asyncio.shield(self._all_ended)
        for websocket in list(self.websockets.values()):
            websocket.abort()
        return max(0, len(sessions) - told)

    def websocket_ended(self, sid: str) -> None:
        """python-engineio is done with the websocket of session ``sid``."""
        self.websockets.pop(sid, None)
        if not self.websockets and self._all_ended is not None and not self._all_ended.done():
            self._all_ended.set_result(None)

    async def _farewell(
        self, session: Any, messages: Sequence[str | bytes], frames: list[str | bytes]
    ) -> None:
        websocket = self.websockets.get(session.sid)
        if websocket is not None and session.upgraded:
            # python-engineio sends nothing more on it, and does not close it again.
            session.closing = session.closed = True
            await websocket.farewell([*_queued(session), *frames])
            return
        for message in messages:
            await session.send(packet.Packet(packet.MESSAGE, data=message))
        await session.close(wait=False, reason=self.reason.SERVER_DISCONNECT)

    async def refuse(self, socket: Any, environ: dict[str, Any], reason: str) -> None:
        """End the session of ``socket`` (an ``AsyncSocket``), which sent a packet that does not parse."""
        log.info(
            "closed the connection %s from %s: invalid Engine.IO packet (%s)",
            socket.sid,
            peer_address(environ),
            reason,
        )
        await self._trigger_event(INVALID_PACKET, socket.sid, reason, run_async=False)
        # A client still polling hears it from a CLOSE packet; a websocket from its close frame.
        await socket.close(wait=False, abort=socket.upgraded, reason=self.reason.TRANSPORT_ERROR)
