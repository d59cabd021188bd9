"""The README's main job: the demo stack, run through the project's program (language host and all)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx2
import hvac
import psycopg
import pytest
import yaml
from kafka import KafkaAdminClient
from minio import Minio
from pulumi import automation as auto
from pymongo import MongoClient

from components.connections import Backends, KafkaConnection, MinioConnection, MongoConnection, VaultConnection
from falcone import pulumi_runner
from falcone.toolchain import Toolchain

pytestmark = [pytest.mark.platform, pytest.mark.toolchain]


def _quiet(_line: str) -> None:
    """Engine output is kept in the CommandError if something fails."""


def test_demo_stack_up_is_clean_on_refresh_and_destroys_everything(
    toolchain: Toolchain, backends: Backends, backend_dir: Path, project_dir: Path, tmp_path: Path
) -> None:
    _ = toolchain
    assert backends.postgres is not None
    name = f"demo-{uuid4().hex[:6]}"
    stack = pulumi_runner.project_stack(name, backend_dir, work_dir=project_dir)
    pulumi_runner.configure(stack, backends, renderDir=str(tmp_path / "rendered"))
    snake = f"falcone_{name}".replace("-", "_")
    try:
        outputs = stack.up(on_output=_quiet).outputs
        assert outputs["postgres_schema"].value == snake
        with psycopg.connect(backends.postgres.dsn) as connection:
            row = connection.execute(
                "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = %s", (snake,)
            ).fetchone()
        assert row == (f"{snake}_runtime",)
        assert backends.keycloak is not None
        assert httpx2.get(_discovery(backends, name)).status_code == 200
        assert backends.kafka is not None
        assert f"falcone-{name}.events" in _topics(backends.kafka)
        assert backends.minio is not None
        assert _minio(backends.minio).bucket_exists(f"falcone-{name}")
        assert f"falcone-{name}/" in _vault_mounts(backends.vault)
        assert snake in _mongo(backends.mongo).list_database_names()
        rendered = [
            doc for path in (tmp_path / "rendered").rglob("*.yaml") for doc in yaml.safe_load_all(path.read_text())
        ]
        assert {doc["kind"] for doc in rendered if doc} >= {"Namespace"}

        drift = stack.preview_refresh(exclude=pulumi_runner.render_only_urns(stack), on_output=_quiet)
        assert set(drift.change_summary) <= {auto.OpType.SAME}, drift.change_summary
    finally:
        stack.destroy(on_output=_quiet)
        stack.workspace.remove_stack(name)
    with psycopg.connect(backends.postgres.dsn) as connection:
        assert connection.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (snake,)).fetchone() is None
    assert httpx2.get(_discovery(backends, name)).status_code == 404
    assert f"falcone-{name}.events" not in _topics(backends.kafka)
    assert not _minio(backends.minio).bucket_exists(f"falcone-{name}")
    assert f"falcone-{name}/" not in _vault_mounts(backends.vault)
    assert snake not in _mongo(backends.mongo).list_database_names()


def _vault_mounts(vault: VaultConnection | None) -> set[str]:
    assert vault is not None
    system: Any = hvac.Client(url=vault.address, token=vault.token).sys  # types-hvac leaves it untyped
    return set(system.list_mounted_secrets_engines()["data"])


def _mongo(mongo: MongoConnection | None) -> MongoClient[dict[str, object]]:
    assert mongo is not None
    return MongoClient(mongo.uri)


def _topics(kafka: KafkaConnection | None) -> set[str]:
    assert kafka is not None
    client = KafkaAdminClient(**kafka.client_settings())
    try:
        return set(client.list_topics())
    finally:
        client.close()


def _minio(minio: MinioConnection | None) -> Minio:
    assert minio is not None
    return Minio(minio.endpoint_url.split("://", 1)[1], minio.access_key, minio.secret_key, secure=False)


def _discovery(backends: Backends, stack: str) -> str:
    assert backends.keycloak is not None
    return f"{backends.keycloak.url}/realms/falcone-{stack}/.well-known/openid-configuration"
