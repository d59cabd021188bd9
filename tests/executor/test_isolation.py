"""Tenant isolation of the PostgreSQL surface, black-box through HTTP, one test per threat.

The world: 3 tenants (starter, growth, regulated plans) x 2 workspaces. Every pair (victim, attacker) of distinct
workspaces is tried, same-tenant pairs included; each denial has the owner's success next to it as control.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import psycopg
import pytest
from psycopg import sql

from falcone import apikeys
from tests.executor.conftest import KEY_CACHE_TTL_S, Seed, Workspace, World, insert_key

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]


def _pairs(world: World) -> list[tuple[Workspace, Workspace]]:
    return list(itertools.permutations(world.workspaces, 2))


def _leaks(response: httpx2.Response, marker: str) -> bool:
    return marker in response.text


# --- the isolation matrix: read, list, write, update, delete ---------------------------------------------------


async def test_foreign_key_cannot_read_another_workspaces_rows(
    world: World, seed: Seed, client: httpx2.AsyncClient
) -> None:
    for victim, attacker in _pairs(world):
        target = seed.todo_ids[victim.label][0]
        own = await client.get(f"/v1/collections/todos/documents/{target}", headers=victim.headers())
        assert own.status_code == 200
        assert seed.marker[victim.label] in own.text
        foreign = await client.get(f"/v1/collections/todos/documents/{target}", headers=attacker.headers())
        assert foreign.status_code == 404, (victim.label, attacker.label, foreign.text)
        rest = await client.get(f"/rest/v1/todos?id=eq.{target}", headers=attacker.headers())
        assert (rest.status_code, rest.json()) == (200, [])


async def test_foreign_key_lists_only_its_own_rows(world: World, seed: Seed, client: httpx2.AsyncClient) -> None:
    for workspace in world.workspaces:
        for table in ("todos", "notes"):
            listed = await client.get(f"/rest/v1/{table}?select=*", headers=workspace.headers())
            assert listed.status_code == 200, listed.text
            assert listed.json()  # control: its own rows
            documents = await client.get(f"/v1/collections/{table}/documents", headers=workspace.headers())
            for other in world.workspaces:
                if other is not workspace:
                    assert not _leaks(listed, seed.marker[other.label])
                    assert not _leaks(documents, seed.marker[other.label])
        by_owner = await client.get(
            "/rest/v1/todos",
            params={"or": "(" + ",".join(f"data->>owner.eq.{m}" for m in seed.marker.values()) + ")"},
            headers=workspace.headers(),
        )
        assert {row["data"]["owner"] for row in by_owner.json()} == {seed.marker[workspace.label]}


async def test_foreign_key_cannot_write_into_another_tenant(
    world: World, seed: Seed, client: httpx2.AsyncClient
) -> None:
    for victim, attacker in _pairs(world):
        # The context columns come from the credential: naming another tenant is refused outright.
        forged = await client.post(
            "/rest/v1/notes",
            json={"title": "planted", "tenant_id": victim.names.tenant, "workspace_id": victim.names.slug},
            headers=attacker.headers(),
        )
        assert forged.status_code == 400, forged.text
    # A table only the victim has is not reachable under the attacker's credential.
    victim, attacker = world.workspaces[0], world.workspaces[2]
    only = await client.post(
        "/v1/collections",
        json={"name": "vault_only", "columns": [{"name": "v", "type": "text"}]},
        headers=victim.headers(),
    )
    assert only.status_code == 201, only.text
    planted = await client.post("/rest/v1/vault_only", json={"v": "planted"}, headers=attacker.headers())
    assert planted.status_code == 404
    wrote = await client.post("/rest/v1/vault_only", json={"v": "owner"}, headers=victim.headers())
    assert wrote.status_code == 201  # control
    rows = await client.get("/rest/v1/vault_only?select=v", headers=victim.headers())
    assert rows.json() == [{"v": "owner"}]


async def test_foreign_key_cannot_update_another_workspaces_rows(
    world: World, seed: Seed, client: httpx2.AsyncClient
) -> None:
    for victim, attacker in _pairs(world):
        target = seed.todo_ids[victim.label][1]
        by_id = await client.patch(
            f"/v1/collections/todos/documents/{target}", json={"data": {"owner": "pwned"}}, headers=attacker.headers()
        )
        assert by_id.status_code == 404
        by_filter = await client.patch(
            f"/rest/v1/todos?data->>owner=eq.{seed.marker[victim.label]}",
            json={"data": {"owner": "pwned"}},
            headers={**attacker.headers(), "Prefer": "return=representation"},
        )
        assert (by_filter.status_code, by_filter.json()) == (200, [])
    for victim in world.workspaces:  # control: the owner still sees its rows intact, and can update them
        target = seed.todo_ids[victim.label][1]
        intact = await client.get(f"/v1/collections/todos/documents/{target}", headers=victim.headers())
        assert intact.json()["data"]["owner"] == seed.marker[victim.label]
        updated = await client.patch(
            f"/v1/collections/todos/documents/{target}",
            json={"data": {"owner": seed.marker[victim.label], "n": 99}},
            headers=victim.headers(),
        )
        assert updated.status_code == 200
        assert updated.json()["data"]["n"] == 99


async def test_foreign_key_cannot_delete_another_workspaces_rows(
    world: World, seed: Seed, client: httpx2.AsyncClient
) -> None:
    for victim, attacker in _pairs(world):
        target = seed.todo_ids[victim.label][2]
        by_id = await client.delete(f"/v1/collections/todos/documents/{target}", headers=attacker.headers())
        assert by_id.status_code == 404
        by_filter = await client.delete(
            f"/rest/v1/todos?id=eq.{target}", headers={**attacker.headers(), "Prefer": "return=representation"}
        )
        assert (by_filter.status_code, by_filter.json()) == (200, [])
        everything = await client.delete(
            "/rest/v1/todos", headers={**attacker.headers(), "Prefer": "unfiltered=allow,return=representation"}
        )
        assert not _leaks(everything, seed.marker[victim.label])
        await _restore_attacker_rows(client, attacker, seed)
    for victim in world.workspaces:  # control: the rows are still there, and the owner can delete one
        target = seed.todo_ids[victim.label][2]
        still = await client.get(f"/v1/collections/todos/documents/{target}", headers=victim.headers())
        assert still.status_code == 200
        deleted = await client.delete(f"/v1/collections/todos/documents/{target}", headers=victim.headers())
        assert deleted.status_code == 204
        again = await client.post(
            "/v1/collections/todos/documents",
            json={"id": target, "data": {"owner": seed.marker[victim.label], "n": 2}},
            headers=victim.headers(),
        )
        assert again.status_code == 201


async def _restore_attacker_rows(client: httpx2.AsyncClient, attacker: Workspace, seed: Seed) -> None:
    """The unfiltered delete above removed the attacker's own rows (and only those): put them back."""
    rows = [
        {"id": i, "data": {"owner": seed.marker[attacker.label], "n": k}}
        for k, i in enumerate(seed.todo_ids[attacker.label])
    ]
    restored = await client.post(
        "/rest/v1/todos", json=rows, headers={**attacker.headers(), "Prefer": "resolution=merge-duplicates"}
    )
    assert restored.status_code == 201, restored.text


# --- identity: spoofing and failing closed ------------------------------------------------------------------


async def test_spoofed_tenant_headers_with_a_valid_key_are_ignored(
    world: World, seed: Seed, client: httpx2.AsyncClient
) -> None:
    victim, attacker = world.workspaces[0], world.workspaces[3]
    spoofed = {
        **attacker.headers(),
        "x-tenant-id": victim.names.tenant,
        "x-workspace-id": victim.names.slug,
        "x-pg-role": "service",
        "x-gateway-secret": world.settings.gateway_secret.get_secret_value() if world.settings.gateway_secret else "",
    }
    listed = await client.get("/rest/v1/todos", headers=spoofed)
    assert listed.status_code == 200
    owners = {row["data"].get("owner") for row in listed.json()}
    assert seed.marker[attacker.label] in owners  # the key decided, not the headers
    assert owners <= {seed.marker[attacker.label], None}  # None: rows other tests wrote there


async def test_identity_headers_without_the_gateway_secret_are_ignored(
    world: World, client: httpx2.AsyncClient
) -> None:
    victim = world.workspaces[1]
    headers = {"x-tenant-id": victim.names.tenant, "x-workspace-id": victim.names.slug, "x-pg-role": "service"}
    assert (await client.get("/rest/v1/todos", headers=headers)).status_code == 401
    wrong = {**headers, "x-gateway-secret": "not-the-secret"}
    assert (await client.get("/rest/v1/todos", headers=wrong)).status_code == 401
    # control: the gateway (with the secret) may name the workspace
    assert world.settings.gateway_secret is not None
    gateway = {**headers, "x-gateway-secret": world.settings.gateway_secret.get_secret_value()}
    assert (await client.get("/rest/v1/todos", headers=gateway)).status_code == 200


async def test_gateway_cannot_name_a_role_outside_the_workspace(world: World, client: httpx2.AsyncClient) -> None:
    assert world.settings.gateway_secret is not None
    victim, other = world.workspaces[0], world.workspaces[2]
    for role in (other.names.db_role("service"), "postgres", victim.names.db_role("migrator"), "service;drop"):
        headers = {
            "x-tenant-id": victim.names.tenant,
            "x-workspace-id": victim.names.slug,
            "x-pg-role": role,
            "x-gateway-secret": world.settings.gateway_secret.get_secret_value(),
        }
        assert (await client.get("/rest/v1/todos", headers=headers)).status_code == 401, role


async def test_invalid_key_is_401_even_with_valid_looking_headers(world: World, client: httpx2.AsyncClient) -> None:
    victim = world.workspaces[0]
    assert world.settings.gateway_secret is not None
    trusted_headers = {
        "x-tenant-id": victim.names.tenant,
        "x-workspace-id": victim.names.slug,
        "x-pg-role": "service",
        "x-gateway-secret": world.settings.gateway_secret.get_secret_value(),
    }
    forged = apikeys.generate("service").secret  # well-formed, never registered
    for credential in (
        {"apikey": forged},
        {"x-api-key": forged},
        {"Authorization": f"Bearer {forged}"},
        {"apikey": "flc_service_short"},
        {"apikey": victim.service_key[:-1] + "x"},
        {"Authorization": "Bearer not.a.jwt"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"apikey": victim.service_key, "x-api-key": world.workspaces[1].service_key},  # two different keys
    ):
        response = await client.get("/rest/v1/todos", headers={**trusted_headers, **credential})
        assert response.status_code == 401, credential
        assert response.headers["content-type"] == "application/problem+json"
    assert (await client.get("/rest/v1/todos", headers=victim.headers())).status_code == 200  # control


async def test_revoked_key_stops_working_within_the_cache_ttl(world: World, client: httpx2.AsyncClient) -> None:
    workspace = world.workspaces[4]
    key = apikeys.generate("service")
    with world.metadata() as connection:
        insert_key(connection, workspace.names, key)
    headers = {"apikey": key.secret}
    assert (await client.get("/rest/v1/todos", headers=headers)).status_code == 200  # control
    with world.metadata() as connection:
        connection.execute("UPDATE api_keys SET revoked_at = now() WHERE id = %s", (key.id,))
    status = 200
    for _ in range(int(KEY_CACHE_TTL_S * 20) + 20):  # bounded wait: the setting says within KEY_CACHE_TTL_S
        status = (await client.get("/rest/v1/todos", headers=headers)).status_code
        if status == 401:
            break
        await asyncio.sleep(0.1)
    assert status == 401


async def test_expired_key_is_refused(world: World, client: httpx2.AsyncClient) -> None:
    workspace = world.workspaces[5]
    expired, valid = apikeys.generate("service"), apikeys.generate("service")
    with world.metadata() as connection:
        insert_key(
            connection, workspace.names, expired, expires_at=(datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        )
        insert_key(connection, workspace.names, valid, expires_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat())
    assert (await client.get("/rest/v1/todos", headers={"apikey": expired.secret})).status_code == 401
    assert (await client.get("/rest/v1/todos", headers={"apikey": valid.secret})).status_code == 200


async def test_key_row_naming_a_foreign_role_fails_closed(world: World, client: httpx2.AsyncClient) -> None:
    """A key row whose db_role belongs to another workspace (or a privileged role) never runs as that role."""
    workspace, other = world.workspaces[0], world.workspaces[3]
    for kind, role in (
        ("service", other.names.db_role("service")),
        ("service", workspace.names.db_role("migrator")),
        ("anon", workspace.names.db_role("service")),  # an anon key may only be anon
    ):
        key = apikeys.generate(kind)  # type: ignore[arg-type]
        with world.metadata() as connection:
            insert_key(connection, workspace.names, key, db_role=role)
        assert (await client.get("/rest/v1/todos", headers={"apikey": key.secret})).status_code == 401, role


async def test_no_credential_is_401(client: httpx2.AsyncClient) -> None:
    for path in ("/rest/v1/todos", "/v1/collections", "/v1/collections/todos/documents"):
        response = await client.get(path)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"


# --- anon keys: read only ---------------------------------------------------------------------------------------


async def test_anon_key_cannot_write(world: World, seed: Seed, client: httpx2.AsyncClient) -> None:
    workspace = world.workspaces[2]
    anon = workspace.headers("anon")
    read = await client.get("/rest/v1/notes?select=title", headers=anon)
    assert read.status_code == 200
    assert len(read.json()) >= 3
    attempts = [
        client.post("/rest/v1/notes", json={"title": "anon"}, headers=anon),
        client.patch("/rest/v1/notes?rank=eq.1", json={"title": "anon"}, headers=anon),
        client.delete("/rest/v1/notes?rank=eq.1", headers=anon),
        client.post("/v1/collections/notes/documents", json={"title": "anon"}, headers=anon),
        client.delete(f"/v1/collections/todos/documents/{seed.todo_ids[workspace.label][0]}", headers=anon),
        client.post(
            "/v1/collections", json={"name": "anon_table", "columns": [{"name": "x", "type": "text"}]}, headers=anon
        ),
    ]
    for response in await asyncio.gather(*attempts):
        assert response.status_code == 403, response.text
    after = await client.get("/rest/v1/notes?select=title", headers=anon)
    assert after.json() == read.json()


async def test_anon_key_reads_declared_tables_only_through_rls_and_never_writes_them(
    world: World, seed: Seed, client: httpx2.AsyncClient
) -> None:
    """Tables declared with the stack get the API's protection (falcone.rls): anon may SELECT, and RLS shows it its
    own workspace's rows only; writing is refused by the database's grants, not just the API."""
    workspace = world.workspaces[1]
    read = await client.get("/rest/v1/todos?select=data", headers=workspace.headers("anon"))
    assert read.status_code == 200, read.text
    owners = {row["data"].get("owner") for row in read.json()}
    assert seed.marker[workspace.label] in owners
    assert not owners & {seed.marker[other.label] for other in world.workspaces if other is not workspace}
    written = await client.post("/rest/v1/todos", json={"data": {"x": 1}}, headers=workspace.headers("anon"))
    assert written.status_code == 403, written.text
    assert (
        await client.post("/rest/v1/todos", json={"data": {"x": 1}}, headers=workspace.headers())
    ).status_code == 201


# --- the data layer enforces it too -------------------------------------------------------------------------


async def test_tables_created_through_the_api_are_born_with_forced_rls(world: World, seed: Seed) -> None:
    """Falcone #494: a table created through the API had no RLS. Checked in the catalogue, as the admin."""
    _ = seed
    for workspace in world.workspaces:
        with psycopg.connect(world.admin_dsn(workspace.database)) as admin:
            row = admin.execute(
                "SELECT c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner), "
                "(SELECT array_agg(policyname::text) FROM pg_policies p WHERE p.schemaname = n.nspname "
                "AND p.tablename = c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relname = 'notes'",
                (workspace.names.schema,),
            ).fetchone()
        assert row == (True, True, workspace.names.db_role("migrator"), ["tenant_isolation"])


async def test_rls_hides_rows_even_from_a_request_with_the_wrong_context(world: World, seed: Seed) -> None:
    """If the executor ever set another tenant's context on a workspace connection, RLS would still show
    nothing: the executor's own login, the service role, a foreign tenant id."""
    workspace, other = world.workspaces[0], world.workspaces[2]
    credentials = _vault_credentials(world, workspace)
    dsn = psycopg.conninfo.make_conninfo(
        world.admin_dsn(workspace.database), user=credentials["user"], password=credentials["password"]
    )
    table = sql.SQL("{}.todos").format(sql.Identifier(workspace.names.schema))
    with psycopg.connect(dsn) as connection:

        def count(tenant: str, slug: str) -> Any:
            with connection.transaction():
                connection.execute(
                    "SELECT set_config('role', %s, true), set_config('app.tenant_id', %s, true), "
                    "set_config('app.workspace_id', %s, true)",
                    (workspace.names.db_role("service"), tenant, slug),
                )
                return connection.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()

        seeded = count(workspace.names.tenant, workspace.names.slug)[0]
        assert seeded >= len(seed.todo_ids[workspace.label])  # control (other tests may have added rows)
        assert count(other.names.tenant, workspace.names.slug) == (0,)
        sibling = world.workspaces[1]  # same tenant, the other workspace
        assert sibling.names.tenant == workspace.names.tenant
        assert sibling.names.slug != workspace.names.slug
        assert count(workspace.names.tenant, sibling.names.slug) == (0,)
        assert count(workspace.names.tenant, "") == (0,)
        assert count("", "") == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege), connection.transaction():
            connection.execute("SELECT set_config('role', %s, true)", (other.names.db_role("service"),))


def _vault_credentials(world: World, workspace: Workspace) -> dict[str, Any]:
    import hvac

    vault = world.deployment.backends.vault
    assert vault is not None
    client = hvac.Client(url=vault.address, token=world.settings.vault_token.get_secret_value())
    secret: dict[str, Any] = client.secrets.kv.v2.read_secret_version(
        path=f"{workspace.names.vault_prefix}/database",
        mount_point=world.settings.vault_mount,
        raise_on_deleted_version=True,
    )
    return dict(secret["data"]["data"])
