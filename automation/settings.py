"""The automation service's settings, from the environment (FALCONE_AUTOMATION_*)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from components.connections import Backends
from falcone.platform_config import backends_from_endpoints
from localplatform import endpoints
from localplatform.settings import PlatformSettings


def _data_dir() -> Path:
    return PlatformSettings().data_dir / "automation"


class AutomationSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FALCONE_AUTOMATION_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=18400, ge=1, le=65535)
    # Seed 003: 512 KB for admin APIs, 1 MB for provisioning requests.
    max_body_bytes: int = Field(default=512 * 1024, ge=1024)
    log_level: str = "info"

    # Where the Pulumi state (file backend) and the per-stack project directories live.
    state_dir: Path = Field(default_factory=lambda: _data_dir() / "state")
    work_dir: Path = Field(default_factory=lambda: _data_dir() / "work")
    # Admin connections of the backing servers (JSON, components.connections.Backends); default: the local platform.
    backends_file: Path | None = None
    # `falcone:*` config every stack gets (platformRealm, rolePrefix, kafkaRevokeOnly, renderDir, ...).
    stack_settings: dict[str, str] = Field(default_factory=dict)
    max_parallel_operations: int = Field(default=2, ge=1, le=64)
    # Names this instance's operations: a restarted instance recovers its own interrupted operations at once.
    worker_id: str = Field(default_factory=socket.gethostname)

    def backends(self) -> Backends:
        if self.backends_file is not None:
            return Backends.from_config(json.loads(self.backends_file.read_text()))
        return backends_from_endpoints(endpoints.load())

    def effective_stack_settings(self) -> dict[str, str]:
        defaults = {"renderDir": str(self.work_dir.parent / "rendered")}
        if self.backends_file is None:
            # The local platform's Kafka stops accepting SCRAM logins after a user is deleted
            # (tests/platform/test_kafka_scram_restart.py): its stacks revoke users instead.
            defaults["kafkaRevokeOnly"] = "true"
        return {**defaults, **self.stack_settings}
