"""MinIO built from source (upstream is source-only) through the project-owned wrapper module
toolchain/go/minio, whose go.mod/go.sum pin the exact MinIO version. The binary is cached per
version under <cache>/tools/minio-<version>/ and never committed.
"""

import os
import shutil
from pathlib import Path

from pydantic import BaseModel

from localplatform import tools, versions
from localplatform.endpoints import MinioEndpoint
from localplatform.errors import InstallError
from localplatform.http import http_status
from localplatform.process import run_checked
from localplatform.service import Launch, PortSpec, Service
from localplatform.settings import REPO_ROOT

WRAPPER_MODULE = REPO_ROOT / "toolchain" / "go" / "minio"
# Pseudo-version v0.0.0-20260212201848-7aac2a2c5b7c -> what `minio --version` reports.
_STAMP = versions.MINIO.split("-")[1]
_COMMIT = versions.MINIO.split("-")[2]
_RELEASE_TIME = f"{_STAMP[:4]}-{_STAMP[4:6]}-{_STAMP[6:8]}T{_STAMP[8:10]}:{_STAMP[10:12]}:{_STAMP[12:14]}Z"
LDFLAGS = " ".join(
    [
        "-s -w",
        f"-X github.com/minio/minio/cmd.Version={_RELEASE_TIME}",
        f"-X github.com/minio/minio/cmd.ReleaseTag=DEVELOPMENT.{_RELEASE_TIME.replace(':', '-')}",
        f"-X github.com/minio/minio/cmd.CommitID={_COMMIT}",
        f"-X github.com/minio/minio/cmd.ShortCommitID={_COMMIT}",
    ]
)


class Minio(Service):
    name = "minio"
    version = versions.MINIO
    start_timeout = 60.0

    @property
    def tool_dir(self) -> Path:
        return self.settings.tools_dir / f"minio-{self.version}"

    @property
    def binary(self) -> Path:
        return self.tool_dir / "minio"

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.minio_port}"

    def ports(self) -> list[PortSpec]:
        return [
            PortSpec(self.settings.minio_port, "minio_port", "S3 API"),
            PortSpec(self.settings.minio_console_port, "minio_console_port", "console"),
        ]

    def install(self) -> None:
        with tools.install_lock(self.tool_dir):
            if tools.is_installed(self.tool_dir):
                return
            go = shutil.which("go")
            if go is None:
                raise InstallError(
                    "minio: building MinIO needs Go (>= the `go` line of toolchain/go/minio/go.mod), "
                    "but `go` is not on PATH.\nfix: install Go (e.g. /usr/local/go/bin) and put it on PATH"
                )
            tools.fresh_dir(self.tool_dir)
            partial = self.tool_dir / "minio.partial"
            run_checked(
                # nice: the build takes minutes of both cores and the machine is shared
                [
                    "nice",
                    "-n",
                    "10",
                    go,
                    "build",
                    "-trimpath",
                    "-ldflags",
                    LDFLAGS,
                    "-o",
                    str(partial),
                    "github.com/minio/minio",
                ],
                "go build MinIO",
                "check that the Go module proxy is reachable and serves the versions in "
                "toolchain/go/minio/go.sum (`cd toolchain/go/minio && GOTOOLCHAIN=local go mod download`)",
                env={**os.environ, "GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly"},
                cwd=WRAPPER_MODULE,
                log_path=self.log_file,
            )
            partial.rename(self.binary)
            tools.mark_installed(self.tool_dir)

    def launch(self) -> Launch:
        root = self.data_path
        return Launch(
            cmd=[
                str(self.binary),
                "server",
                str(root / "data"),
                "--address",
                f"{self.settings.host}:{self.settings.minio_port}",
                "--console-address",
                f"{self.settings.host}:{self.settings.minio_console_port}",
                "--certs-dir",
                str(root / "certs"),  # default is ~/.minio/certs; keep state in data dir
            ],
            env={
                **os.environ,
                "MINIO_ROOT_USER": self.settings.minio_root_user,
                "MINIO_ROOT_PASSWORD": self.settings.minio_root_password,
                "MINIO_UPDATE": "off",
            },
        )

    def prepare(self) -> None:
        (self.data_path / "data").mkdir(parents=True, exist_ok=True)

    def is_ready(self) -> bool:
        return http_status(f"{self.url}/minio/health/ready") == 200

    def endpoint(self) -> BaseModel:
        return MinioEndpoint(
            endpoint_url=self.url,
            console_url=f"http://{self.settings.host}:{self.settings.minio_console_port}",
            access_key=self.settings.minio_root_user,
            secret_key=self.settings.minio_root_password,
        )
