"""A suspended tenant's credentials read and write nothing, through every credential kind, and serve again once
the tenant is resumed (the control). The state is the registry's, as the automation service's suspend writes it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2
import pytest

from tests.executor.conftest import KEY_CACHE_TTL_S, Seed, Workspace, World

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]


@contextmanager
def _tenant_state(world: World, tenant: str, state: str) -> Iterator[None]:
    with world.metadata() as connection:
        connection.execute("UPDATE tenants SET state = %s WHERE slug = %s", (state, tenant))
    try:
        yield
    finally:
        with world.metadata() as connection:
            connection.execute("UPDATE tenants SET state = 'active' WHERE slug = %s", (tenant,))


async def _read(client: httpx2.AsyncClient, workspace: Workspace, kind: str, seed: Seed) -> httpx2.Response:
    target = seed.todo_ids[workspace.label][0]
    return await client.get(f"/v1/collections/todos/documents/{target}", headers=workspace.headers(kind))


async def test_suspended_tenants_keys_are_refused_until_resumed(
    world: World, seed: Seed, client: httpx2.AsyncClient
) -> None:
    suspended, bystander = world.workspaces[0], world.workspaces[2]
    assert suspended.names.tenant != bystander.names.tenant
    with _tenant_state(world, suspended.names.tenant, "suspended"):
        await asyncio.sleep(KEY_CACHE_TTL_S + 0.2)  # revocation-style: effective once the key cache expires
        for kind in ("service", "anon"):
            refused = await _read(client, suspended, kind, seed)
            assert refused.status_code == 403, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.json()["code"] == "tenant-suspended"
            assert seed.marker[suspended.label] not in refused.text
        written = await client.post(
            "/rest/v1/todos", json={"data": {"x": 1}}, headers=suspended.headers() | {"Prefer": "return=minimal"}
        )
        assert written.status_code == 403, written.text
        # another tenant is untouched
        assert (await _read(client, bystander, "service", seed)).status_code == 200
    await asyncio.sleep(KEY_CACHE_TTL_S + 0.2)
    resumed = await _read(client, suspended, "service", seed)
    assert resumed.status_code == 200, resumed.text
    assert seed.marker[suspended.label] in resumed.text


async def test_workspace_being_deleted_serves_nothing(world: World, seed: Seed, client: httpx2.AsyncClient) -> None:
    workspace = world.workspaces[1]
    with world.metadata() as connection:
        connection.execute(
            "UPDATE workspaces SET state = 'deleting' WHERE tenant = %s AND slug = %s",
            (workspace.names.tenant, workspace.names.slug),
        )
    try:
        await asyncio.sleep(KEY_CACHE_TTL_S + 0.2)
        refused = await _read(client, workspace, "service", seed)
        assert (refused.status_code, refused.json()["code"]) == (403, "workspace-deleting")
    finally:
        with world.metadata() as connection:
            connection.execute(
                "UPDATE workspaces SET state = 'active' WHERE tenant = %s AND slug = %s",
                (workspace.names.tenant, workspace.names.slug),
            )
    await asyncio.sleep(KEY_CACHE_TTL_S + 0.2)
    assert (await _read(client, workspace, "service", seed)).status_code == 200
