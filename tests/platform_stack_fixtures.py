"""A session's own `platform` stack (unique realm, role prefix and databases), migrated, shared by the tests of
the services (automation, executor). Destroyed at the end of the session."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import pytest
from pulumi import automation as auto

from components.connections import Backends
from falcone import platform_stack
from falcone.platform_stack import PlatformOutputs
from falcone.toolchain import Toolchain


@dataclass(frozen=True)
class PlatformDeployment:
    run: str
    backends: Backends
    state_dir: Path
    work_dir: Path
    render_dir: Path
    settings: dict[str, str]  # the `falcone:*` config every stack of this deployment gets
    outputs: PlatformOutputs

    def metadata_dsn(self, login: str) -> str:
        return self.outputs.metadata_dsn(self.backends, login)


def deployment_settings(run: str, render_dir: Path) -> dict[str, str]:
    return {
        "platformRealm": f"plat-{run}",
        "sharedBucket": f"flc-shared-{run}",
        "rolePrefix": f"plat{run}",
        "metadataDatabase": f"falcone_platform_{run}",
        "tenantDatabase": f"falcone_tenants_{run}",
        "auditTopic": f"falcone.platform.audit.{run}",
        # The local Kafka loses SCRAM logins after a user is deleted (tests/platform/test_kafka_scram_restart.py).
        "kafkaRevokeOnly": "true",
        "renderDir": str(render_dir),
        "devPasswordGrant": "true",  # the password-grant client in-falcone-cli: tests log users in
    }


@pytest.fixture(scope="session")
def platform_deployment(
    toolchain: Toolchain, backends: Backends, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PlatformDeployment]:
    _ = toolchain
    run = uuid4().hex[:6]
    root = tmp_path_factory.mktemp("platform-deployment")
    state_dir, work_dir, render_dir = root / "state", root / "work", root / "rendered"
    settings = deployment_settings(run, render_dir)
    outputs = platform_stack.ensure(backends, state_dir, work_dir, settings, on_output=lambda _line: None)
    yield PlatformDeployment(run, backends, state_dir, work_dir, render_dir, settings, outputs)
    try:
        platform_stack.destroy(backends, state_dir, work_dir, on_output=lambda _line: None)
    except auto.CommandError as error:  # tenants a failed test left behind keep roles alive; say so, do not fail
        warnings.warn(f"platform stack of run {run} not destroyed: {str(error)[-500:]}", stacklevel=1)
