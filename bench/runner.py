"""What every benchmark script does around its run: progress lines on stderr, SIGTERM and Ctrl-C,
the log directory, and the ``--json`` file."""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, NoReturn


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_script(main: Callable[[], Coroutine[Any, Any, int]]) -> NoReturn:
    """Run ``main()`` and exit with its status; 130 after Ctrl-C or SIGTERM, once ``main`` has
    stopped everything it started."""
    try:
        sys.exit(asyncio.run(main()))
    except (KeyboardInterrupt, asyncio.CancelledError):
        say("interrupted; everything started was stopped")
        sys.exit(130)


def cancel_on_sigterm() -> None:
    """SIGTERM (e.g. from a CI timeout) cancels the running task like Ctrl-C does, so that its
    finally blocks still clean up."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)


def has_files(path: Path) -> bool:
    return any(path.iterdir())


def keep_or_remove(log_dir: Path, keep: bool) -> None:
    if keep:
        say(f"logs kept in {log_dir}")
    else:
        shutil.rmtree(log_dir, ignore_errors=True)


def args_json(args: argparse.Namespace) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}


def write_json(path: Path, blob: dict[str, Any]) -> None:
    path.write_text(json.dumps(blob, indent=1, default=str) + "\n")


def raise_file_limit() -> None:
    """Thousands of sockets at both ends: the servers and generators started afterwards inherit
    the raised limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < 10_000:
        say(f"open files limited to {hard}: the larger phases may be refused handshakes")
