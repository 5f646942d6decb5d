"""Who uses the machine's shared cores: the process groups of a run besides the hubs and load
generators (its PostgreSQL backends, the server's WAL writer, Redis, ksoftirqd), and waiting until
programs outside the benchmark leave the CPU."""

from __future__ import annotations

import asyncio
import time

import hubproc
from runner import say

QUIET_PCT = 15.0  # percent of one core that other programs may use when the measured load starts
QUIET_WINDOW = 2.0
POSTGRES_SHARED = (": walwriter", ": checkpointer", ": background writer")


def cpu_groups(dsn: str, redis: bool = False) -> hubproc.Groups:
    # Only this run's database backends: other databases on the server are not our load.
    groups: hubproc.Groups = {
        "postgres": ("postgres", dsn.rsplit("/", 1)[-1]),
        # The server's own processes write and flush the WAL our commits produce.
        "postgres (wal, checkpoints)": ("postgres", POSTGRES_SHARED),
    }
    if redis:
        groups["redis-server"] = ("redis-server", None)  # the whole server: shared, unavoidably
    # Under load the kernel moves loopback TCP work into these threads: ours, not others'.
    groups["ksoftirqd"] = ("ksoftirqd/", None)
    return groups


async def wait_quiet(pids: list[int], groups: hubproc.Groups, within: float) -> float | None:
    """The machine is shared (2 cores): another program's burst lands in our tail latencies. Wait,
    up to ``within`` seconds, until what is not ours (neither ``pids`` nor ``groups``) uses under
    QUIET_PCT of a core. None once it does; else the percent of a core it still used."""
    deadline = time.monotonic() + within
    while True:
        first = hubproc.sample_cpu(pids, groups)
        await asyncio.sleep(QUIET_WINDOW)
        other = hubproc.cpu_between(first, hubproc.sample_cpu(pids, groups)).untracked
        if other < QUIET_PCT:
            return None
        if time.monotonic() >= deadline:
            return other
        say(f"waiting for other programs to leave the CPU ({other:.0f} % of a core)")
