"""Falcone's own services (the automation API, the executor and the gateway in front of both) as local background
processes: started detached with a PID file and a log in `.data/`, ready when their readiness URL answers, stopped
by PID (the gateway's process group holds Envoy too)."""

from __future__ import annotations

import os
import secrets
import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import hvac
from psycopg.conninfo import conninfo_to_dict
from pymongo.uri_parser import parse_uri

from components.connections import Backends
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
    # Where readiness is asked (default: the service's own /readyz).
    ready_port: int | None = None
    ready_path: str = "/readyz"
    # Its settings on the local platform, worked out only when a process is spawned (they may mint a credential).
    environment: Callable[[], Mapping[str, str]] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ready_url(self) -> str:
        return f"http://127.0.0.1:{self.ready_port or self.port}{self.ready_path}"

    def _paths(self) -> tuple[Path, Path]:
        settings = PlatformSettings()
        return settings.run_dir / f"{self.name}.pid", settings.logs_dir / f"{self.name}.log"

    def running(self) -> process.PidRecord | None:
        pid_file, _ = self._paths()
        return process.running_record(pid_file)

    def ready(self) -> bool:
        try:
            return httpx2.get(self.ready_url, timeout=2).status_code == 200
        except httpx2.TransportError:
            return False

    def start(self, timeout: float = 300) -> None:
        """Start unless it already runs; wait until it is ready (the automation service's first start brings the
        platform stack up, which the executor and the gateway read: start them after it)."""
        pid_file, log = self._paths()
        record = self.running()
        if record is None:
            env = self.environment() if self.environment else {}
            child = process.spawn(
                [sys.executable, "-m", self.module],
                log,
                env={**os.environ, f"{self.env_prefix}PORT": str(self.port), **env},
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
    "executor",
    "executor",
    int(os.environ.get("FALCONE_EXECUTOR_PORT", "18500")),
    "FALCONE_EXECUTOR_",
    environment=lambda: executor_environment(*_platform()),
)


# Envoy, run by `python -m falcone.gateway`; ready when Envoy's admin interface says its listener is live.
GATEWAY = LocalService(
    "gateway",
    "falcone.gateway",
    int(os.environ.get("FALCONE_GATEWAY_PORT", "18600")),
    "FALCONE_GATEWAY_",
    ready_port=int(os.environ.get("FALCONE_GATEWAY_ADMIN_PORT", "18601")),
    ready_path="/ready",
    environment=lambda: gateway_environment(*_platform()),
)


def gateway_secret() -> str:
    """The secret the gateway sends with the identities it verified, and the executor checks: made once per local
    platform, kept in `.data/run/gateway-secret` (0600)."""
    path = PlatformSettings().run_dir / "gateway-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def executor_environment(backends: Backends, outputs: PlatformOutputs) -> dict[str, str]:
    """The executor's settings on the local platform: the metadata as the `keys` login, a Vault token of the
    platform stack's executor policy (read-only on the workspaces' subtrees; minted here from the local admin
    token, as an operator's secret store would hand one out), and where each backing server listens."""
    postgres, vault_backend, keycloak = backends.postgres, backends.vault, backends.keycloak
    minio, kafka, mongo = backends.minio, backends.kafka, backends.mongo
    if not (postgres and vault_backend and keycloak and minio and kafka and mongo):
        raise ServiceError("the executor needs every backing server of the local platform")
    vault = hvac.Client(url=vault_backend.address, token=vault_backend.token)
    auth: Any = vault.auth  # untyped in types-hvac
    created = auth.token.create(policies=[outputs.executor_policy], ttl="720h", no_default_policy=True, renewable=True)
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
        "FALCONE_EXECUTOR_GATEWAY_SECRET": gateway_secret(),
    }


def gateway_environment(backends: Backends, outputs: PlatformOutputs) -> dict[str, str]:
    """The gateway in front of the two local services: the registry read as the `keys` login (tenant realms),
    Keycloak for the realms' keys, the secret shared with the executor."""
    if backends.keycloak is None or backends.postgres is None:
        raise ServiceError("the gateway needs the local platform's Keycloak and PostgreSQL")
    return {
        "FALCONE_GATEWAY_AUTOMATION_URL": AUTOMATION.url,
        "FALCONE_GATEWAY_EXECUTOR_URL": EXECUTOR.url,
        "FALCONE_GATEWAY_KEYCLOAK_URL": backends.keycloak.url,
        "FALCONE_GATEWAY_PLATFORM_REALM": outputs.realm,
        "FALCONE_GATEWAY_METADATA_DSN": outputs.metadata_dsn(backends, "keys"),
        "FALCONE_GATEWAY_GATEWAY_SECRET": gateway_secret(),
        "FALCONE_GATEWAY_ADMIN_PORT": str(GATEWAY.ready_port),
        "FALCONE_GATEWAY_CONFIG_DIR": str(PlatformSettings().data_dir / "gateway"),
    }


def _platform() -> tuple[Backends, PlatformOutputs]:
    from automation.settings import AutomationSettings
    from falcone import platform_stack
    from falcone.platform_config import backends_from_endpoints
    from localplatform import endpoints

    settings = AutomationSettings()
    outputs = platform_stack.outputs(settings.state_dir, settings.work_dir)
    return backends_from_endpoints(endpoints.load()), outputs


# In start order: the gateway routes to the two others and reads the registry.
SERVICES = {"automation": AUTOMATION, "executor": EXECUTOR, "gateway": GATEWAY}
