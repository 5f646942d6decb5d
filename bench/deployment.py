"""The server side of one run: its own database, the hub process(es) on it with the environment they
share, the tokens those hubs accept, and taking it all down again."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import hubproc
from runner import say

from hub.auth import Role, issue_token
from hub.settings import Settings

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"  # --pg-admin
TOKEN_TTL = 6 * 3600  # only checked at connect time; generous for long runs


@dataclass
class Deployment:
    admin_dsn: str  # the server where the run's database is created (--pg-admin)
    log_dir: Path
    dsn: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    nodes: list[hubproc.HubNode] = field(default_factory=list)
    log_problems: dict[str, list[str]] = field(default_factory=dict)  # node name -> WARNING and above
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    _settings: Settings | None = None

    async def create_database(self, hub_env: dict[str, str]) -> str:
        """A fresh database ``hub_bench_<random>``, and the hubs' environment: the stock settings
        plus ``hub_env``, with a random JWT secret and none of the caller's HUB_* variables."""
        self.dsn = await hubproc.create_database(self.admin_dsn)
        self.env = hubproc.clean_environ() | {
            "HUB_DATABASE_URL": self.dsn,
            "HUB_JWT_SECRET": secrets.token_hex(32),
            "HUB_LOG_LEVEL": "WARNING",
            # The load generators connect thousands of sockets from one address at once.
            "HUB_SOCKET_CONNECTS_PER_ADDRESS": "100000",
            "HUB_SOCKET_MAX_PENDING_PER_ADDRESS": "100000",
            "HUB_DATA_DIR": str(self.log_dir / "var"),
            **hub_env,
        }
        return self.dsn

    @property
    def database_name(self) -> str:
        assert self.dsn is not None
        return self.dsn.rsplit("/", 1)[-1]

    async def start_hubs(self, names: Iterable[str]) -> None:
        for name in names:
            self.nodes.append(await hubproc.start_hub(name, self.env, self.log_dir))

    def token(self, role: Role, sub: str) -> str:
        if self._settings is None:
            self._settings = Settings.from_env(self.env)
        return issue_token(self._settings, role=role, sub=sub, ttl_seconds=TOKEN_TTL)

    async def stop(self) -> None:
        """The hubs (SIGTERM, then SIGKILL), then the database; each step bounded in time and run
        even when an earlier one failed. Their logs are read first (``log_problems``)."""
        for node in self.nodes:
            self.log_problems[node.name] = node.log_problems()
            with contextlib.suppress(Exception):
                self.exit_codes[node.name] = await hubproc.terminate(node.process)
        if self.dsn is not None:
            try:
                await hubproc.drop_database(self.admin_dsn, self.dsn)
            except Exception as exc:
                say(f"could not drop {self.dsn}: {exc!r}")
