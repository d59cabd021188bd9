"""Settings of the local platform: where data and caches live, ports, dev credentials.

Every field can be overridden with an environment variable named ``FALCONE_<FIELD>``
(for example ``FALCONE_POSTGRES_PORT=55433``). The credentials are development defaults for
servers that only listen on 127.0.0.1; they are written to ``<data_dir>/platform.json``.

Admin credentials are applied when a service's data is first initialised (initdb, Kafka format,
Keycloak's first boot, the first Mongo user). To change them later, stop the platform and remove
``<data_dir>/<service>`` (which throws that service's data away).
"""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "FALCONE_"


def env_var(field: str) -> str:
    """Name of the environment variable that overrides a settings field (used in error messages)."""
    return f"{ENV_PREFIX}{field.upper()}"


class PlatformSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    # Server data, logs, PID files and platform.json. Git-ignored (.data/ in .gitignore).
    data_dir: Path = REPO_ROOT / ".data"
    # Installed servers, keyed by version: <cache_dir>/tools/<name>-<version>/.
    cache_dir: Path = Path.home() / ".cache" / "falcone"
    host: str = "127.0.0.1"

    postgres_port: int = Field(default=55432, ge=1, le=65535)
    keycloak_port: int = Field(default=18080, ge=1, le=65535)
    kafka_port: int = Field(default=19092, ge=1, le=65535)
    kafka_controller_port: int = Field(default=19093, ge=1, le=65535)
    minio_port: int = Field(default=19000, ge=1, le=65535)
    minio_console_port: int = Field(default=19001, ge=1, le=65535)
    openbao_port: int = Field(default=18200, ge=1, le=65535)
    mongo_port: int = Field(default=27117, ge=1, le=65535)
    etcd_port: int = Field(default=12379, ge=1, le=65535)
    etcd_peer_port: int = Field(default=12380, ge=1, le=65535)
    kube_apiserver_port: int = Field(default=16443, ge=1, le=65535)
    kube_controller_manager_port: int = Field(default=16257, ge=1, le=65535)

    postgres_admin_user: str = "falcone_admin"
    postgres_admin_password: str = "falcone-dev-postgres"
    keycloak_admin_user: str = "admin"
    keycloak_admin_password: str = "falcone-dev-keycloak"
    # Must stay "admin": server.properties names User:admin as the Kafka super user.
    kafka_admin_user: str = "admin"
    kafka_admin_password: str = "falcone-dev-kafka"
    minio_root_user: str = "falcone-admin"
    minio_root_password: str = "falcone-dev-minio"  # MinIO wants >= 8 characters
    openbao_root_token: str = "falcone-dev-root"
    mongo_admin_user: str = "falcone_admin"
    mongo_admin_password: str = "falcone-dev-mongo"

    # JDKs: Keycloak >= 26.6 runs on Java 25; Kafka 3.9 wants Java 17 (SASL breaks on 23+).
    java17_home: Path = Path("/usr/lib/jvm/java-17-openjdk-amd64")
    java25_home: Path = Path("/usr/lib/jvm/temurin-25-jdk-amd64")

    @property
    def tools_dir(self) -> Path:
        return self.cache_dir / "tools"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def platform_file(self) -> Path:
        return self.data_dir / "platform.json"
