"""bench/compare.py, the hub beside the Node.js reference: its pure pieces (verdicts, medians,
ratios, the table), and a tiny run of both servers through every phase."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.services import ADMIN_DSN, IN_CI, require_service

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))  # the bench modules import each other by plain name

import compare_results as results  # noqa: E402


def reply(**changes: Any) -> dict[str, Any]:
    """A generator's answer to ``run``: 10 messages sent, all acked and delivered."""
    base: dict[str, Any] = {
        "sent": 10,
        "e2e_ms": [float(v) for v in range(1, 11)],
        "ack_ms": [1.0] * 10,
        "lag_ms": [0.5] * 10,
        "errors": {},
        "warmup_errors": {},
        "lost": 0,
        "backlog": 0,
        "stray": 0,
        "misrouted": 0,
        "duplicates": 0,
        "disconnects": 0,
    }
    return base | changes


CPU = {"server": 0.02, "postgres": 0.01, "generator": 0.5, "untracked": 0.0, "wall": 2.0}


def test_a_step_reads_cpu_per_message_and_keeps_up_when_everything_arrived() -> None:
    step = results.step_result(100.0, reply(), CPU, p99_limit_ms=250.0)
    assert step["server_us_per_msg"] == pytest.approx(2000.0)
    assert step["postgres_us_per_msg"] == pytest.approx(1000.0)
    assert step["generator_pct"] == pytest.approx(25.0)
    assert (step["e2e_p50"], step["e2e_p99"]) == (5.0, 10.0)
    assert (step["kept_up"], step["verdict"]) == (True, "kept up")


@pytest.mark.parametrize(
    ("changes", "verdict"),
    [
        ({"lost": 3}, "3 lost"),
        ({"backlog": 40}, "backlog 40"),
        ({"errors": {"db_unavailable": 2}}, "errors {'db_unavailable': 2}"),
        ({"warmup_errors": {"rate_limited": 1}}, "errors {'warm-up rate_limited': 1}"),
        ({"misrouted": 1}, "errors {'misrouted': 1}"),
        ({"disconnects": 2}, "errors {'disconnects': 2}"),
        ({"lag_ms": [500.0] * 10}, "generator behind (lag p99 500 ms)"),
        ({"e2e_ms": [300.0] * 10}, "e2e p99 300 ms > 250 ms"),
        ({"sent": 0, "e2e_ms": [], "ack_ms": [], "lag_ms": []}, "nothing sent"),
    ],
)
def test_a_step_that_lost_queued_failed_or_lagged_did_not_keep_up(
    changes: dict[str, Any], verdict: str
) -> None:
    step = results.step_result(100.0, reply(**changes), CPU, p99_limit_ms=250.0)
    assert (step["kept_up"], step["verdict"]) == (False, verdict)


def test_saturation_is_the_last_rate_before_the_first_that_did_not_keep_up() -> None:
    steps = [
        {"rate": 200.0, "kept_up": True},
        {"rate": 400.0, "kept_up": True},
        {"rate": 600.0, "kept_up": False},
        {"rate": 800.0, "kept_up": True},  # not reached in a real run; never counts
    ]
    assert results.highest_kept_up(steps) == 400.0
    assert results.highest_kept_up([{"rate": 200.0, "kept_up": False}]) == 0.0
    assert results.highest_kept_up([]) is None


def test_medians_skip_what_a_run_lacks() -> None:
    runs: list[dict[str, float | None]] = [
        {"a": 3.0, "b": None, "c": 1.0},
        {"a": 1.0, "b": None, "c": math.nan},
        {"a": 2.0, "b": None},
    ]
    assert results.medians(runs) == {"a": 2.0, "b": None, "c": 1.0}
    assert results.medians([{"a": 1.0}, {"a": 4.0}]) == {"a": 2.5}


def test_ratio_and_the_better_side_follow_each_figures_direction() -> None:
    cpu = results.Figure("cpu", "CPU")
    rate = results.Figure("rate", "rate", higher_is_better=True)
    assert results.ratio(3.0, 2.0) == 1.5
    assert results.ratio(None, 2.0) is None
    assert results.ratio(1.0, 0.0) is None
    assert results.better(cpu, 3.0, 2.0) == "reference"
    assert results.better(rate, 3.0, 2.0) == "hub"
    assert results.better(rate, 2.0, 2.0) == ""
    assert results.better(cpu, None, 2.0) == ""


def test_the_table_has_a_row_per_figure_with_both_sides_and_their_ratio() -> None:
    hub = {"idle_kib_per_socket": 40.0, "saturation": 800.0}
    reference = {"idle_kib_per_socket": 20.0, "saturation": 1600.0}
    lines = results.table([200.0], hub, reference)
    assert len(lines) == 1 + len(results.figures([200.0]))
    memory = next(line for line in lines if line.startswith("idle memory per socket"))
    assert memory.split()[-4:] == ["40", "20", "2.00", "reference"]
    saturation = next(line for line in lines if line.startswith("saturation"))
    assert saturation.split()[-4:] == ["800", "1,600", "0.50", "reference"]
    missing = next(line for line in lines if line.startswith("fan-out: deliveries/s"))
    assert missing.split()[-2:] == ["n/a", "n/a"]


def node_modules() -> None:
    """The reference's packages, from ``npm ci`` in bench/reference (.ci/run does it)."""
    if shutil.which("node") is None or not (BENCH / "reference" / "node_modules" / "socket.io").is_dir():
        message = "run `npm ci` in bench/reference (Node.js and its packages are needed)"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.mark.timeout(240)
def test_a_tiny_run_of_both_servers_goes_through_every_phase(tmp_path: Path) -> None:
    node_modules()
    require_service("PostgreSQL", ADMIN_DSN, 5432)
    out = tmp_path / "compare.json"
    tiny = "--runs 1 --idle-sockets 20 --customers 10 --agents 2 --rates 20 --duration 1 --warmup 0"
    tiny += " --drain 10 --steps 40 --sat-duration 1 --sat-warmup 0 --fanout-room 10"
    tiny += " --fanout-broadcasts 4 --fanout-triggers 1 --settle 0.5"
    command = [
        sys.executable,
        str(BENCH / "compare.py"),
        *tiny.split(),
        "--pg-admin",
        ADMIN_DSN,
        "--json",
        str(out),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=200, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(out.read_text())
    run = found["runs"][0]
    assert set(run) == {"hub", "reference"}
    for kind, side in run.items():
        assert side["idle"]["sockets"] == 20, kind
        assert side["open"]["conversations"] == 10, (kind, side["open"])
        chat = side["steps"][0]
        assert chat["sent"] == 20, (kind, chat)
        assert (chat["lost"], chat["errors"]) == (0, 0), (kind, chat)
        fan = side["fanout"]
        assert (fan["delivered"], fan["lost"], fan["errors"]) == (40, 0, {}), (kind, fan)
        assert side["server_log"] == [], (kind, side["server_log"])
    for kind in ("hub", "reference"):
        medians = found["medians"][kind]
        assert medians["chat20_server_us"] > 0, (kind, medians)
        assert medians["idle_kib_per_socket"] is not None, (kind, medians)
    assert "hub/ref" in done.stdout
