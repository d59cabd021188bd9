"""The executor's world: 4 tenants x 2 workspaces provisioned through the real stacks on a platform deployment of
the session's own, their registry rows and API keys, and the executor in process (ASGI) on top. A root-level plugin
(tests/conftest.py); the gateway's suite builds a world of its own with `build_world(..., prefix="g")`, because the
executor's suite leaves its world changed (tables, clients, objects and rows its tests create).

Until the automation API registers tenants and mints keys, the metadata rows and keys are written here as the
`automation` login (TEST FIXTURE: the same columns the automation service will write).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import AsyncIterator, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import hvac
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pulumi import automation as auto
from pymongo.uri_parser import parse_uri

from components.secrets import EXECUTOR_POLICY, executor_policy_hcl
from executor.app import create_app
from executor.settings import ExecutorSettings
from falcone import apikeys, pulumi_runner
from falcone.naming import TenantNames, WorkspaceNames
from falcone.plans import Capability, catalog
from localplatform.process import log_tail
from tests.platform_stack_fixtures import PlatformDeployment

# Four plans, one per deployment profile: platform realm + shared database (starter), own realm + shared database
# (growth), own realm + own database (regulated, enterprise). Every plan has postgres and storage; the last three
# have mongo and kafka too, so every route family has at least 3 tenants x 2 workspaces.
PLANS = ("starter", "growth", "regulated", "enterprise")
WORKSPACES = ("prod", "dev")
KEY_CACHE_TTL_S = 1.0
# Object uploads through the executor: small enough that the 413 tests send little.
MAX_OBJECT_BYTES = 4 * 1024 * 1024
RATE_LIMIT_HEADROOM = 50.0
REPO = Path(__file__).resolve().parents[1]


def _quiet(_line: str) -> None:
    """Engine output is kept in the CommandError if something fails."""


@dataclass
class Workspace:
    names: WorkspaceNames
    plan: str
    database: str
    anon_key: str = ""
    service_key: str = ""
    key_ids: dict[str, str] = field(default_factory=dict)

    def allows(self, capability: Capability) -> bool:
        return catalog().plan(self.plan).allows(capability)

    @property
    def label(self) -> str:
        return f"{self.names.tenant}/{self.names.slug}"

    def headers(self, kind: str = "service") -> dict[str, str]:
        return {"apikey": self.anon_key if kind == "anon" else self.service_key}


@dataclass
class World:
    deployment: PlatformDeployment
    tenants: dict[str, dict[str, Any]]  # slug -> tenant stack outputs
    workspaces: list[Workspace]
    settings: ExecutorSettings
    stack_outputs: dict[str, dict[str, Any]]

    def admin_dsn(self, database: str) -> str:
        assert self.deployment.backends.postgres is not None
        return make_conninfo(self.deployment.backends.postgres.dsn, dbname=database)

    def metadata(self) -> psycopg.Connection[tuple[Any, ...]]:
        """The metadata database as the automation service's login."""
        return psycopg.connect(self.deployment.metadata_dsn("automation"), autocommit=True)


def project_stack(deployment: PlatformDeployment, name: str, **config: str) -> auto.Stack:
    stack = pulumi_runner.project_stack(name, deployment.state_dir, work_dir=deployment.work_dir / "project")
    pulumi_runner.configure(stack, deployment.backends, **deployment.settings, **config)
    return stack


def up(stack: auto.Stack) -> dict[str, Any]:
    result = stack.up(on_output=_quiet)
    return {key: output.value for key, output in result.outputs.items()}


def destroy(stack: auto.Stack) -> str | None:
    """Destroy and forget a stack; a failure is returned (and reported), not raised, so the others still go."""
    try:
        stack.destroy(on_output=_quiet)
        stack.workspace.remove_stack(stack.name)
    except auto.CommandError as error:
        return f"{stack.name}: {str(error)[-600:]}"
    return None


def register_tenant(connection: psycopg.Connection[tuple[Any, ...]], slug: str, outputs: dict[str, Any]) -> None:
    """TEST FIXTURE until the automation API does it: the tenant's registry row, from its stack's outputs."""
    connection.execute(
        "INSERT INTO tenants (slug, id, display_name, plan, iam_topology, state, outputs) "
        "VALUES (%s, %s, %s, %s, %s, 'active', %s)",
        (
            slug,
            f"ten_{slug}",
            slug,
            outputs["plan"],
            "shared" if outputs["sharedRealm"] else "dedicated",
            json.dumps(outputs),
        ),
    )


def register_workspace(connection: psycopg.Connection[tuple[Any, ...]], names: WorkspaceNames) -> None:
    connection.execute(
        "INSERT INTO workspaces (tenant, slug, id, display_name, state, outputs) VALUES (%s, %s, %s, %s, 'active', %s)",
        (names.tenant, names.slug, f"wks_{names.tenant}_{names.slug}", names.slug, json.dumps({})),
    )


def _register(world: World) -> None:
    """Registry rows and one anon + one service key each."""
    with world.metadata() as connection:
        for slug, outputs in world.tenants.items():
            register_tenant(connection, slug, outputs)
        for workspace in world.workspaces:
            names = workspace.names
            register_workspace(connection, names)
            for kind in apikeys.KINDS:
                key = apikeys.generate(kind)
                insert_key(connection, names, key)
                workspace.key_ids[kind] = key.id
                if kind == "anon":
                    workspace.anon_key = key.secret
                else:
                    workspace.service_key = key.secret


def insert_key(
    connection: psycopg.Connection[tuple[Any, ...]],
    names: WorkspaceNames,
    key: apikeys.NewKey,
    *,
    db_role: str | None = None,
    expires_at: str | None = None,
) -> None:
    connection.execute(
        "INSERT INTO api_keys (id, tenant, workspace, kind, name, prefix, secret_hash, db_role, created_by, "
        "expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'test-fixture', %s)",
        (
            key.id,
            names.tenant,
            names.slug,
            key.kind,
            f"{key.kind} key",
            key.prefix,
            key.secret_hash,
            db_role or names.db_role(key.kind),
            expires_at,
        ),
    )


def executor_token(deployment: PlatformDeployment) -> tuple[str, str]:
    """A token with the executor's policy. The rules are `executor-policy`'s own; the name is the run's, because
    Vault policy names are global and a concurrent session destroying its platform stack deletes `executor-policy`
    (tests/components/test_executor_policy.py checks that the platform stack defines it)."""
    vault = deployment.backends.vault
    assert vault is not None
    client = hvac.Client(url=vault.address, token=vault.token)
    name = f"{EXECUTOR_POLICY}-{deployment.run}"
    system: Any = client.sys  # untyped in types-hvac
    system.create_or_update_policy(name=name, policy=executor_policy_hcl(deployment.outputs.vault_mount))
    auth: Any = client.auth
    token = auth.token.create(policies=[name], ttl="4h", no_default_policy=True)["auth"]["client_token"]
    return name, str(token)


def drop_policy(deployment: PlatformDeployment, name: str) -> None:
    vault = deployment.backends.vault
    assert vault is not None
    system: Any = hvac.Client(url=vault.address, token=vault.token).sys
    system.delete_policy(name=name)


def executor_settings(deployment: PlatformDeployment, vault_token: str, **overrides: Any) -> ExecutorSettings:
    """The executor on this deployment: the metadata as the `keys` login, a Vault token of the executor's policy,
    and where each backing server listens."""
    backends = deployment.backends
    postgres, vault, keycloak = backends.postgres, backends.vault, backends.keycloak
    mongo, minio, kafka = backends.mongo, backends.minio, backends.kafka
    assert postgres is not None
    assert vault is not None
    assert keycloak is not None
    assert mongo is not None
    assert minio is not None
    assert kafka is not None
    admin = conninfo_to_dict(postgres.dsn)
    return ExecutorSettings(
        metadata_dsn=deployment.metadata_dsn("keys"),
        vault_address=vault.address,
        vault_token=vault_token,
        vault_mount=deployment.outputs.vault_mount,
        postgres_host=str(admin.get("host", "127.0.0.1")),
        postgres_port=int(admin.get("port") or 5432),
        keycloak_url=keycloak.url,
        s3_endpoint=minio.endpoint_url,
        s3_region=minio.region,
        # The server only: the executor logs in as each workspace's own user, never as the admin in this URI.
        mongo_url="mongodb://" + ",".join(f"{h}:{p}" for h, p in parse_uri(mongo.uri)["nodelist"]),
        kafka_bootstrap=kafka.bootstrap_servers,
        kafka_security_protocol=kafka.security_protocol,
        kafka_sasl_mechanism=kafka.sasl_mechanism,
        **overrides,
    )


@contextmanager
def build_world(deployment: PlatformDeployment, prefix: str = "") -> Iterator[World]:
    """A world on the session's platform deployment; `prefix` tells two worlds of one session apart (their tenant
    slugs, hence stacks, realms and registry rows)."""
    run = deployment.run
    tenant_names = {plan: TenantNames(f"{prefix}{plan[:3]}{run}") for plan in PLANS}
    created: list[auto.Stack] = []
    created_policy: list[str] = []
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            tenant_stacks = {
                plan: project_stack(deployment, names.stack, plan=plan) for plan, names in tenant_names.items()
            }
            created.extend(tenant_stacks.values())
            tenant_outputs = dict(zip(PLANS, pool.map(up, tenant_stacks.values()), strict=True))
            workspace_stacks: dict[WorkspaceNames, auto.Stack] = {}
            for names in tenant_names.values():
                for slug in WORKSPACES:
                    ws = names.workspace(slug)
                    extra = {"serviceAccounts": '["backend"]'} if slug == "prod" else {}
                    workspace_stacks[ws] = project_stack(deployment, ws.stack, tables='["todos"]', **extra)
            created.extend(workspace_stacks.values())
            workspace_outputs = dict(zip(workspace_stacks, pool.map(up, workspace_stacks.values()), strict=True))
        workspaces = []
        for plan, names in tenant_names.items():
            for slug in WORKSPACES:
                ws = names.workspace(slug)
                workspaces.append(Workspace(ws, plan, str(tenant_outputs[plan]["database"])))
        policy, vault_token = executor_token(deployment)
        created_policy.append(policy)
        settings = executor_settings(
            deployment,
            vault_token,
            gateway_secret=secrets.token_urlsafe(24),
            key_cache_ttl_s=KEY_CACHE_TTL_S,
            pool_size=4,
            max_object_bytes=MAX_OBJECT_BYTES,
            # Test loops fire hundreds of requests a second on one key; test_limits.py checks the plan's own limit.
            rate_limit_multiplier=RATE_LIMIT_HEADROOM,
        )
        world = World(
            deployment,
            {names.slug: tenant_outputs[plan] for plan, names in tenant_names.items()},
            workspaces,
            settings,
            {ws.stack: outputs for ws, outputs in workspace_outputs.items()},
        )
        _register(world)
        yield world
    finally:
        # workspaces, then tenants: the reverse of creation
        with ThreadPoolExecutor(max_workers=3) as pool:
            failures = list(pool.map(destroy, [s for s in created if s.name.startswith("workspace-")]))
            failures += pool.map(destroy, [s for s in created if s.name.startswith("tenant-")])
        for policy in created_policy:
            drop_policy(deployment, policy)
        for failure in filter(None, failures):
            warnings.warn(f"executor world not fully destroyed: {failure}", stacklevel=1)


@pytest.fixture(scope="session")
def world(platform_deployment: PlatformDeployment) -> Iterator[World]:
    with build_world(platform_deployment) as built:
        yield built


@pytest.fixture(scope="session")
async def executor_app(world: World) -> AsyncIterator[Any]:
    app = create_app(world.settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
async def client(executor_app: Any) -> AsyncIterator[httpx2.AsyncClient]:
    transport = httpx2.ASGITransport(app=executor_app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://executor") as http:
        yield http


@dataclass(frozen=True)
class Seed:
    """Rows each workspace owns: `todos` (declared by the stack) and `notes` (created through the API)."""

    todo_ids: dict[str, list[int]]  # workspace label -> ids, distinct across all workspaces
    marker: dict[str, str]  # workspace label -> a string only its rows contain


NOTES_COLUMNS = [
    {"name": "id", "type": "bigint", "identity": True, "primary_key": True},
    {"name": "title", "type": "text", "nullable": False},
    {"name": "done", "type": "boolean", "default": False},
    {"name": "rank", "type": "integer"},
    {"name": "tags", "type": "text[]"},
    {"name": "meta", "type": "jsonb", "default": {}},
]


@pytest.fixture(scope="session")
async def seed(world: World, client: httpx2.AsyncClient) -> Seed:
    return await seed_world(world, client)


async def seed_world(world: World, client: httpx2.AsyncClient) -> Seed:
    todo_ids: dict[str, list[int]] = {}
    markers: dict[str, str] = {}
    for index, workspace in enumerate(world.workspaces):
        marker = f"secret-{workspace.names.tenant}-{workspace.names.slug}"
        ids = [10_000 * (index + 1) + k for k in range(3)]
        rows = [{"id": i, "data": {"owner": marker, "n": k}} for k, i in enumerate(ids)]
        inserted = await client.post("/v1/collections/todos/documents", json=rows, headers=workspace.headers())
        assert inserted.status_code == 201, inserted.text
        created = await client.post(
            "/v1/collections", json={"name": "notes", "columns": NOTES_COLUMNS}, headers=workspace.headers()
        )
        assert created.status_code == 201, created.text
        notes = [
            {"title": f"{marker} first", "rank": 1, "tags": ["a", "b"], "meta": {"owner": marker}},
            {"title": f"{marker} second", "rank": 2, "done": True, "tags": ["b"]},
            {"title": f"{marker} third", "tags": []},
        ]
        filled = await client.post("/v1/collections/notes/documents", json=notes, headers=workspace.headers())
        assert filled.status_code == 201, filled.text
        todo_ids[workspace.label], markers[workspace.label] = ids, marker
    return Seed(todo_ids, markers)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_process(
    module: str, env: Mapping[str, str], log: Path, ready_url: str, timeout: float = 120
) -> subprocess.Popen[bytes]:
    """`python -m {module}` in a process group of its own (a gateway's Envoy is in it), its output in `log`,
    returned once `ready_url` answers 200; if it exits first or is not ready in time, it is stopped and this
    raises with the log's tail."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=REPO,
            env={**os.environ, **env},
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if httpx2.get(ready_url, timeout=2).status_code == 200:
                return process
        except httpx2.TransportError:
            pass
        time.sleep(0.2)
    state = f"exited ({process.returncode})" if process.poll() is not None else f"was not ready in {timeout:.0f}s"
    stop_process(process)
    raise RuntimeError(f"python -m {module} {state}; log {log}:\n{log_tail(log)}")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group, by PID; SIGKILL if it lingers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@contextmanager
def running_executor(settings: ExecutorSettings, log: Path) -> Iterator[str]:
    """`python -m executor` (uvicorn) with these settings on a free port: its URL while the block runs."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environment = settings.model_copy(update={"port": port}).as_environment()
    process = start_process("executor", environment, log, f"{url}/readyz")
    try:
        yield url
    finally:
        stop_process(process)


@pytest.fixture(scope="session")
def executor_url(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `python -m executor` process on a free port, for clients that need a socket."""
    # A realtime stream schemathesis happens to open on an existing table ends by itself.
    settings = world.settings.model_copy(update={"log_level": "warning", "realtime_max_stream_s": 60.0})
    with running_executor(settings, tmp_path_factory.mktemp("executor-url") / "executor.log") as url:
        yield url
