"""The fault-injection soak, short: every fault once, a few people, about a minute. The long run is
``python -m tests.soak`` (see docs/scaling.md)."""

from __future__ import annotations

from pathlib import Path

from tests.soak.run import Plan, soak
from tests.support.services import REDIS_URL, require_service


async def test_nothing_acknowledged_is_lost_or_doubled_through_every_fault(tmp_path: Path) -> None:
    require_service("Redis", REDIS_URL, 6379)  # redis-server must be installed: the soak runs its own
    report = await soak(tmp_path, Plan())
    print(report.text())
    assert report.messages_acked > 100, report.text()
    assert report.bookings["completed"] == Plan().bookings, report.text()
    assert report.console_owed > 0, report.text()  # the console stream was reconciled, not empty
    assert report.work_items > 0, report.text()  # arrivals off site opened items the agents worked
    assert report.clean, report.text()
