"""etcd from Debian's `etcd-server` package: the Kubernetes API server's storage, one member on the loopback.

The package installs a systemd unit; the local platform never uses it (it runs its own member with its data in
`.data/etcd`), and a container's policy-rc.d keeps the package from starting one.
"""

import os
from pathlib import Path

from pydantic import BaseModel

from localplatform import versions
from localplatform.errors import InstallError
from localplatform.http import http_status
from localplatform.process import run_checked
from localplatform.service import Launch, PortSpec, Service

BINARY = Path("/usr/bin/etcd")


class Etcd(Service):
    name = "etcd"
    version = versions.ETCD
    start_timeout = 30.0

    @property
    def client_url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.etcd_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.etcd_peer_port}"

    def ports(self) -> list[PortSpec]:
        return [
            PortSpec(self.settings.etcd_port, "etcd_port", "client"),
            PortSpec(self.settings.etcd_peer_port, "etcd_peer_port", "peer"),
        ]

    def install(self) -> None:
        if BINARY.exists():
            return
        if os.geteuid() != 0:
            raise InstallError(
                f"etcd: {BINARY} is missing and installing it needs root.\nfix: sudo apt-get install -y etcd-server"
            )
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        fix = "check that the Debian mirror is reachable (apt-get update), then run the command again"
        run_checked(["apt-get", "update"], "apt-get update", fix, env=env, log_path=self.log_file)
        run_checked(
            ["apt-get", "install", "-y", "--no-install-recommends", "etcd-server"],
            "install etcd-server",
            fix,
            env=env,
            log_path=self.log_file,
        )

    def prepare(self) -> None:
        self.data_path.mkdir(mode=0o700, parents=True, exist_ok=True)

    def launch(self) -> Launch:
        return Launch(
            cmd=[
                str(BINARY),
                "--name",
                "falcone",
                "--data-dir",
                str(self.data_path / "member"),
                "--listen-client-urls",
                self.client_url,
                "--advertise-client-urls",
                self.client_url,
                "--listen-peer-urls",
                self.peer_url,
                "--initial-advertise-peer-urls",
                self.peer_url,
                "--initial-cluster",
                f"falcone={self.peer_url}",
                # The API server compacts history itself; keep etcd's own database small on a long-lived laptop.
                "--auto-compaction-retention",
                "1h",
                "--quota-backend-bytes",
                str(2 * 1024**3),
            ],
            # etcd reads every flag from an ETCD_* variable too: the caller's must not reconfigure our member.
            env={key: value for key, value in os.environ.items() if not key.startswith("ETCD_")},
        )

    def is_ready(self) -> bool:
        return http_status(f"{self.client_url}/health") == 200

    def endpoint(self) -> BaseModel | None:
        return None  # only the API server talks to etcd
