"""The one interface through which an add-on (``bookings``, and what comes after it) attaches.

The core never imports an add-on: ``HUB_EXTENSIONS`` names the ones to load (default
``bookings``; empty for the real-time core alone), each is imported here by name, reads its own
settings, brings its own migrations, and attaches its routes, socket event handlers and
background services to the hub through a ``Host`` (``hub.host``). Its command-line commands
join ``python -m hub``.
"""

from __future__ import annotations

import abc
import argparse
import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Self

from hub.env import ConfigError

if TYPE_CHECKING:
    from hub.host import Host
    from hub.settings import Settings

EXTENSIONS_VARIABLE = "HUB_EXTENSIONS"
DEFAULT_EXTENSIONS = ("bookings",)
# An extension package exposes its class as ``<package>.extension.EXTENSION``.
ENTRY_MODULE = "extension"
ENTRY_ATTRIBUTE = "EXTENSION"


@dataclass(frozen=True, slots=True)
class DemoPerson:
    """Someone of an extension's demo data, whom the demo login signs a token for."""

    role: str  # a ``hub.auth.Role`` value
    sub: str
    name: str
    note: str = ""  # what they are in the demo ("window cleaning", "vetting pending")


@dataclass(frozen=True, slots=True)
class Command:
    """A ``python -m hub <name>`` subcommand that an extension adds."""

    name: str
    help: str
    run: Callable[[argparse.Namespace, Settings], int]
    arguments: Callable[[argparse.ArgumentParser], None] | None = None


class Extension(abc.ABC):
    """An add-on, configured from the environment (``from_env``) before the hub is built."""

    name: ClassVar[str]
    # Its ``NNNN_name.sql`` files; versions share one sequence with the core's, so an add-on's
    # version numbers never reuse one of the core's (``hub.storage.migrate`` refuses duplicates).
    migrations: ClassVar[Path | None] = None

    @classmethod
    @abc.abstractmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        """Read the extension's own ``HUB_*`` variables; raise ``ConfigError`` naming a bad one."""

    @abc.abstractmethod
    def attach(self, host: Host) -> None:
        """Register routes, socket event handlers, outbox subscribers and services on ``host``.
        Called once while the app is built, before anything runs."""

    @classmethod
    def commands(cls) -> Sequence[Command]:
        """Subcommands for ``python -m hub``; none by default."""
        return ()

    @classmethod
    def demo_env(cls) -> Mapping[str, str]:
        """``HUB_*`` variables ``python -m hub demo`` sets when the environment does not: what makes
        the extension comfortable to try by hand (longer deadlines, sandboxes). None by default."""
        return {}

    def demo_people(self) -> Sequence[DemoPerson]:
        """The people of the extension's demo data, offered by the demo login; none by default.
        In demo mode (``Settings.demo_mode``) the extension loads that data itself at start-up."""
        return ()


def names_from_env(env: Mapping[str, str]) -> tuple[str, ...]:
    """``HUB_EXTENSIONS``: unset means the default set, set but empty means none."""
    raw = env.get(EXTENSIONS_VARIABLE)
    if raw is None:
        return DEFAULT_EXTENSIONS
    names = tuple(part.strip() for part in raw.split(",") if part.strip())
    if len(set(names)) != len(names):
        raise ConfigError(EXTENSIONS_VARIABLE, "an extension is named twice")
    return names


def load(names: Sequence[str]) -> tuple[type[Extension], ...]:
    """Import each named extension's class (``<name>.extension.EXTENSION``)."""
    return tuple(_load_one(name) for name in names)


def _load_one(name: str) -> type[Extension]:
    if not name.isidentifier():
        raise ConfigError(EXTENSIONS_VARIABLE, f"{name!r} is not a package name")
    try:
        module = importlib.import_module(f"{name}.{ENTRY_MODULE}")
    except ModuleNotFoundError as exc:
        if exc.name not in (name, f"{name}.{ENTRY_MODULE}"):
            raise  # a bug inside the extension: its own traceback says more than a config error
        raise ConfigError(EXTENSIONS_VARIABLE, f"no extension named {name!r} is installed") from None
    kind = getattr(module, ENTRY_ATTRIBUTE, None)
    if not (isinstance(kind, type) and issubclass(kind, Extension)):
        raise ConfigError(
            EXTENSIONS_VARIABLE, f"{name}.{ENTRY_MODULE}.{ENTRY_ATTRIBUTE} is not a hub Extension class"
        )
    return kind


def configure(env: Mapping[str, str]) -> tuple[Extension, ...]:
    """The extensions ``HUB_EXTENSIONS`` names, each configured from ``env``."""
    return tuple(kind.from_env(env) for kind in load(names_from_env(env)))
