"""python-engineio's session (``AsyncSocket``), holding no task of its own while its websocket is idle.

An idle websocket session of python-engineio kept four tasks besides aiohttp's two: a writer
waiting on the session's queue (through ``asyncio.wait_for``, itself a task), a task per read
(``wait_for`` again), and a task sleeping until the next ping. With their coroutine frames,
contexts, futures and timers, and the queue's three deques and event, that was 11 KiB of a
connected socket's 34 KiB (bench/README.md, "Memory per socket"). Here, with the same protocol:

- the websocket is read in the request's own task, without a timeout of its own: python-engineio's
  service task already closes a session whose client stopped answering pings, and ``close``
  closes its websocket then (python-engineio left that to the reader's timeout, ping interval +
  ping timeout);
- packets are written by a task started when one is queued, which ends once the queue is empty,
  so a slow client still never holds up the code that sends to it;
- the next ping is an entry of the server's deadlines (``hub.deadlines``), not a sleeping task;
- the queue (``SessionQueue``) holds no deque, future or event until it has something to hold.

Long-polling sessions, and the upgrade from polling to a websocket, behave as python-engineio's.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from engineio import async_socket, exceptions, packet


class SessionQueue:
    """The unbounded FIFO queue of one session, with the part of ``asyncio.Queue``'s interface
    python-engineio uses (``put``, ``put_nowait``, ``get``, ``get_nowait``, ``task_done``,
    ``join``, ``empty``, ``qsize``) and its semantics, but nothing allocated while it is empty and
    nobody waits: ``asyncio.Queue`` makes three deques (their blocks, about 600 bytes each, outside
    Python's small-object allocator) and an event for every session from the start.

    ``writer``, when set, is told after each item is queued (``HubSocket`` starts writing).
    """

    __slots__ = ("_getters", "_items", "_joiners", "_unfinished", "writer")

    def __init__(self) -> None:
        self._items: deque[Any] | None = None
        self._getters: deque[asyncio.Future[None]] | None = None
        self._joiners: list[asyncio.Future[None]] | None = None
        self._unfinished = 0
        self.writer: HubSocket | None = None

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        self._unfinished += 1
        self._wake_getter()
        if self.writer is not None:
            self.writer.write_soon()

    async def put(self, item: Any) -> None:
        self.put_nowait(item)

    def get_nowait(self) -> Any:
        if not self._items:
            raise asyncio.QueueEmpty
        item = self._items.popleft()
        if not self._items:
            self._items = None  # an idle session keeps no deque
        return item

    async def get(self) -> Any:
        while not self._items:
            getter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if self._getters is None:
                self._getters = deque()
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                getter.cancel()
                if self._getters is not None and getter in self._getters:
                    self._getters.remove(getter)
                if self._items and not getter.cancelled():
                    # Woken by a put, but cancelled before taking it: the next getter takes it.
                    self._wake_getter()
                raise
            finally:
                if not self._getters:
                    self._getters = None
        return self.get_nowait()

    def task_done(self) -> None:
        if self._unfinished <= 0:
            raise ValueError("task_done() called too many times")
        self._unfinished -= 1
        if self._unfinished == 0 and self._joiners is not None:
            joiners, self._joiners = self._joiners, None
            for joiner in joiners:
                if not joiner.done():
                    joiner.set_result(None)

    async def join(self) -> None:
        if self._unfinished <= 0:
            return
        joiner: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._joiners is None:
            self._joiners = []
        self._joiners.append(joiner)
        try:
            await joiner
        finally:
            if self._joiners is not None and joiner in self._joiners:
                self._joiners.remove(joiner)
                if not self._joiners:
                    self._joiners = None

    def _wake_getter(self) -> None:
        while self._getters:
            getter = self._getters.popleft()
            if not getter.done():
                getter.set_result(None)
                break


class HubSocket(async_socket.AsyncSocket):  # type: ignore[misc]
    """python-engineio's session, whose websocket is served without tasks of its own while idle.

    python-engineio builds every session as its ``AsyncSocket`` and offers no way to choose
    another class; ``HubEngineServer`` turns each into this subclass (``adopt``) before anything
    of the session has run but its opening packet, queued. The defaults below are class
    attributes, so that a session carries only what it uses.
    """

    # python-engineio's own attributes (BaseSocket), as this class uses them.
    server: Any
    sid: str
    queue: SessionQueue
    last_ping: float | None
    connected: bool
    upgrading: bool
    upgraded: bool
    closing: bool
    closed: bool
    _websocket: Any = None  # the websocket (``CheckedWebSocket``) once packets go out on it
    _writer: asyncio.Task[None] | None = None  # writing the queue out, while it has packets

    @classmethod
    def adopt(cls, session: async_socket.AsyncSocket) -> None:
        """Make ``session``, just built by python-engineio, one of these."""
        if not isinstance(session.queue, SessionQueue):  # pragma: no cover - HubEngineServer's queue
            raise TypeError("a session adopted by HubSocket needs a SessionQueue")
        session.__class__ = cls

    # Heartbeat --------------------------------------------------------------------------------

    def schedule_ping(self) -> None:
        # python-engineio's, with an entry of the server's deadlines for a sleeping task: called
        # at connect and on each PONG.
        if self.last_ping:
            self.last_ping = None
            self.server.pings.add(self.sid, asyncio.get_running_loop().time() + self.server.ping_interval)

    def ping(self) -> None:
        """Send the PING that is due (``HubEngineServer.pings``)."""
        if not self.closing and not self.closed:
            self.last_ping = time.time()
            self.queue.put_nowait(packet.Packet(packet.PING))

    async def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        """python-engineio's; then, if the session has a websocket, it is closed once what is
        queued has been written. python-engineio leaves that to its reader's timeout (ping
        interval + ping timeout): a session its service task found silent past the ping timeout
        is closed without its CLOSE packet (the packet's own send finds the session timed out),
        and only that timeout, gone here, closed the websocket."""
        await super().close(wait=wait, abort=abort, reason=reason)
        if self.closed and self._websocket is not None:
            self.queue.put_nowait(None)

    # Websocket --------------------------------------------------------------------------------

    async def _websocket_handler(self, ws: Any) -> None:
        """python-engineio's, reading in this task and writing only while there is something
        to write."""
        if self.connected:
            # A session that started on long-polling: python-engineio's upgrade, as it is.
            if not await self._upgrade(ws):
                return
        else:
            self.connected = True
            self.upgraded = True
        self._websocket = ws
        self.queue.writer = self
        self.write_soon()  # the opening packet, and what was queued meanwhile
        while True:
            try:
                data = await ws.checked(await ws.receive())
            except asyncio.CancelledError:
                # As python-engineio: a cancelled handler still ends its session below.
                break
            except Exception:
                break  # the client went away, or sent what cannot be read (``CheckedWebSocket``)
            if len(data) > self.server.max_http_buffer_size:
                break
            try:
                await self.receive(packet.Packet(encoded_packet=data))
            except exceptions.UnknownPacketError:  # pragma: no cover - CheckedWebSocket refuses them
                pass
            except exceptions.SocketIsClosedError:  # pragma: no cover
                self.server.logger.info("Receive error -- socket is closed")
                break
            except Exception:  # pragma: no cover
                self.server.logger.exception("Unknown receive error")
        self.queue.put_nowait(None)  # the writer sends what is queued, then closes the websocket
        try:
            if self._writer is not None:
                await self._writer
        finally:
            # Also when aiohttp cancels this task, as it does once the connection is lost (here,
            # often while the writer is closing): the session still ends, and its disconnect
            # handlers run.
            self.queue.writer = self._websocket = None  # no cycles left for the collector
            await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)

    def write_soon(self) -> None:
        """Write what is queued, from a task of its own (unless one is writing already)."""
        if self._writer is None and self._websocket is not None and not self.queue.empty():
            self._writer = asyncio.ensure_future(self._write())

    async def _write(self) -> None:
        ws = self._websocket
        try:
            while not self.queue.empty():
                pkt = self.queue.get_nowait()
                self.queue.task_done()
                if pkt is None:  # the session is over: nothing more goes out on this websocket
                    self._websocket = None
                    await ws.close()
                    return
                await ws.send(pkt.encode())
        except Exception:
            # As python-engineio's writer: a failed send ends the writing, and the websocket.
            self._websocket = None
            await ws.close()
        finally:
            self._writer = None

    async def _upgrade(self, ws: Any) -> bool:
        """python-engineio's upgrade of a polling session: the probe, then the UPGRADE packet."""
        self.upgrading = True  # hold packet sends during the upgrade
        try:
            pkt = await ws.wait()
        except OSError:  # pragma: no cover
            self.upgrading = False
            return False
        decoded = packet.Packet(encoded_packet=pkt)
        if decoded.packet_type != packet.PING or decoded.data != "probe":
            self.server.logger.info("%s: Failed websocket upgrade, no PING packet", self.sid)
            self.upgrading = False
            return False
        await ws.send(packet.Packet(packet.PONG, data="probe").encode())
        await self.queue.put(packet.Packet(packet.NOOP))  # end poll
        try:
            pkt = await ws.wait()
        except OSError:  # pragma: no cover
            self.upgrading = False
            return False
        decoded = packet.Packet(encoded_packet=pkt)
        if decoded.packet_type != packet.UPGRADE:
            self.upgraded = False
            self.server.logger.info(
                "%s: Failed websocket upgrade, expected UPGRADE packet, received %s instead.", self.sid, pkt
            )
            self.upgrading = False
            return False
        self.upgraded = True
        self.upgrading = False
        return True
