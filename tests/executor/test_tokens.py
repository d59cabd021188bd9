"""Bearer JWTs: the tenant's realm (pinned from the registry) verifies them; a realm cannot speak for another tenant."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx2
import pytest

from tests.executor.conftest import KEY_CACHE_TTL_S, Seed, World

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]


def _keycloak(world: World) -> Any:
    keycloak = world.deployment.backends.keycloak
    assert keycloak is not None
    return keycloak


def _token(world: World, realm: str, client_id: str, secret: str) -> str:
    response = httpx2.post(
        f"{_keycloak(world).url}/realms/{realm}/protocol/openid-connect/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _service_account(world: World, index: int) -> tuple[str, str, str]:
    """(realm, client id, secret) of the `backend` service account of a `prod` workspace."""
    workspace = world.workspaces[index]
    tenant = world.tenants[workspace.names.tenant]
    secrets: dict[str, str] = world.stack_outputs[workspace.names.stack]["serviceAccountSecrets"]
    client_id = workspace.names.service_account("backend", shared_realm=bool(tenant["sharedRealm"]))
    return str(tenant["realm"]), client_id, secrets[client_id]


async def test_token_of_the_tenants_realm_reads_its_own_workspace(
    world: World, seed: Seed, client: httpx2.AsyncClient
) -> None:
    for index in (0, 2):  # starter: the shared platform realm; growth: the tenant's own realm
        workspace = world.workspaces[index]
        token = _token(world, *_service_account(world, index))
        listed = await client.get("/rest/v1/todos", headers={"Authorization": f"Bearer {token}"})
        assert listed.status_code == 200, listed.text
        owners = {row["data"].get("owner") for row in listed.json()}
        assert seed.marker[workspace.label] in owners
        assert owners <= {seed.marker[workspace.label], None}  # None: rows other tests wrote there


async def test_tampered_or_foreign_tokens_are_401(world: World, client: httpx2.AsyncClient) -> None:
    token = _token(world, *_service_account(world, 2))
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["workspace_id"] = "dev"
    forged = ".".join([header, base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("="), signature])
    for bearer in (forged, token[:-4] + "AAAA", "e30.e30.", token + "x"):
        response = await client.get("/rest/v1/todos", headers={"Authorization": f"Bearer {bearer}"})
        assert response.status_code == 401, bearer
    # A valid token presented with a different API key is two credentials: refused, never merged.
    mixed = {"Authorization": f"Bearer {token}", "apikey": world.workspaces[0].service_key}
    assert (await client.get("/rest/v1/todos", headers=mixed)).status_code == 401
    assert (await client.get("/rest/v1/todos", headers={"Authorization": f"Bearer {token}"})).status_code == 200


async def test_a_tenant_realm_cannot_mint_tokens_for_another_tenant(
    world: World, seed: Seed, client: httpx2.AsyncClient
) -> None:
    """The growth tenant controls its realm: a client there that stamps the starter tenant's id into its tokens
    still cannot read the starter tenant, because the starter tenant's issuer comes from the registry."""
    victim, attacker_realm = world.workspaces[0], str(world.tenants[world.workspaces[2].names.tenant]["realm"])
    client_id, secret = _forging_client(world, attacker_realm, victim.names.tenant, victim.names.slug)
    forged = _token(world, attacker_realm, client_id, secret)
    response = await client.get("/rest/v1/todos", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert seed.marker[victim.label] not in response.text
    legit = _token(world, *_service_account(world, 0))  # control: the victim's own realm's token works
    assert (await client.get("/rest/v1/todos", headers={"Authorization": f"Bearer {legit}"})).status_code == 200


async def test_issuer_comes_from_the_registry_not_from_the_token(world: World, client: httpx2.AsyncClient) -> None:
    workspace = world.workspaces[2]
    token = _token(world, *_service_account(world, 2))
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/rest/v1/todos", headers=headers)).status_code == 200  # control
    with world.metadata() as connection:
        connection.execute(
            "UPDATE tenants SET outputs = jsonb_set(outputs, '{realm}', %s) WHERE slug = %s",
            (json.dumps(world.deployment.outputs.realm), workspace.names.tenant),
        )
    try:
        await asyncio.sleep(KEY_CACHE_TTL_S + 0.5)  # the registry is cached that long
        assert (await client.get("/rest/v1/todos", headers=headers)).status_code == 401
    finally:
        with world.metadata() as connection:
            connection.execute(
                "UPDATE tenants SET outputs = jsonb_set(outputs, '{realm}', %s) WHERE slug = %s",
                (json.dumps(world.tenants[workspace.names.tenant]["realm"]), workspace.names.tenant),
            )
        await asyncio.sleep(KEY_CACHE_TTL_S + 0.5)


def _forging_client(world: World, realm: str, tenant: str, workspace: str) -> tuple[str, str]:
    keycloak = _keycloak(world)
    admin = httpx2.post(
        f"{keycloak.url}/realms/master/protocol/openid-connect/token",
        data={
            "grant_type": "password",
            "client_id": "admin-cli",
            "username": keycloak.admin_user,
            "password": keycloak.admin_password,
        },
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {admin}"}
    client_id = f"forger-{world.deployment.run}"

    def claim(name: str, value: str) -> dict[str, Any]:
        return {
            "name": name,
            "protocol": "openid-connect",
            "protocolMapper": "oidc-hardcoded-claim-mapper",
            "config": {
                "claim.name": name,
                "claim.value": value,
                "jsonType.label": "String",
                "access.token.claim": "true",
            },
        }

    created = httpx2.post(
        f"{keycloak.url}/admin/realms/{realm}/clients",
        headers=headers,
        json={
            "clientId": client_id,
            "publicClient": False,
            "serviceAccountsEnabled": True,
            "standardFlowEnabled": False,
            "protocolMappers": [claim("tenant_id", tenant), claim("workspace_id", workspace)],
        },
    )
    assert created.status_code == 201, created.text
    internal = httpx2.get(
        f"{keycloak.url}/admin/realms/{realm}/clients", params={"clientId": client_id}, headers=headers
    ).json()[0]["id"]
    secret = httpx2.get(f"{keycloak.url}/admin/realms/{realm}/clients/{internal}/client-secret", headers=headers)
    return client_id, str(secret.json()["value"])
