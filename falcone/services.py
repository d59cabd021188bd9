"""Falcone's own services (the automation API and the executor) as local background processes: started detached
with a PID file and a log in `.data/`, ready when their `/readyz` answers, stopped by PID."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import hvac
from psycopg.conninfo import conninfo_to_dict
from pymongo.uri_parser import parse_uri

from components.connections import Backends
from components.secrets import EXECUTOR_POLICY
from falcone.platform_stack import PlatformOutputs
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


EXECUTOR = LocalService(
    "executor", "executor", int(os.environ.get("FALCONE_EXECUTOR_PORT", "18500")), "FALCONE_EXECUTOR_"
)


def executor_environment(backends: Backends, outputs: PlatformOutputs) -> dict[str, str]:
    """The executor's settings on the local platform: the metadata as the `keys` login, a Vault token of the
    platform stack's `executor-policy` (read-only on the workspaces' subtrees; minted here from the local admin
    token, as an operator's secret store would hand one out), and where each backing server listens."""
    postgres, vault_backend, keycloak = backends.postgres, backends.vault, backends.keycloak
    minio, kafka, mongo = backends.minio, backends.kafka, backends.mongo
    if not (postgres and vault_backend and keycloak and minio and kafka and mongo):
        raise ServiceError("the executor needs every backing server of the local platform")
    vault = hvac.Client(url=vault_backend.address, token=vault_backend.token)
    auth: Any = vault.auth  # untyped in types-hvac
    created = auth.token.create(policies=[EXECUTOR_POLICY], ttl="720h", no_default_policy=True, renewable=True)
    admin = conninfo_to_dict(postgres.dsn)
    nodes = parse_uri(mongo.uri)["nodelist"]
    return {
        "FALCONE_EXECUTOR_METADATA_DSN": outputs.metadata_dsn(backends, "keys"),
        "FALCONE_EXECUTOR_VAULT_ADDRESS": vault_backend.address,
        "FALCONE_EXECUTOR_VAULT_TOKEN": str(created["auth"]["client_token"]),
        "FALCONE_EXECUTOR_VAULT_MOUNT": outputs.vault_mount,
        "FALCONE_EXECUTOR_POSTGRES_HOST": str(admin.get("host") or "127.0.0.1"),
        "FALCONE_EXECUTOR_POSTGRES_PORT": str(admin.get("port") or "5432"),
        "FALCONE_EXECUTOR_KEYCLOAK_URL": keycloak.url,
        # the server only: the executor logs in as each workspace's own user
        "FALCONE_EXECUTOR_MONGO_URL": "mongodb://" + ",".join(f"{host}:{port}" for host, port in nodes),
        "FALCONE_EXECUTOR_S3_ENDPOINT": minio.endpoint_url,
        "FALCONE_EXECUTOR_S3_REGION": minio.region,
        "FALCONE_EXECUTOR_KAFKA_BOOTSTRAP": kafka.bootstrap_servers,
        "FALCONE_EXECUTOR_KAFKA_SECURITY_PROTOCOL": kafka.security_protocol,
        "FALCONE_EXECUTOR_KAFKA_SASL_MECHANISM": kafka.sasl_mechanism,
    }


def start_executor() -> None:
    """Start the executor on the local platform unless it runs (the platform stack must exist: start the
    automation service first, it brings that stack up)."""
    if EXECUTOR.running() is not None and EXECUTOR.ready():
        return
    from automation.settings import AutomationSettings
    from falcone import platform_stack
    from falcone.platform_config import backends_from_endpoints
    from localplatform import endpoints

    settings = AutomationSettings()
    outputs = platform_stack.outputs(settings.state_dir, settings.work_dir)
    EXECUTOR.start(env=executor_environment(backends_from_endpoints(endpoints.load()), outputs))


SERVICES = {"automation": AUTOMATION, "executor": EXECUTOR}
