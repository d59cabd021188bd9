"""The automation service as a real process (`python -m automation`) on the session's platform deployment:
started once per session, and killable with SIGKILL and restartable for the crash tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import pytest

from tests.platform_stack_fixtures import PlatformDeployment

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class AutomationProcess:
    deployment: PlatformDeployment
    log_path: Path
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        backends_file = self.log_path.with_name("backends.json")
        backends_file.write_text(json.dumps(self.deployment.backends.to_config()))
        backends_file.chmod(0o600)
        return {
            **os.environ,
            "FALCONE_AUTOMATION_PORT": str(self.port),
            "FALCONE_AUTOMATION_STATE_DIR": str(self.deployment.state_dir),
            "FALCONE_AUTOMATION_WORK_DIR": str(self.deployment.work_dir),
            "FALCONE_AUTOMATION_BACKENDS_FILE": str(backends_file),
            "FALCONE_AUTOMATION_STACK_SETTINGS": json.dumps(self.deployment.settings),
            "FALCONE_AUTOMATION_WORKER_ID": f"tests-{self.deployment.run}",
            "FALCONE_AUTOMATION_MAX_PARALLEL_OPERATIONS": "4",
        }

    def start(self, timeout: float = 180) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "automation"],
            cwd=REPO,
            env=self.environment(),
            stdout=log,
            stderr=log,
            start_new_session=True,  # its own process group: `kill` takes the Pulumi CLI and plugins down with it
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the automation service exited ({self.process.returncode}); see {self.log_path}")
            try:
                if httpx2.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            time.sleep(0.5)
        pytest.fail(f"the automation service was not ready in {timeout}s; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL to the service and every process it started (the Pulumi CLI, the language host, the
        providers): no shutdown code runs anywhere, exactly like a crashed node."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


@pytest.fixture(scope="session")
def automation_service(
    platform_deployment: PlatformDeployment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AutomationProcess]:
    service = AutomationProcess(platform_deployment, tmp_path_factory.mktemp("automation") / "automation.log")
    service.start()
    try:
        yield service
    finally:
        service.stop()
