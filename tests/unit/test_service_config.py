"""Pure configuration logic of the services (no servers started)."""

import re
import tempfile
from pathlib import Path

from localplatform import platform, versions
from localplatform.kafka import Kafka, _kafka_uuid
from localplatform.minio import LDFLAGS, WRAPPER_MODULE
from localplatform.postgres import FALLBACK_ROOT, Postgres
from localplatform.settings import REPO_ROOT, PlatformSettings


def test_kafka_server_properties_enforce_sasl_and_acls(tmp_path: Path) -> None:
    props = dict(
        line.split("=", 1)
        for line in Kafka(PlatformSettings(data_dir=tmp_path, kafka_port=29092)).server_properties().splitlines()
    )
    assert props["listeners"] == "SASL_PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:19093"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-256"
    assert props["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert "User:admin" in props["super.users"].split(";")
    assert props["log.dirs"] == str(tmp_path / "kafka" / "data")


def test_kafka_cluster_id_format() -> None:
    for _ in range(200):
        cluster_id = _kafka_uuid()
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id)
        assert not cluster_id.startswith("-")


def test_pinned_versions_match_toolchain_files() -> None:
    pom = (REPO_ROOT / "toolchain" / "maven" / "kafka" / "pom.xml").read_text()
    assert f"<kafka.version>{versions.KAFKA}</kafka.version>" in pom
    go_mod = (WRAPPER_MODULE / "go.mod").read_text()
    assert f"github.com/minio/minio {versions.MINIO}" in go_mod
    assert "cmd.Version=2026-02-12T20:18:48Z" in LDFLAGS


def test_service_order_starts_keycloak_first() -> None:
    assert platform.SERVICE_NAMES[0] == "keycloak"
    assert set(platform.SERVICE_NAMES) == {
        "keycloak",
        "postgres",
        "kafka",
        "minio",
        "openbao",
        "mongo",
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
    }


def test_postgres_data_moves_out_of_a_directory_the_postgres_user_cannot_reach(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    postgres = Postgres(PlatformSettings(data_dir=private / ".data"))
    assert postgres.data_path.parent.parent == FALLBACK_ROOT
    # positive control: under a directory everybody may traverse, the data stays in the data dir
    shared = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        shared.chmod(0o755)
        assert Postgres(PlatformSettings(data_dir=shared / ".data")).data_path == shared / ".data" / "postgres"
    finally:
        shared.rmdir()
