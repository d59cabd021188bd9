"""The interface every local server implements, and the start/stop/status logic they share.

A service subclass says how to install itself, how to launch its server (command, env, user),
what to prepare before the first launch, how to tell it is ready, and which endpoint it offers.
Everything about PID files, ports, logs and timeouts lives here, once.
"""

import signal
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel

from localplatform import process
from localplatform.errors import PortInUseError, StartError
from localplatform.ports import find_port_owner, port_in_use
from localplatform.settings import PlatformSettings, env_var


@dataclass(frozen=True)
class Launch:
    """How to run a server in the foreground (we detach it ourselves)."""

    cmd: list[str]
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    user: str | None = None  # run as this user (PostgreSQL refuses to run as root)


@dataclass(frozen=True)
class PortSpec:
    port: int
    setting: str  # PlatformSettings field, so errors can name FALCONE_<FIELD>
    purpose: str = ""


@dataclass
class ServiceStatus:
    name: str
    running: bool
    ready: bool
    pid: int | None
    ports: list[int] = field(default_factory=list)
    detail: str = ""


class Service(ABC):
    name: ClassVar[str]
    version: ClassVar[str]
    # The key of this service's endpoint in platform.json (PlatformEndpoints), when it is not the name.
    endpoint_key: ClassVar[str | None] = None
    start_timeout: ClassVar[float] = 60.0
    stop_timeout: ClassVar[float] = 30.0
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM

    def __init__(self, settings: PlatformSettings) -> None:
        self.settings = settings

    # ----- paths -----
    @property
    def pid_file(self) -> Path:
        return self.settings.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.settings.logs_dir / f"{self.name}.log"

    @property
    def data_path(self) -> Path:
        return self.settings.data_dir / self.name

    # ----- what each service provides -----
    @abstractmethod
    def ports(self) -> list[PortSpec]: ...

    @abstractmethod
    def install(self) -> None:
        """Make the server's binaries available in the cache. Idempotent and fast when cached."""

    @abstractmethod
    def launch(self) -> Launch: ...

    @abstractmethod
    def is_ready(self) -> bool:
        """One cheap readiness probe (may raise; errors count as not ready)."""

    @abstractmethod
    def endpoint(self) -> BaseModel | None:
        """What platform.json says about this server; None for servers only other servers use."""

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """Initialise the data directory before a launch (first run: initdb, format, ...)."""

    def after_ready(self) -> None:  # noqa: B027 - optional hook
        """Provision what needs a running server (roles, users)."""

    def failure_hint(self, log_tail: str) -> str:
        """Extra advice for a server that did not become ready, judged from its log tail."""
        return ""

    # ----- shared behaviour -----
    def probe(self) -> bool:
        try:
            return self.is_ready()
        except Exception:  # any failure of a readiness probe just means "not ready yet"
            return False

    def start(self) -> str:
        """Start the server unless it is already running; returns a short human message."""
        with process.file_lock(self.settings.run_dir / f".{self.name}.lock"):
            return self._start()

    def _start(self) -> str:
        record = process.running_record(self.pid_file)
        if record is not None:
            if process.wait_for(self.probe, self.start_timeout):
                return f"already running (pid {record.pid})"
            raise StartError(
                f"{self.name}: pid {record.pid} is running but not ready after {self.start_timeout:.0f}s.\n"
                f"log tail ({self.log_file}):\n{process.log_tail(self.log_file)}\n"
                f"fix: scripts/platform stop {self.name} && scripts/platform start {self.name}"
            )
        self.check_ports()
        self.prepare()
        spec = self.launch()
        proc = process.spawn(spec.cmd, self.log_file, env=spec.env, cwd=spec.cwd, user=spec.user)
        record = process.write_pid_file(self.pid_file, proc.pid)

        ready = process.wait_for(lambda: proc.poll() is not None or self.probe(), self.start_timeout, 0.25)
        if proc.poll() is not None:
            self.pid_file.unlink(missing_ok=True)
            raise StartError(
                f"{self.name}: server exited with code {proc.returncode} while starting.\n"
                f"log tail ({self.log_file}):\n{process.log_tail(self.log_file)}"
            )
        if not ready:
            process.stop_process(record, self.stop_signal, self.stop_timeout)
            self.pid_file.unlink(missing_ok=True)
            tail = process.log_tail(self.log_file)
            hint = self.failure_hint(tail)
            raise StartError(
                f"{self.name}: not ready after {self.start_timeout:.0f}s (stopped it again).\n"
                f"log tail ({self.log_file}):\n{tail}" + (f"\nhint: {hint}" if hint else "")
            )
        self.after_ready()
        return f"started (pid {proc.pid})"

    def check_ports(self) -> None:
        for spec in self.ports():
            if not port_in_use(self.settings.host, spec.port):
                continue
            owner = find_port_owner(spec.port)
            who = owner.describe() if owner else "a process this user cannot inspect"
            purpose = f" ({spec.purpose})" if spec.purpose else ""
            raise PortInUseError(
                f"{self.name}: port {spec.port}{purpose} on {self.settings.host} is already used by {who}.\n"
                f"fix: stop that process, or pick another port with {env_var(spec.setting)}=<port>"
            )

    def stop(self) -> str:
        with process.file_lock(self.settings.run_dir / f".{self.name}.lock"):
            return self._stop()

    def _stop(self) -> str:
        record = process.running_record(self.pid_file)
        if record is None:
            return "not running"
        graceful = process.stop_process(record, self.stop_signal, self.stop_timeout)
        self.pid_file.unlink(missing_ok=True)
        if graceful:
            return f"stopped (pid {record.pid})"
        return f"killed (pid {record.pid} ignored {self.stop_signal.name} for {self.stop_timeout:.0f}s)"

    def status(self) -> ServiceStatus:
        ports = [spec.port for spec in self.ports()]
        record = process.running_record(self.pid_file)
        if record is None:
            busy = [p for p in ports if port_in_use(self.settings.host, p)]
            detail = f"stopped; port {busy[0]} is used by another process" if busy else "stopped"
            return ServiceStatus(self.name, running=False, ready=False, pid=None, ports=ports, detail=detail)
        ready = self.probe()
        detail = "ready" if ready else "running, not ready"
        return ServiceStatus(self.name, running=True, ready=ready, pid=record.pid, ports=ports, detail=detail)
