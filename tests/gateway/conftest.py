"""The gateway in front of real services: the executor's world (tenants, workspaces, keys) served by an executor
process whose log the tests read, the automation service as a process, and `python -m falcone.gateway` (Envoy)
in front of both, started once per session and stopped by its process group at the end.

`client` is the gateway: the executor's isolation tests imported by test_isolation_through_gateway.py run
through it unchanged.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.automation.api import OperatorToken
from tests.automation.service import AutomationProcess
from tests.executor_world import World
from tests.platform_stack_fixtures import PlatformDeployment

REPO = Path(__file__).resolve().parents[2]
# The strict gateway's scale: the data plane's ceiling (the most generous plan, 60000/min, burst 15000) becomes a
# bucket of 15 requests, refilled one every 2 s.
STRICT_MULTIPLIER = 0.001


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(url: str, process: subprocess.Popen[bytes], what: str, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited ({process.returncode}); log {log}:\n{log.read_text()[-3000:]}")
        try:
            if httpx2.get(url, timeout=2).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{what} was not ready in {timeout:.0f}s; log {log}:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group (the supervisor and its Envoy), by PID; SIGKILL if it lingers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@dataclass
class ExecutorProcess:
    url: str
    log: Path

    def access_lines(self) -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in self.log.read_text().splitlines() if line.startswith("{")]
        return [line for line in lines if line.get("logger") == "executor.access"]


@pytest.fixture(scope="session")
def executor_process(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExecutorProcess]:
    """The world's executor as a process on a port of its own; its JSON log says who each request was served as."""
    port, log = free_port(), tmp_path_factory.mktemp("executor") / "executor.log"
    settings = world.settings.model_copy(update={"port": port, "log_level": "info"})
    env = {**os.environ, **settings.as_environment()}
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "executor"], cwd=REPO, env=env, stdout=output, stderr=output, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(f"{url}/readyz", process, "the executor", log)
        yield ExecutorProcess(url, log)
    finally:
        _stop(process)


@dataclass
class GatewayProcess:
    url: str
    admin_url: str
    log: Path
    config_dir: Path

    def access_lines(self) -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in self.log.read_text().splitlines() if line.startswith("{")]
        return [line for line in lines if "route" in line and "status" in line]


@dataclass
class Gateways:
    """How each test session's gateway is started (one with the catalogue's limits, one with tiny ones)."""

    world: World
    automation_url: str
    executor_url: str
    root: Path

    def start(self, name: str, **settings: str) -> tuple[GatewayProcess, subprocess.Popen[bytes]]:
        port, admin_port = free_port(), free_port()
        directory = self.root / name
        directory.mkdir()
        keycloak = self.world.deployment.backends.keycloak
        assert keycloak is not None
        assert self.world.settings.gateway_secret is not None
        env = {
            **os.environ,
            "FALCONE_GATEWAY_PORT": str(port),
            "FALCONE_GATEWAY_ADMIN_PORT": str(admin_port),
            "FALCONE_GATEWAY_AUTOMATION_URL": self.automation_url,
            "FALCONE_GATEWAY_EXECUTOR_URL": self.executor_url,
            "FALCONE_GATEWAY_KEYCLOAK_URL": keycloak.url,
            "FALCONE_GATEWAY_PLATFORM_REALM": self.world.deployment.outputs.realm,
            "FALCONE_GATEWAY_METADATA_DSN": self.world.deployment.metadata_dsn("keys"),
            "FALCONE_GATEWAY_GATEWAY_SECRET": self.world.settings.gateway_secret.get_secret_value(),
            "FALCONE_GATEWAY_CONFIG_DIR": str(directory / "config"),
            "FALCONE_GATEWAY_LOG_LEVEL": "warning",
            **{f"FALCONE_GATEWAY_{key.upper()}": value for key, value in settings.items()},
        }
        log = directory / "gateway.log"
        with log.open("ab") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "falcone.gateway"],
                cwd=REPO,
                env=env,
                stdout=output,
                stderr=output,
                start_new_session=True,  # Envoy is in its group: stopped with it
            )
        gateway = GatewayProcess(
            f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}", log, directory / "config"
        )
        _wait_ready(f"{gateway.admin_url}/ready", process, f"the {name} gateway", log)
        return gateway, process


@pytest.fixture(scope="session")
def gateways(
    world: World,
    automation_service: AutomationProcess,
    executor_process: ExecutorProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Gateways:
    return Gateways(world, automation_service.url, executor_process.url, tmp_path_factory.mktemp("gateways"))


CORS_ORIGIN = "https://app.example.test"


@pytest.fixture(scope="session")
def gateway(gateways: Gateways) -> Iterator[GatewayProcess]:
    """The catalogue's limits; the registry read every half second (the realm tests change it)."""
    started, process = gateways.start("gateway", refresh_interval_s="0.5", cors_origins=json.dumps([CORS_ORIGIN]))
    try:
        yield started
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def strict_gateway(gateways: Gateways) -> Iterator[GatewayProcess]:
    """The same routes with every bucket scaled down, so a test reaches a limit in a few requests."""
    started, process = gateways.start("strict", rate_limit_multiplier=str(STRICT_MULTIPLIER))
    try:
        yield started
    finally:
        _stop(process)


@pytest.fixture(scope="session")
async def client(gateway: GatewayProcess) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=gateway.url, timeout=30) as http:
        yield http


@pytest.fixture(scope="session")
def operator_token(platform_deployment: PlatformDeployment) -> OperatorToken:
    keycloak = platform_deployment.backends.keycloak
    assert keycloak is not None
    return OperatorToken(
        keycloak.url, platform_deployment.outputs.realm, platform_deployment.outputs.operator_client_secret
    )
