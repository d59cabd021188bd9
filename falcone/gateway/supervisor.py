"""`python -m falcone.gateway`: render the Envoy configuration, run Envoy, and keep the trusted realms in step with
the tenant registry.

The listener lives in a file of its own that Envoy watches: when a tenant appears, disappears or changes realm,
the listener is rendered again and moved into place, and Envoy swaps it in without a restart (connections of the
old one drain). Envoy is this process's child, in its process group: stopping the supervisor by its PID group
stops Envoy too, and the supervisor exits when Envoy does.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg
import structlog

from falcone.gateway import repository
from falcone.gateway.config import GatewayOptions, Trust, Upstreams, bootstrap, listener, listener_resource
from falcone.gateway.settings import GatewaySettings
from falcone.routes import catalog

log = structlog.get_logger("falcone.gateway")


class GatewayError(RuntimeError):
    pass


def options(settings: GatewaySettings) -> GatewayOptions:
    return GatewayOptions(
        gateway_secret=settings.gateway_secret.get_secret_value(),
        host=settings.host,
        port=settings.port,
        admin_port=settings.admin_port,
        rate_limit_multiplier=settings.rate_limit_multiplier,
        cors_origins=tuple(settings.cors_origins),
        jwks_cache_s=settings.jwks_cache_s,
    )


def upstreams(settings: GatewaySettings) -> Upstreams:
    return Upstreams(settings.automation_url, settings.executor_url, settings.keycloak_url)


def read_trust(settings: GatewaySettings) -> Trust:
    tenants = repository.tenant_realms(settings.metadata_dsn.get_secret_value())
    return Trust.of(settings.platform_realm, tenants)


def _write_atomically(path: Path, document: Any) -> None:
    """Write then rename: Envoy watches the directory for files moved into place and never sees half a file."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(document, indent=1))
    temporary.chmod(0o600)  # the listener holds the gateway secret
    os.replace(temporary, path)


class Supervisor:
    def __init__(self, settings: GatewaySettings) -> None:
        if not settings.gateway_secret.get_secret_value():
            raise GatewayError("FALCONE_GATEWAY_GATEWAY_SECRET is required (the executor's gateway secret)")
        if not settings.metadata_dsn.get_secret_value():
            raise GatewayError("FALCONE_GATEWAY_METADATA_DSN is required (the tenant registry names the realms)")
        self.settings = settings
        self.directory = settings.config_dir
        self.bootstrap_file = self.directory / "bootstrap.json"
        # Alone in its own directory: Envoy reloads on any file moved into the watched directory.
        self.listener_file = self.directory / "lds" / "listener.json"
        self.trust: Trust | None = None
        self._stop = threading.Event()

    def write_listener(self, trust: Trust) -> None:
        document = listener(catalog(), upstreams(self.settings), options(self.settings), trust)
        version = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:16]
        _write_atomically(self.listener_file, listener_resource(document, version))
        self.trust = trust
        log.info("gateway_listener_written", version=version, realms=sorted(trust.tenant_realms))

    def prepare(self) -> None:
        self.listener_file.parent.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        self.write_listener(read_trust(self.settings))
        document = bootstrap(upstreams(self.settings), options(self.settings), str(self.listener_file))
        _write_atomically(self.bootstrap_file, document)

    def command(self) -> list[str]:
        binary = self.settings.envoy_binary
        if binary is None:
            from localplatform import envoy

            binary = envoy.binary()
        return [
            str(binary),
            "--config-path",
            str(self.bootstrap_file),
            # Two Envoys on one machine (tests next to the local platform's) must not share hot-restart memory.
            "--disable-hot-restart",
            "--concurrency",
            "1",
            "--log-level",
            self.settings.log_level,
            "--drain-time-s",
            str(self.settings.drain_time_s),
            # The access log reaches the log file within a second (operators and tests read it).
            "--file-flush-interval-msec",
            "1000",
        ]

    def refresh(self) -> None:
        """Read the registry; a changed trust table becomes a new listener. A failed read keeps the last one."""
        try:
            trust = read_trust(self.settings)
        except psycopg.Error as error:
            log.warning("gateway_registry_unreadable", error=str(error))
            return
        if trust != self.trust:
            self.write_listener(trust)

    def stop(self, _signal: int = 0, _frame: FrameType | None = None) -> None:
        self._stop.set()

    def run(self) -> int:
        self.prepare()
        envoy = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL)
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        try:
            while not self._stop.wait(self.settings.refresh_interval_s):
                if envoy.poll() is not None:
                    log.error("gateway_envoy_exited", code=envoy.returncode)
                    return envoy.returncode or 1
                self.refresh()
            return 0
        finally:
            if envoy.poll() is None:
                envoy.terminate()
                try:
                    envoy.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    envoy.kill()
                    envoy.wait(timeout=10)
