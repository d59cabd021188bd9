"""Typed view of ``<data_dir>/platform.json``: where each running server listens and how to log in.

``scripts/platform start`` writes the file; tests and the product read it with :func:`load`.
"""

import os
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict

from localplatform.settings import PlatformSettings


class _Endpoint(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PostgresEndpoint(_Endpoint):
    host: str
    port: int
    admin_user: str
    admin_password: str
    database: str = "postgres"

    @property
    def dsn(self) -> str:
        user, password = quote(self.admin_user, safe=""), quote(self.admin_password, safe="")
        return f"postgresql://{user}:{password}@{self.host}:{self.port}/{self.database}"


class KeycloakEndpoint(_Endpoint):
    url: str
    admin_user: str
    admin_password: str
    admin_realm: str = "master"
    admin_client_id: str = "admin-cli"


class KafkaEndpoint(_Endpoint):
    bootstrap_servers: str
    security_protocol: str = "SASL_PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-256"
    admin_user: str
    admin_password: str


class MinioEndpoint(_Endpoint):
    endpoint_url: str
    console_url: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"

    @property
    def host_port(self) -> str:
        """`host:port` form wanted by the minio SDK (it takes the scheme as a flag)."""
        return self.endpoint_url.split("://", 1)[1]


class OpenBaoEndpoint(_Endpoint):
    url: str
    root_token: str


class MongoEndpoint(_Endpoint):
    host: str
    port: int
    admin_user: str
    admin_password: str
    auth_source: str = "admin"

    @property
    def uri(self) -> str:
        user, password = quote(self.admin_user, safe=""), quote(self.admin_password, safe="")
        return f"mongodb://{user}:{password}@{self.host}:{self.port}/?authSource={self.auth_source}"


class KubernetesEndpoint(_Endpoint):
    """The API server and files of its admin credential (a client certificate in `system:masters`)."""

    server: str
    ca_file: Path
    client_certificate_file: Path
    client_key_file: Path
    kubeconfig: Path  # the same credential as a kubeconfig, for kubectl and the Kubernetes provider


class PlatformEndpoints(_Endpoint):
    written_at: datetime
    postgres: PostgresEndpoint | None = None
    keycloak: KeycloakEndpoint | None = None
    kafka: KafkaEndpoint | None = None
    minio: MinioEndpoint | None = None
    openbao: OpenBaoEndpoint | None = None
    mongo: MongoEndpoint | None = None
    kubernetes: KubernetesEndpoint | None = None


def load(path: Path | None = None) -> PlatformEndpoints:
    """Read platform.json (default: the one in the configured data dir).

    Raises FileNotFoundError when the platform was never started.
    """
    path = path if path is not None else PlatformSettings().platform_file
    return PlatformEndpoints.model_validate_json(path.read_text())


def save(endpoints: PlatformEndpoints, path: Path) -> None:
    """Write platform.json atomically (readers never see a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".json.{os.getpid()}.tmp")  # two CLIs may write at once
    tmp.write_text(endpoints.model_dump_json(indent=2, exclude_none=True) + "\n")
    tmp.chmod(0o600)  # it holds the admin credentials
    tmp.replace(path)
