"""Workspace applications and service accounts through HTTP on `python -m automation`, checked on the real
Keycloak: the clients exist in the tenant's realm, a service account's credentials are shown once and work for
a client-credentials token that carries the workspace's context, quotas are refused before any run."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import uuid4

import httpx2
import jwt
import psycopg
import pytest

from components.connections import KeycloakConnection
from falcone.naming import TenantNames, WorkspaceNames
from tests.automation.api import Api
from tests.automation.identity import RealmIdentities
from tests.platform_stack_fixtures import PlatformDeployment

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]

WORKSPACE = "web"


@dataclass(frozen=True)
class Workspace:
    tenant: str
    slug: str

    @property
    def path(self) -> str:
        return f"/v1/tenants/{self.tenant}/workspaces/{self.slug}"

    @property
    def realm(self) -> str:
        return TenantNames(self.tenant).realm  # growth: a realm of the tenant's own

    @property
    def names(self) -> WorkspaceNames:
        return WorkspaceNames(self.tenant, self.slug)


@pytest.fixture(scope="module")
def workspace(api: Api) -> Iterator[Workspace]:
    """A growth tenant with one workspace, for the whole module; deleted (with what is left in it) at the end."""
    tenant = f"apps{uuid4().hex[:8]}"
    [create] = api.accepted("POST", "/v1/tenants", json={"slug": tenant, "display_name": "Apps", "plan": "growth"})
    api.succeeded(create["id"])
    try:
        [ws] = api.accepted("POST", f"/v1/tenants/{tenant}/workspaces", json={"slug": WORKSPACE, "display_name": "Web"})
        api.succeeded(ws["id"])
        yield Workspace(tenant, WORKSPACE)
    finally:
        for operation in api.accepted("DELETE", f"/v1/tenants/{tenant}"):
            api.wait(operation["id"])


@pytest.fixture(scope="module")
def keycloak(platform_deployment: PlatformDeployment) -> KeycloakConnection:
    assert platform_deployment.backends.keycloak is not None
    return platform_deployment.backends.keycloak


@pytest.fixture(scope="module")
async def identities(
    platform_deployment: PlatformDeployment, keycloak: KeycloakConnection
) -> AsyncIterator[RealmIdentities]:
    async with RealmIdentities(keycloak, platform_deployment.outputs.realm) as realm:
        yield realm


def _admin_get(keycloak: KeycloakConnection, path: str, **params: str) -> Any:
    """GET `path` below the admin API's /admin/realms."""
    base = keycloak.url.rstrip("/")
    token = httpx2.post(
        f"{base}/realms/{keycloak.admin_realm}/protocol/openid-connect/token",
        data={
            "grant_type": "password",
            "client_id": keycloak.admin_client_id,
            "username": keycloak.admin_user,
            "password": keycloak.admin_password,
        },
        timeout=10,
    ).json()["access_token"]
    response = httpx2.get(
        f"{base}/admin/realms{path}", params=params, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    response.raise_for_status()
    return response.json()


def _clients(keycloak: KeycloakConnection, realm: str, client_id: str) -> list[dict[str, Any]]:
    """The realm's clients named `client_id`."""
    clients: list[dict[str, Any]] = _admin_get(keycloak, f"/{realm}/clients", clientId=client_id)
    return clients


def _operations(api: Api, tenant: str) -> list[str]:
    return [operation["id"] for operation in api.get(f"/v1/operations?tenant={tenant}&limit=200")["items"]]


def _as(api: Api, token: str, method: str, path: str, **options: Any) -> httpx2.Response:
    return api.http.request(method, path, headers={"Authorization": f"Bearer {token}"}, **options)


def test_application_create_makes_a_public_client_in_the_tenant_realm_and_delete_removes_it(
    api: Api, workspace: Workspace, keycloak: KeycloakConnection
) -> None:
    [create] = api.accepted("POST", f"{workspace.path}/applications", json={"name": "spa"})
    assert (create["kind"], create["workspace"]) == ("workspace.update", workspace.slug)
    assert create["params"] == {"change": "application.create", "name": "spa"}
    # Names are unique in the workspace across both kinds, and refused before anything is queued.
    assert api.request("POST", f"{workspace.path}/applications", json={"name": "spa"}).status_code == 409
    assert api.request("POST", f"{workspace.path}/service-accounts", json={"name": "spa"}).status_code == 409
    api.succeeded(create["id"])

    application = api.get(f"{workspace.path}/applications/spa")
    assert application["client_id"] == workspace.names.client("spa") == f"{workspace.slug}-spa"
    assert application["provisioned"] is True
    assert [item["name"] for item in api.get(f"{workspace.path}/applications")["items"]] == ["spa"]
    assert api.get(f"{workspace.path}/service-accounts")["items"] == []
    [client] = _clients(keycloak, workspace.realm, application["client_id"])
    assert client["publicClient"] is True
    assert client["serviceAccountsEnabled"] is False

    [delete] = api.accepted("DELETE", f"{workspace.path}/applications/spa")
    assert api.request("GET", f"{workspace.path}/applications/spa").status_code == 404
    api.succeeded(delete["id"])
    assert _clients(keycloak, workspace.realm, application["client_id"]) == []
    assert api.request("DELETE", f"{workspace.path}/applications/spa").status_code == 404


async def test_service_account_credentials_are_shown_once_and_give_a_token_of_the_workspace(
    api: Api, workspace: Workspace, identities: RealmIdentities, platform_deployment: PlatformDeployment
) -> None:
    path = f"{workspace.path}/service-accounts/worker"
    [create] = api.accepted("POST", f"{workspace.path}/service-accounts", json={"name": "worker"})
    # Not provisioned yet: refused, and the one showing is not used up.
    early = api.request("POST", f"{path}/credentials")
    assert early.status_code == 409, early.text
    api.succeeded(create["id"])
    account = api.get(path)
    assert (account["provisioned"], account["credentials_revealed_at"]) == (True, None)
    assert account["client_id"] == workspace.names.service_account("worker")

    # Threat: another tenant's admin takes the credentials. Out of reach: 404, as for a tenant that does not exist;
    # an operator of the owning tenant may see the account but not its secret.
    other_admin = await identities.create_user(roles=["tenant_admin"], tenant_id=f"other{uuid4().hex[:6]}")
    other_token = await identities.password_token(other_admin)
    assert _as(api, other_token, "POST", f"{path}/credentials").status_code == 404
    assert _as(api, other_token, "GET", path).status_code == 404
    operator = await identities.create_user(roles=["tenant_operator"], tenant_id=workspace.tenant)
    operator_token = await identities.password_token(operator)
    assert _as(api, operator_token, "GET", path).status_code == 200
    assert _as(api, operator_token, "POST", f"{path}/credentials").status_code == 403

    # The owner (here the tenant's admin) gets them once.
    owner = await identities.create_user(roles=["tenant_admin"], tenant_id=workspace.tenant)
    owner_token = await identities.password_token(owner)
    shown = _as(api, owner_token, "POST", f"{path}/credentials")
    assert shown.status_code == 200, shown.text
    assert shown.headers["cache-control"] == "no-store"
    credentials = shown.json()
    assert credentials["client_id"] == account["client_id"]
    assert credentials["token_url"].endswith(f"/realms/{workspace.realm}/protocol/openid-connect/token")

    # They work: a client-credentials token of the tenant's realm whose claims name the workspace.
    response = httpx2.post(
        credentials["token_url"],
        data={
            "grant_type": "client_credentials",
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    issuer = credentials["token_url"].removesuffix("/protocol/openid-connect/token")
    key = jwt.PyJWKClient(f"{issuer}/protocol/openid-connect/certs").get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key, algorithms=["RS256"], issuer=issuer, options={"verify_aud": False})
    assert (claims["tenant_id"], claims["workspace_id"]) == (workspace.tenant, workspace.slug)
    assert claims["azp"] == credentials["client_id"]

    # Never again, and the answer says how to rotate.
    again = api.request("POST", f"{path}/credentials")
    assert again.status_code == 409
    problem = again.json()
    assert problem["type"] == "https://falcone.dev/problems/credentials-already-revealed"
    assert "create a new service account" in problem["detail"]
    revealed_at = datetime.fromisoformat(api.get(path)["credentials_revealed_at"])
    assert revealed_at == datetime.fromisoformat(problem["revealed_at"])
    assert "client_secret" not in api.request("GET", f"{workspace.path}/service-accounts").text

    # The showing is audited, as the owner's action.
    with psycopg.connect(platform_deployment.metadata_dsn("automation")) as metadata:
        audited = metadata.execute(
            "SELECT actor->>'id', tenant_id FROM audit_events WHERE action = 'service_account.reveal_credentials' "
            "AND resource_id = %s",
            (account["id"],),
        ).fetchall()
    assert audited == [(owner.id, workspace.tenant)]


def test_quotas_are_refused_before_any_run_naming_the_dimension(api: Api, workspace: Workspace) -> None:
    tenant_path = f"/v1/tenants/{workspace.tenant}"
    applications = len(api.get(f"{workspace.path}/applications")["items"])
    accounts = len(api.get(f"{workspace.path}/service-accounts")["items"])
    limits = {"max_applications": applications, "max_service_accounts": accounts}
    assert api.request("PUT", f"{tenant_path}/quotas", json=limits).status_code == 200
    try:
        before = _operations(api, workspace.tenant)
        for collection, dimension in (
            ("applications", "max_applications"),
            ("service-accounts", "max_service_accounts"),
        ):
            refused = api.request("POST", f"{workspace.path}/{collection}", json={"name": "one-more"})
            assert refused.status_code == 422, refused.text
            assert refused.json()["dimension"] == dimension
            assert refused.json()["limit"] == limits[dimension]
        assert _operations(api, workspace.tenant) == before
        assert api.request("GET", f"{workspace.path}/applications/one-more").status_code == 404
    finally:
        assert api.request("PUT", f"{tenant_path}/quotas", json={}).status_code == 200


def test_bad_input_gets_a_clear_error_and_nothing_is_queued(api: Api, workspace: Workspace) -> None:
    before = _operations(api, workspace.tenant)
    cases = [
        ("applications", {"name": "Bad_Name"}, 422),
        ("applications", {"name": "ab"}, 422),
        ("applications", {"name": "a--b"}, 422),
        ("applications", {"name": "svc-worker"}, 422),  # would be service account worker's client id
        ("applications", {"name": "spa2", "redirect_uris": []}, 422),  # unknown field
        ("applications", {}, 422),
        ("service-accounts", {"name": "x" * 25}, 422),
    ]
    for collection, body, status in cases:
        response = api.request("POST", f"{workspace.path}/{collection}", json=body)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    missing = f"/v1/tenants/{workspace.tenant}/workspaces/nowhere"
    assert api.request("POST", f"{missing}/applications", json={"name": "spa"}).status_code == 404
    assert api.request("GET", f"{missing}/service-accounts").status_code == 404
    assert api.request("POST", f"{workspace.path}/service-accounts/nobody/credentials").status_code == 404
    assert api.request("GET", f"{workspace.path}/applications?limit=0").status_code == 422
    assert api.request("GET", f"{workspace.path}/applications?cursor=%00").status_code == 400
    assert api.request("GET", f"{workspace.path}/service-accounts/a%00b").status_code == 400
    assert _operations(api, workspace.tenant) == before


def test_a_workspace_cannot_take_over_another_workspaces_client_by_a_colliding_name(
    api: Api, workspace: Workspace, keycloak: KeycloakConnection
) -> None:
    """`web` + `api-xyz` and `web-api` + `xyz` derive the same client id; the second is refused (409) instead of its
    workspace adopting the first one's client."""
    [other] = api.accepted(
        "POST", f"/v1/tenants/{workspace.tenant}/workspaces", json={"slug": "web-api", "display_name": "Web API"}
    )
    [owner] = api.accepted("POST", f"{workspace.path}/applications", json={"name": "api-xyz"})
    taken = api.request("POST", f"/v1/tenants/{workspace.tenant}/workspaces/web-api/applications", json={"name": "xyz"})
    assert taken.status_code == 409, taken.text
    assert "web-api-xyz" in taken.json()["detail"]
    assert repr(workspace.slug) in taken.json()["detail"]
    api.succeeded(other["id"])

    # Positive control: the owner's client exists, with its own workspace's context scope.
    api.succeeded(owner["id"])
    [client] = _clients(keycloak, workspace.realm, "web-api-xyz")
    scopes = {
        scope["name"]
        for scope in _admin_get(keycloak, f"/{workspace.realm}/clients/{client['id']}/default-client-scopes")
    }
    assert f"{workspace.slug}-context" in scopes
    assert "web-api-context" not in scopes
    assert api.get(f"/v1/tenants/{workspace.tenant}/workspaces/web-api/applications")["items"] == []
