"""IaC timings on the local platform, next to the floor: the same resources created through the servers' APIs.

    .venv/bin/python bench/iac.py            (needs scripts/platform start and the toolchain)

It brings up a platform stack, then measures for one growth tenant and one workspace (a table with RLS, a service
account, Kafka topic, Mongo database, bucket, secrets): `up` of each, a no-op `up`, a drift check (refresh
preview) and `destroy`. The floor replays the very same dynamic resources, with the same inputs read from the
state, by calling their providers' create/delete in this process: the servers' own time plus our client code,
without the engine. The ratio says what Pulumi (engine, plugins, language host, state) costs on top.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from uuid import uuid4

import dill  # type: ignore[import-untyped]
from pulumi import automation as auto

from falcone import pulumi_runner, toolchain
from falcone.naming import TenantNames
from falcone.platform_config import backends_from_endpoints
from localplatform import endpoints

T = TypeVar("T")
SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"


def timed(label: str, results: dict[str, float], action: Callable[[], T]) -> T:
    started = time.perf_counter()
    value = action()
    results[label] = time.perf_counter() - started
    print(f"  {label:<32} {results[label]:7.2f} s", flush=True)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        if SECRET_SIGNATURE in value:
            # `stack export --show-secrets` writes {"plaintext": "<JSON of the value>"}
            return _plain(json.loads(value["plaintext"])) if "plaintext" in value else _plain(value["value"])
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def dynamic_resources(stack: auto.Stack, backend: Path) -> list[tuple[Any, dict[str, Any]]]:
    """(provider, inputs) of every dynamic resource, in dependency (creation) order, secrets decrypted."""
    exported = subprocess.run(
        [str(toolchain.load().pulumi), "stack", "export", "--show-secrets", "--stack", stack.name],
        cwd=Path(stack.workspace.work_dir),
        env={**os.environ, **pulumi_runner.stack_env(backend)},
        capture_output=True,
        text=True,
        check=True,
    )
    deployment = json.loads(exported.stdout).get("deployment", {})
    found = []
    for resource in deployment.get("resources", []):
        if resource["type"] != "pulumi-python:dynamic:Resource":
            continue
        inputs = _plain(resource.get("inputs", {}))
        # our own state, written by this run: the provider is one of our classes, pickled by reference
        provider = dill.loads(base64.b64decode(inputs.pop("__provider")))  # noqa: S301
        found.append((provider, inputs))
    return found


Created = list[tuple[Any, str, dict[str, Any]]]


def floor_create(resources: list[tuple[Any, dict[str, Any]]]) -> tuple[float, Created]:
    """Create the same resources directly, in the same order; returns the seconds taken and what to delete."""
    created: Created = []
    started = time.perf_counter()
    for provider, inputs in resources:
        result = provider.create(dict(inputs))
        created.append((provider, result.id, {**inputs, **(result.outs or {})}))
    return time.perf_counter() - started, created


def floor_delete(created: Created) -> float:
    started = time.perf_counter()
    for provider, id_, outs in reversed(created):
        provider.delete(id_, outs)
    return time.perf_counter() - started


def main() -> int:
    backends = backends_from_endpoints(endpoints.load())
    run = uuid4().hex[:6]
    tenant = TenantNames(f"bench{run}")
    workspace = tenant.workspace("prod")
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as directory:
        backend, render = Path(directory) / "state", Path(directory) / "rendered"
        stacks: list[auto.Stack] = []

        def stack(name: str, **settings: str) -> auto.Stack:
            created = pulumi_runner.project_stack(name, backend, work_dir=Path(directory) / "project")
            pulumi_runner.configure(created, backends, kafkaRevokeOnly="true", renderDir=str(render / name), **settings)
            stacks.append(created)
            return created

        quiet: Callable[[str], None] = lambda _line: None  # noqa: E731
        try:
            print(f"platform stack (setup, not compared) for run {run}", flush=True)
            platform = stack(
                "platform",
                platformRealm=f"plat-{run}",
                sharedBucket=f"flc-shared-{run}",
                rolePrefix=f"plat{run}",
                metadataDatabase=f"falcone_platform_{run}",
                tenantDatabase=f"falcone_tenants_{run}",
            )
            timed("platform up", results, lambda: platform.up(on_output=quiet))
            print("tenant + workspace through Pulumi:", flush=True)
            tenant_stack = stack(tenant.stack, plan="growth")
            timed("tenant up", results, lambda: tenant_stack.up(on_output=quiet))
            workspace_stack = stack(workspace.stack, tables='["todos"]', serviceAccounts='["backend"]')
            timed("workspace up", results, lambda: workspace_stack.up(on_output=quiet))
            timed("workspace no-op up", results, lambda: workspace_stack.up(on_output=quiet))
            exclude = pulumi_runner.render_only_urns(tenant_stack)
            timed("tenant drift check", results, lambda: tenant_stack.preview_refresh(exclude=exclude, on_output=quiet))
            timed("workspace drift check", results, lambda: workspace_stack.preview_refresh(on_output=quiet))
            tenant_resources = dynamic_resources(tenant_stack, backend)
            workspace_resources = dynamic_resources(workspace_stack, backend)
            timed("workspace destroy", results, lambda: workspace_stack.destroy(on_output=quiet))
            timed("tenant destroy", results, lambda: tenant_stack.destroy(on_output=quiet))
            print("the same resources through the servers' APIs directly (floor):", flush=True)
            results["tenant floor create"], tenant_created = floor_create(tenant_resources)
            results["workspace floor create"], workspace_created = floor_create(workspace_resources)
            results["workspace floor delete"] = floor_delete(workspace_created)
            results["tenant floor delete"] = floor_delete(tenant_created)
            for label, resources in (("tenant", tenant_resources), ("workspace", workspace_resources)):
                print(
                    f"  {label} floor: {len(resources)} resources, create {results[label + ' floor create']:.2f} s,"
                    f" delete {results[label + ' floor delete']:.2f} s",
                    flush=True,
                )
        finally:
            for created in reversed(stacks):
                created.destroy(on_output=lambda _line: None)
                created.workspace.remove_stack(created.name)
    pulumi_total = results["tenant up"] + results["workspace up"]
    floor_total = results["tenant floor create"] + results["workspace floor create"]
    print(
        f"\nnew tenant + workspace: Pulumi {pulumi_total:.2f} s vs floor {floor_total:.2f} s "
        f"-> ratio {pulumi_total / floor_total:.1f}x"
    )
    print(
        f"no-op up {results['workspace no-op up']:.2f} s; drift check per stack: tenant "
        f"{results['tenant drift check']:.2f} s, workspace {results['workspace drift check']:.2f} s"
    )
    destroy_total = results["workspace destroy"] + results["tenant destroy"]
    floor_deleted = results["tenant floor delete"] + results["workspace floor delete"]
    print(
        f"destroy: Pulumi {destroy_total:.2f} s vs floor {floor_deleted:.2f} s -> ratio "
        f"{destroy_total / floor_deleted:.1f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
