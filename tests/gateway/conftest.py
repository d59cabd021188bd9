"""The gateway in front of real services: a world like the executor suite's, of its own (tenants `g…`: the
executor suite leaves its world changed), served by an executor
process whose log the tests read, the automation service as a process, and `python -m falcone.gateway` (Envoy)
in front of both, started once per session and stopped by its process group at the end.

`client` is the gateway: the executor's isolation tests imported by test_isolation_through_gateway.py run
through it unchanged.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.automation.api import OperatorToken
from tests.automation.service import AutomationProcess
from tests.executor_world import (
    Seed,
    World,
    build_world,
    free_port,
    running_executor,
    seed_world,
    start_process,
    stop_process,
)
from tests.platform_stack_fixtures import PlatformDeployment

# The strict gateway's scale: the data plane's ceiling (the most generous plan, 60000/min, burst 15000) becomes a
# bucket of 15 requests, refilled one every 2 s.
STRICT_MULTIPLIER = 0.001


@pytest.fixture(scope="session")
def world(platform_deployment: PlatformDeployment) -> Iterator[World]:
    with build_world(platform_deployment, prefix="g") as built:
        yield built


@pytest.fixture(scope="session")
async def seed(world: World, client: httpx2.AsyncClient) -> Seed:
    return await seed_world(world, client)


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
    log = tmp_path_factory.mktemp("executor") / "executor.log"
    with running_executor(world.settings.model_copy(update={"log_level": "info"}), log) as url:
        yield ExecutorProcess(url, log)


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
        gateway = GatewayProcess(
            f"http://127.0.0.1:{port}",
            f"http://127.0.0.1:{admin_port}",
            directory / "gateway.log",
            directory / "config",
        )
        process = start_process("falcone.gateway", env, gateway.log, f"{gateway.admin_url}/ready")
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
        stop_process(process)


@pytest.fixture(scope="session")
def strict_gateway(gateways: Gateways) -> Iterator[GatewayProcess]:
    """The same routes with every bucket scaled down, so a test reaches a limit in a few requests."""
    started, process = gateways.start("strict", rate_limit_multiplier=str(STRICT_MULTIPLIER))
    try:
        yield started
    finally:
        stop_process(process)


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
