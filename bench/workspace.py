"""What the executor's benchmarks set up alike: a platform deployment of the run's own, made as the tests make
theirs (tests.platform_stack_fixtures.deployment_settings + platform_stack.ensure), one tenant of a plan with a
`prod` workspace declaring a `todos` table, registered with a service key, and the executor's settings on it
(a Vault token of the executor's policy): the pieces of tests/executor_world.py, for one workspace. Everything is
destroyed when the block ends."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import psycopg
from pulumi import automation as auto

from executor.settings import ExecutorSettings
from falcone import apikeys, platform_stack
from falcone.naming import TenantNames, WorkspaceNames
from falcone.platform_config import backends_from_endpoints
from localplatform import endpoints
from tests.executor_world import (
    destroy,
    drop_policy,
    executor_settings,
    executor_token,
    insert_key,
    project_stack,
    register_tenant,
    register_workspace,
    up,
)
from tests.platform_stack_fixtures import PlatformDeployment, deployment_settings


@dataclass
class BenchWorkspace:
    deployment: PlatformDeployment
    names: WorkspaceNames
    key: apikeys.NewKey  # a service key of the workspace
    executor: ExecutorSettings
    root: Path  # the run's own folder (stack state, logs)


def _quiet(_line: str) -> None:
    pass


@contextmanager
def bench_workspace(prefix: str, plan: str) -> Iterator[BenchWorkspace]:
    backends = backends_from_endpoints(endpoints.load())
    run = uuid4().hex[:6]
    root = Path(tempfile.mkdtemp(prefix=f"bench-{prefix}-"))
    state_dir, work_dir, render_dir = root / "state", root / "work", root / "rendered"
    settings = deployment_settings(run, render_dir)
    tenant = TenantNames(f"{prefix}{run}")
    names = tenant.workspace("prod")
    print(f"setting up: platform, tenant {tenant.slug} ({plan}), workspace prod with `todos`", flush=True)
    outputs = platform_stack.ensure(backends, state_dir, work_dir, settings, on_output=_quiet)
    deployment = PlatformDeployment(run, backends, state_dir, work_dir, render_dir, settings, outputs)
    stacks: list[auto.Stack] = []
    policy: str | None = None
    try:
        stacks.append(project_stack(deployment, tenant.stack, plan=plan))
        tenant_outputs = up(stacks[-1])
        stacks.append(project_stack(deployment, names.stack, tables='["todos"]'))
        up(stacks[-1])
        key = apikeys.generate("service")
        with psycopg.connect(deployment.metadata_dsn("automation"), autocommit=True) as metadata:
            register_tenant(metadata, tenant.slug, tenant_outputs)
            register_workspace(metadata, names)
            insert_key(metadata, names, key)
        policy, token = executor_token(deployment)
        yield BenchWorkspace(deployment, names, key, executor_settings(deployment, token), root)
    finally:
        print("tearing down", flush=True)
        failures = [destroy(stack) for stack in reversed(stacks)]
        if policy is not None:
            drop_policy(deployment, policy)
        platform_stack.destroy(backends, state_dir, work_dir, on_output=_quiet)
        for failure in filter(None, failures):
            print(f"not destroyed: {failure}", flush=True)
