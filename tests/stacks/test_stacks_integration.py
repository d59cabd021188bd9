"""The IaC generator end to end on the real platform: platform + two tenants (starter, growth) + a workspace each,
through the project's program (the same one `pulumi up` runs), checked on the servers themselves."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx2
import hvac
import psycopg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import TopicAuthorizationFailedError
from hvac.exceptions import Forbidden
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType
from minio import Minio, MinioAdmin
from minio.credentials.providers import StaticProvider
from minio.error import S3Error
from psycopg import sql
from pulumi import automation as auto
from pymongo import AsyncMongoClient, MongoClient
from pymongo.errors import OperationFailure

from components.connections import Backends
from falcone import drift, pulumi_runner
from falcone.naming import TenantNames, WorkspaceNames
from falcone.toolchain import Toolchain

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]


def _quiet(_line: str) -> None:
    """Engine output is kept in the CommandError if something fails."""


@dataclass
class Deployment:
    backend_dir: Path
    backends: Backends
    run: str
    render_dir: Path
    stacks: dict[str, auto.Stack]

    @property
    def project_dir(self) -> Path:
        return self.backend_dir.parent / "project"

    def stack(self, name: str, **config: str) -> auto.Stack:
        stack = pulumi_runner.project_stack(name, self.backend_dir, work_dir=self.project_dir)
        pulumi_runner.configure(
            stack, self.backends, kafkaRevokeOnly="true", renderDir=str(self.render_dir / name), **config
        )
        self.stacks[name] = stack
        return stack

    def destroy_all(self) -> None:
        # workspaces, then tenants, then the platform: the reverse of creation
        for prefix in ("workspace-", "tenant-", "platform"):
            for name, stack in list(self.stacks.items()):
                if name.startswith(prefix):
                    stack.destroy(on_output=_quiet)
                    stack.workspace.remove_stack(name)
                    del self.stacks[name]

    def up(self, name: str) -> dict[str, Any]:
        result = self.stacks[name].up(on_output=_quiet)
        return {key: output.value for key, output in result.outputs.items()}


@pytest.fixture
def deployment(toolchain: Toolchain, backends: Backends, backend_dir: Path, tmp_path: Path) -> Iterator[Deployment]:
    _ = toolchain
    run = uuid4().hex[:6]
    deployed = Deployment(backend_dir, backends, run, tmp_path / "rendered", {})
    try:
        yield deployed
    finally:
        deployed.destroy_all()


def _vault_read(backends: Backends, token: str, path: str) -> dict[str, Any]:
    assert backends.vault is not None
    client = hvac.Client(url=backends.vault.address, token=token)
    secret: dict[str, Any] = client.secrets.kv.v2.read_secret_version(
        path=path, mount_point="secret", raise_on_deleted_version=True
    )
    return dict(secret["data"]["data"])


def _token_for(backends: Backends, policy: str) -> str:
    assert backends.vault is not None
    auth: Any = hvac.Client(url=backends.vault.address, token=backends.vault.token).auth  # untyped in types-hvac
    return str(auth.token.create(policies=[policy], ttl="10m")["auth"]["client_token"])


def test_platform_two_tenants_and_their_workspaces(deployment: Deployment) -> None:
    backends, run = deployment.backends, deployment.run
    assert backends.postgres is not None
    assert backends.keycloak is not None
    assert backends.minio is not None
    deployment.stack(
        "platform",
        platformRealm=f"plat-{run}",
        sharedBucket=f"flc-shared-{run}",
        rolePrefix=f"plat{run}",
        metadataDatabase=f"falcone_platform_{run}",
        tenantDatabase=f"falcone_tenants_{run}",
    )
    platform = deployment.up("platform")
    assert platform["tenantDatabase"] == f"falcone_tenants_{run}"

    starter, growth = TenantNames(f"acme{run}"), TenantNames(f"globex{run}")
    deployment.stack(starter.stack, plan="starter")
    deployment.stack(growth.stack, plan="growth")
    starter_out, growth_out = deployment.up(starter.stack), deployment.up(growth.stack)
    assert starter_out["realm"] == f"plat-{run}"  # shared identity profile
    assert growth_out["realm"] == growth.realm
    assert growth_out["namespace"] == growth.namespace  # applied to the API server (nothing rendered)
    assert not (deployment.render_dir / growth.stack).exists()

    a, a2, g, g2 = (
        starter.workspace("prod"),
        starter.workspace("dev"),
        growth.workspace("prod"),
        growth.workspace("dev"),
    )
    for names in (a, a2, g, g2):
        deployment.stack(names.stack, tables='["todos"]', serviceAccounts='["backend"]')
    a_out, g_out = deployment.up(a.stack), deployment.up(g.stack)
    deployment.up(a2.stack)
    deployment.up(g2.stack)
    assert "topics" not in a_out  # starter has no kafka capability
    assert g_out["topics"] == [g.topic("events")]
    assert g_out["bucket"] == g.bucket
    assert a_out["bucket"] == f"flc-shared-{run}"

    # Secrets: each workspace's policy reads its own credentials and nothing of the other's.
    a_token, g_token = (
        _token_for(backends, f"workspace-{a.tenant}--{a.slug}"),
        _token_for(backends, f"workspace-{g.tenant}--{g.slug}"),
    )
    a_db = _vault_read(backends, a_token, f"{a.vault_prefix}/database")
    with pytest.raises(Forbidden):
        _vault_read(backends, a_token, f"{g.vault_prefix}/database")

    # PostgreSQL: both workspace schemas share the tenant database; each executor reaches only its own.
    def executor(names: WorkspaceNames, credentials: dict[str, Any]) -> psycopg.Connection[tuple[Any, ...]]:
        assert backends.postgres is not None
        dsn = psycopg.conninfo.make_conninfo(
            backends.postgres.dsn,
            dbname=credentials["database"],
            user=credentials["user"],
            password=credentials["password"],
        )
        connection = psycopg.connect(dsn)
        connection.execute(
            "SELECT set_config('role', %s, false), set_config('app.tenant_id', %s, false), "
            "set_config('app.workspace_id', %s, false)",
            (names.db_role("runtime"), names.tenant, names.slug),
        )
        return connection

    g_db = _vault_read(backends, g_token, f"{g.vault_prefix}/database")
    with executor(a, a_db) as conn:
        conn.execute(sql.SQL("INSERT INTO {}.todos (data) VALUES ('{{}}')").format(sql.Identifier(a.schema)))
        conn.commit()
        assert conn.execute(sql.SQL("SELECT tenant_id FROM {}.todos").format(sql.Identifier(a.schema))).fetchall() == [
            (a.tenant,)
        ]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(sql.SQL("SELECT * FROM {}.todos").format(sql.Identifier(g.schema)))
    with executor(g, g_db) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(sql.SQL("SELECT * FROM {}.todos").format(sql.Identifier(a.schema)))

    # Identity: the growth tenant's realm issues service-account tokens with its context.
    secret = g_out["serviceAccountSecrets"]["prod-svc-backend"]
    token = httpx2.post(
        f"{backends.keycloak.url}/realms/{growth.realm}/protocol/openid-connect/token",
        data={"grant_type": "client_credentials", "client_id": "prod-svc-backend", "client_secret": secret},
    )
    assert token.status_code == 200
    payload = json.loads(_b64(token.json()["access_token"].split(".")[1]))
    assert (payload["tenant_id"], payload["workspace_id"], payload["plan_id"]) == (growth.slug, "prod", "growth")

    # Storage: the growth workspace's user owns its bucket and cannot touch the shared one.
    g_storage = _vault_read(backends, g_token, f"{g.vault_prefix}/storage")
    client = Minio(
        backends.minio.endpoint_url.split("://", 1)[1],
        access_key=g_storage["access_key"],
        secret_key=g_storage["secret_key"],
        secure=False,
    )
    client.put_object(g.bucket, "x.txt", io.BytesIO(b"x"), 1)
    with pytest.raises(S3Error, match="AccessDenied"):
        client.put_object(f"flc-shared-{run}", f"{a.object_prefix}x.txt", io.BytesIO(b"x"), 1)

    # Kafka and Mongo: the growth tenant's two workspaces cannot reach each other's topics or database.
    g_events, g2_events = (
        _vault_read(backends, g_token, f"{g.vault_prefix}/events"),
        _vault_read(backends, _token_for(backends, f"workspace-{g2.tenant}--{g2.slug}"), f"{g2.vault_prefix}/events"),
    )
    asyncio.run(_kafka_isolation(backends, g, g_events, g2))
    g_docs = _vault_read(backends, g_token, f"{g.vault_prefix}/documents")
    asyncio.run(_mongo_isolation(backends, g, g_docs, g2))
    _ = g2_events

    # Drift of every kind, out of band, named by `falcone stacks drift` (resource and property), then repaired.
    _drift_everything(backends, growth, g, platform["tenantDatabase"])
    reports = {
        name: drift.check(name, deployment.backend_dir, None, deployment.project_dir)
        for name in (growth.stack, g.stack)
    }
    found = {
        (c.urn.split("::")[-1], c.operation, tuple(c.properties)) for report in reports.values() for c in report.changes
    }
    assert all(report.status is drift.Status.DRIFTED for report in reports.values()), reports
    expected = {
        ("identity-realm", "update", ("brute_force_protected",)),
        ("database-usage-runtime", "update", ("privileges",)),
        ("topics-topic-events", "update", ("config",)),
        ("storage-policy", "delete", ()),
        ("secrets-policy", "update", ("policy",)),
        ("database-policy-todos", "delete", ()),
    }
    assert expected <= found, found
    for name in (growth.stack, g.stack):
        pulumi_runner.refresh_and_up(deployment.stacks[name], on_output=_quiet)
        assert drift.check(name, deployment.backend_dir, work_dir=deployment.project_dir).status is drift.Status.READY

    # Plan change starter -> growth: an update of the tenant's stacks; the workspace gains Kafka and Mongo.
    deployment.stacks[starter.stack].set_config("falcone:plan", auto.ConfigValue("growth"))
    assert deployment.up(starter.stack)["plan"] == "growth"
    upgraded = deployment.up(a.stack)
    assert upgraded["topics"] == [a.topic("events")]
    assert upgraded["mongoDatabase"] == a.mongo_database

    # Destroy leaves nothing behind on any server.
    deployment.destroy_all()
    _assert_gone(backends, run, [a, a2, g, g2], [starter, growth])


async def _kafka_isolation(
    backends: Backends, own: WorkspaceNames, credentials: dict[str, Any], other: WorkspaceNames
) -> None:
    assert backends.kafka is not None
    sasl = {
        **backends.kafka.client_settings(credentials["principal"], credentials["password"]),
        "request_timeout_ms": 15_000,
    }
    producer = AIOKafkaProducer(**sasl)
    await producer.start()
    try:
        await producer.send_and_wait(own.topic("events"), b"ok")  # positive control
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(other.topic("events"), b"intrusion")
    finally:
        await producer.stop()


async def _mongo_isolation(
    backends: Backends, own: WorkspaceNames, credentials: dict[str, Any], other: WorkspaceNames
) -> None:
    assert backends.mongo is not None
    host = backends.mongo.uri.split("@", 1)[1].split("/", 1)[0]
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        f"mongodb://{credentials['user']}:{credentials['password']}@{host}/?authSource={credentials['database']}"
    )
    try:
        await client[own.mongo_database]["items"].insert_one({"x": 1})  # positive control
        with pytest.raises(OperationFailure):
            await client[other.mongo_database]["items"].find_one({})
    finally:
        await client.close()


def _drift_everything(backends: Backends, tenant: TenantNames, names: WorkspaceNames, database_name: str) -> None:
    assert backends.postgres is not None
    assert backends.keycloak is not None
    assert backends.kafka is not None
    assert backends.minio is not None
    assert backends.vault is not None
    database = psycopg.conninfo.make_conninfo(backends.postgres.dsn, dbname=database_name)
    with psycopg.connect(database, autocommit=True) as admin:
        schema, runtime = sql.Identifier(names.schema), sql.Identifier(names.db_role("runtime"))
        admin.execute(sql.SQL("REVOKE USAGE ON SCHEMA {} FROM {}").format(schema, runtime))  # a grant dropped
        admin.execute(sql.SQL("DROP POLICY tenant_isolation ON {}.todos").format(schema))  # an RLS policy dropped
    keycloak = backends.keycloak
    token = httpx2.post(
        f"{keycloak.url}/realms/master/protocol/openid-connect/token",
        data={
            "grant_type": "password",
            "client_id": "admin-cli",
            "username": keycloak.admin_user,
            "password": keycloak.admin_password,
        },
    ).json()["access_token"]
    edited = httpx2.put(  # a realm setting edited
        f"{keycloak.url}/admin/realms/{tenant.realm}",
        json={"bruteForceProtected": False},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert edited.status_code == 204
    kafka_admin = KafkaAdminClient(**backends.kafka.client_settings())
    try:  # a topic config changed
        kafka_admin.alter_configs(
            [
                ConfigResource(
                    ConfigResourceType.TOPIC,
                    names.topic("events"),
                    configs={"retention.ms": "1000", "cleanup.policy": "delete"},
                )
            ]
        )
    finally:
        kafka_admin.close()
    minio_admin = MinioAdmin(
        endpoint=backends.minio.endpoint_url.split("://", 1)[1],
        credentials=StaticProvider(backends.minio.access_key, backends.minio.secret_key),
        secure=False,
    )
    policy = f"{names.storage_user}-rw"  # a bucket policy deleted (detached first: MinIO refuses otherwise)
    minio_admin.detach_policy([policy], user=names.storage_user)
    minio_admin.policy_remove(policy)
    system: Any = hvac.Client(url=backends.vault.address, token=backends.vault.token).sys
    system.create_or_update_policy(  # a Vault policy widened
        name=f"workspace-{names.tenant}--{names.slug}", policy='path "secret/data/*" { capabilities = ["read"] }'
    )


def _assert_gone(backends: Backends, run: str, workspaces: list[WorkspaceNames], tenants: list[TenantNames]) -> None:
    assert backends.postgres is not None
    assert backends.keycloak is not None
    assert backends.minio is not None
    assert backends.mongo is not None
    assert backends.vault is not None
    with psycopg.connect(backends.postgres.dsn) as admin:
        for names in workspaces:
            assert (
                admin.execute("SELECT 1 FROM pg_roles WHERE rolname LIKE %s", (names.schema + "%",)).fetchone() is None
            )
        assert admin.execute("SELECT 1 FROM pg_database WHERE datname LIKE %s", (f"%{run}",)).fetchone() is None
        assert admin.execute("SELECT 1 FROM pg_roles WHERE rolname LIKE %s", (f"plat{run}%",)).fetchone() is None
    for realm in [f"plat-{run}", *(t.realm for t in tenants)]:
        status = httpx2.get(f"{backends.keycloak.url}/realms/{realm}/.well-known/openid-configuration").status_code
        assert status == 404, realm
    storage = Minio(
        backends.minio.endpoint_url.split("://", 1)[1],
        backends.minio.access_key,
        backends.minio.secret_key,
        secure=False,
    )
    assert not storage.bucket_exists(f"flc-shared-{run}")
    for names in workspaces:
        assert not storage.bucket_exists(names.bucket)
    mongo: MongoClient[dict[str, Any]]
    with MongoClient(backends.mongo.uri) as mongo:
        assert not {names.mongo_database for names in workspaces} & set(mongo.list_database_names())
    system: Any = hvac.Client(url=backends.vault.address, token=backends.vault.token).sys
    policies = set(system.list_acl_policies()["data"]["keys"])
    assert not {f"tenant-{t.slug}" for t in tenants} & policies
    assert not {f"workspace-{w.tenant}--{w.slug}" for w in workspaces} & policies


def _b64(segment: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
