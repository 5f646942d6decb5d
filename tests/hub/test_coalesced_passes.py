"""CoalescedPasses: each request is served by a pass that started after it; requests made during
a pass share the next one; failures reach exactly the waiters of the failing pass."""

from __future__ import annotations

import asyncio

import pytest

from hub.coalesce import CoalescedPasses

WAIT = 5.0


class Work:
    def __init__(self) -> None:
        self.flags: list[bool] = []
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.fail_next: Exception | None = None

    async def __call__(self, flag: bool) -> None:
        self.flags.append(flag)
        self.started.set()
        await self.release.wait()
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error


async def test_requests_during_a_pass_share_the_next_one() -> None:
    work = Work()
    passes = CoalescedPasses(work, "test")
    first = asyncio.create_task(passes.request())
    await asyncio.wait_for(work.started.wait(), WAIT)
    later = [asyncio.create_task(passes.request(flag=i == 3)) for i in range(10)]
    await asyncio.sleep(0)
    assert not any(t.done() for t in later)
    work.release.set()
    await asyncio.wait_for(asyncio.gather(first, *later), WAIT)
    # One pass for the first request, one shared by the ten that came during it; the flag of
    # any of them reaches their pass.
    assert work.flags == [False, True]
    await asyncio.wait_for(passes.request(), WAIT)
    assert work.flags == [False, True, False]


async def test_a_failure_reaches_the_waiters_of_its_pass_only() -> None:
    work = Work()
    passes = CoalescedPasses(work, "test")
    work.fail_next = RuntimeError("database gone")
    first = asyncio.create_task(passes.request())
    await asyncio.wait_for(work.started.wait(), WAIT)
    second = asyncio.create_task(passes.request())
    await asyncio.sleep(0)
    work.release.set()
    with pytest.raises(RuntimeError, match="database gone"):
        await asyncio.wait_for(first, WAIT)
    await asyncio.wait_for(second, WAIT)  # the next pass worked
    assert len(work.flags) == 2


async def test_a_cancelled_waiter_does_not_stop_the_pass() -> None:
    work = Work()
    passes = CoalescedPasses(work, "test")
    gone = asyncio.create_task(passes.request())
    await asyncio.wait_for(work.started.wait(), WAIT)
    gone.cancel()
    stays = asyncio.create_task(passes.request())
    await asyncio.sleep(0)
    work.release.set()
    await asyncio.wait_for(stays, WAIT)
    assert gone.cancelled()
    assert len(work.flags) == 2


async def test_close_cancels_the_pass_and_its_waiters() -> None:
    work = Work()
    passes = CoalescedPasses(work, "test")
    running = asyncio.create_task(passes.request())
    await asyncio.wait_for(work.started.wait(), WAIT)
    queued = asyncio.create_task(passes.request())
    await asyncio.sleep(0)
    await asyncio.wait_for(passes.close(), WAIT)
    for task in (running, queued):
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, WAIT)
    work.release.set()
    await asyncio.wait_for(passes.request(), WAIT)  # usable again after a close
