"""Start, stop and inspect several services at once, and keep platform.json up to date."""

import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from localplatform import endpoints, process
from localplatform.errors import PlatformError
from localplatform.etcd import Etcd
from localplatform.kafka import Kafka
from localplatform.keycloak import Keycloak
from localplatform.kube_apiserver import KubeApiServer, KubeControllerManager
from localplatform.minio import Minio
from localplatform.mongo import Mongo
from localplatform.openbao import OpenBao
from localplatform.postgres import Postgres
from localplatform.service import Service, ServiceStatus
from localplatform.settings import PlatformSettings

# Keycloak first: it is by far the slowest to boot, so it gets a head start while the others
# install and start in parallel. The Kubernetes control plane starts in parallel too; each of its parts waits for
# the one it needs (etcd <- kube-apiserver <- kube-controller-manager), and stopping goes in reverse order.
SERVICES: dict[str, type[Service]] = {
    cls.name: cls
    for cls in (Keycloak, Postgres, Kafka, Minio, OpenBao, Mongo, Etcd, KubeApiServer, KubeControllerManager)
}
SERVICE_NAMES: tuple[str, ...] = tuple(SERVICES)

Reporter = Callable[[str, str], None]  # (service name, message)


@dataclass
class Outcome:
    name: str
    ok: bool
    message: str
    install_seconds: float = 0.0
    start_seconds: float = 0.0


def select(names: Sequence[str], settings: PlatformSettings) -> list[Service]:
    """Service objects for `names` (all when empty), in the canonical order."""
    unknown = [n for n in names if n not in SERVICES]
    if unknown:
        raise PlatformError(f"unknown service(s): {', '.join(unknown)}; choose from {', '.join(SERVICE_NAMES)}")
    wanted = set(names) or set(SERVICE_NAMES)
    return [cls(settings) for name, cls in SERVICES.items() if name in wanted]


def _guarded(name: str, step: Callable[[], Any]) -> tuple[bool, str]:
    try:
        result = step()
    except PlatformError as err:
        return False, str(err)
    except Exception:  # a bug, not a setup problem: keep the traceback
        return False, f"unexpected error in {name}:\n{traceback.format_exc()}"
    return True, str(result or "")


def install_and_start(service: Service, report: Reporter) -> Outcome:
    t0 = time.monotonic()
    report(service.name, "installing")
    ok, message = _guarded(service.name, service.install)
    t1 = time.monotonic()
    if not ok:
        return Outcome(service.name, False, message, install_seconds=t1 - t0)
    report(service.name, f"installed ({t1 - t0:.1f}s), starting")
    ok, message = _guarded(service.name, service.start)
    t2 = time.monotonic()
    return Outcome(service.name, ok, message, install_seconds=t1 - t0, start_seconds=t2 - t1)


def start(settings: PlatformSettings, names: Sequence[str], report: Reporter) -> list[Outcome]:
    services = select(names, settings)
    for directory in (settings.data_dir, settings.logs_dir, settings.run_dir):
        directory.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=len(services), thread_name_prefix="platform") as pool:
        futures = [pool.submit(install_and_start, svc, report) for svc in services]
        outcomes = [f.result() for f in futures]
    write_platform_file(settings)
    return outcomes


def install(settings: PlatformSettings, names: Sequence[str]) -> list[Outcome]:
    services = select(names, settings)

    def one(svc: Service) -> Outcome:
        t0 = time.monotonic()
        ok, message = _guarded(svc.name, svc.install)
        return Outcome(svc.name, ok, message or "installed", install_seconds=time.monotonic() - t0)

    with ThreadPoolExecutor(max_workers=len(services), thread_name_prefix="install") as pool:
        return list(pool.map(one, services))


def stop(settings: PlatformSettings, names: Sequence[str]) -> list[Outcome]:
    # Reverse order, one at a time: stopping is quick and this keeps the output readable.
    outcomes = []
    for svc in reversed(select(names, settings)):
        t0 = time.monotonic()
        ok, message = _guarded(svc.name, svc.stop)
        outcomes.append(Outcome(svc.name, ok, message, start_seconds=time.monotonic() - t0))
    write_platform_file(settings)
    return outcomes


def status(settings: PlatformSettings, names: Sequence[str]) -> list[ServiceStatus]:
    services = select(names, settings)
    with ThreadPoolExecutor(max_workers=len(services), thread_name_prefix="status") as pool:
        return list(pool.map(lambda svc: svc.status(), services))


def write_platform_file(settings: PlatformSettings) -> None:
    """Describe every service whose process is running; remove the file when none is."""
    found: dict[str, Any] = {}
    for name, cls in SERVICES.items():
        svc = cls(settings)
        if process.running_record(svc.pid_file) is not None and (endpoint := svc.endpoint()) is not None:
            found[svc.endpoint_key or name] = endpoint
    path = settings.platform_file
    if not found:
        path.unlink(missing_ok=True)
        return
    endpoints.save(endpoints.PlatformEndpoints(written_at=datetime.now(UTC), **found), path)
