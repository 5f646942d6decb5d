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
import logging
from typing import Any
from urllib.parse import parse_qs

import engineio
from aiohttp import WSCloseCode, web
from engineio import exceptions, packet, payload
from engineio.async_drivers import aiohttp as aiohttp_driver

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
    and which closes once it has sent the CLOSE packet."""

    async def send(self, message: str | bytes) -> None:
        await super().send(message)
        if message == CLOSE_PACKET:
            # socket.io-client's websocket transport ignores a CLOSE packet and waits for the
            # close frame, which python-engineio never sent: a node shutting down told its sockets
            # at once, and they were dropped only when the process exited seconds later. Closing
            # here ends python-engineio's receive loop too (the read it waits on returns).
            await self._sock.close()

    async def wait(self) -> str | bytes:
        data: str | bytes = await super().wait()
        reason = unreadable(data)
        if reason is None:
            return data
        # The driver is built with the socket's bound handler: the one way back to its session.
        await self.server.refuse(self.handler.__self__, self.environ, reason)
        await self._sock.close(code=WSCloseCode.PROTOCOL_ERROR, message=b"invalid Engine.IO packet")
        # What the driver raises when the client goes away: both of python-engineio's receive
        # loops (the websocket's, and the upgrade from polling) end quietly on it.
        raise OSError(reason)


class CheckedBody:
    """A polling POST's body (``environ["wsgi.input"]``), refused when it does not parse."""

    def __init__(self, server: HubEngineServer, environ: dict[str, Any], stream: Any) -> None:
        self._server, self._environ, self._stream = server, environ, stream

    async def read(self, size: int = -1) -> bytes:
        body: bytes = await self._stream.read(size)
        reason = unreadable_payload(body)
        if reason is None:
            return body
        sid = parse_qs(self._environ.get("QUERY_STRING", "")).get("sid", [""])[0]
        socket = self._server.sockets.get(sid)
        if socket is not None:
            await self._server.refuse(socket, self._environ, reason)
        raise InvalidPacket(reason)


class HubEngineServer(engineio.AsyncServer):  # type: ignore[misc]
    """python-engineio's server, on aiohttp, that refuses packets it cannot parse."""

    event_names = [*engineio.AsyncServer.event_names, INVALID_PACKET]
    _async: dict[str, Any]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.async_mode != "aiohttp":
            raise ValueError(f"the hub's Engine.IO server runs on aiohttp, not {self.async_mode}")
        # python-engineio takes its websocket class and request translation from the driver's
        # table; this server's copy (the table is shared by every server) swaps in checked ones.
        self._async = {**self._async, "websocket": CheckedWebSocket, "translate_request": self._translate}

    def _translate(self, request: web.Request) -> dict[str, Any]:
        """The driver's environ, whose body (read only by a polling POST) is checked as it is read."""
        environ: dict[str, Any] = aiohttp_driver.translate_request(request)
        environ["wsgi.input"] = CheckedBody(self, environ, environ["wsgi.input"])
        return environ

    async def close_all(self) -> None:
        """End every session without waiting for its client to take the CLOSE packet (python-
        engineio's ``disconnect()`` waits): a websocket closes as soon as the packet is written
        (``CheckedWebSocket``), a waiting poll returns it, and a client between two polls finds its
        next one refused, which socket.io-client also answers by reconnecting."""
        sockets = list(self.sockets.values())
        results = await asyncio.gather(
            *(s.close(wait=False, reason=self.reason.SERVER_DISCONNECT) for s in sockets),
            return_exceptions=True,
        )
        for socket, result in zip(sockets, results, strict=True):
            self.sockets.pop(socket.sid, None)
            if isinstance(result, Exception):
                log.warning("closing the connection %s failed: %r", socket.sid, result)

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
