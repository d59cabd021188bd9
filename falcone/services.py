"""Falcone's own services (the automation API, later the executor) as local background processes: started
detached with a PID file and a log in `.data/`, ready when their `/readyz` answers, stopped by PID."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx2

from localplatform import process
from localplatform.settings import PlatformSettings


class ServiceError(RuntimeError):
    pass


@dataclass(frozen=True)
class LocalService:
    name: str
    module: str
    port: int
    # The environment variable prefix of its settings (pydantic-settings).
    env_prefix: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _paths(self) -> tuple[Path, Path]:
        settings = PlatformSettings()
        return settings.run_dir / f"{self.name}.pid", settings.logs_dir / f"{self.name}.log"

    def running(self) -> process.PidRecord | None:
        pid_file, _ = self._paths()
        return process.running_record(pid_file)

    def ready(self) -> bool:
        try:
            return httpx2.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except httpx2.TransportError:
            return False

    def start(self, env: Mapping[str, str] | None = None, timeout: float = 300) -> None:
        """Start unless it already runs; wait until it is ready (its first start brings the platform stack up)."""
        pid_file, log = self._paths()
        record = self.running()
        if record is None:
            child = process.spawn(
                [sys.executable, "-m", self.module],
                log,
                env={**os.environ, f"{self.env_prefix}PORT": str(self.port), **(env or {})},
            )
            record = process.write_pid_file(pid_file, child.pid)
        if not process.wait_for(lambda: self.ready() or not process.is_alive(record), timeout, interval=0.5):
            raise ServiceError(f"{self.name} was not ready in {timeout:.0f}s; log: {log}")
        if not self.ready():
            raise ServiceError(f"{self.name} exited; log: {log}\n{process.log_tail(log)}")

    def stop(self) -> bool:
        pid_file, _ = self._paths()
        record = self.running()
        if record is None:
            return False
        process.stop_process(record, signal.SIGTERM, timeout=60)
        pid_file.unlink(missing_ok=True)
        return True


AUTOMATION = LocalService(
    "automation", "automation", int(os.environ.get("FALCONE_AUTOMATION_PORT", "18400")), "FALCONE_AUTOMATION_"
)
