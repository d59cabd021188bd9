"""API keys through HTTP on `python -m automation`: shown once, stored hashed (checked in the metadata database as
the executor's `keys` login reads it), listed by prefix, revoked, rotated with a grace period, audited, and never
minted for another tenant's workspace (Falcone bug #517)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx2
import psycopg
import pytest

from falcone import apikeys
from falcone.naming import WorkspaceNames
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
    def keys(self) -> str:
        return f"{self.path}/api-keys"


@dataclass(frozen=True)
class Tenants:
    a: Workspace  # growth
    b: Workspace  # starter: another tenant, for the cross-tenant threat


@pytest.fixture(scope="module")
def tenants(api: Api) -> Iterator[Tenants]:
    """Two tenants with one workspace each, provisioned side by side; deleted at the end."""
    slugs = {"a": (f"keysa{uuid4().hex[:8]}", "growth"), "b": (f"keysb{uuid4().hex[:8]}", "starter")}
    created: list[str] = []
    try:
        queued = []
        for slug, plan in slugs.values():
            queued += api.accepted("POST", "/v1/tenants", json={"slug": slug, "display_name": slug, "plan": plan})
            created.append(slug)
        for operation in queued:
            api.succeeded(operation["id"])
        body = {"slug": WORKSPACE, "display_name": "Web"}
        queued = [op for slug in created for op in api.accepted("POST", f"/v1/tenants/{slug}/workspaces", json=body)]
        for operation in queued:
            api.succeeded(operation["id"])
        yield Tenants(a=Workspace(slugs["a"][0], WORKSPACE), b=Workspace(slugs["b"][0], WORKSPACE))
    finally:
        deletes = [operation for slug in created for operation in api.accepted("DELETE", f"/v1/tenants/{slug}")]
        for operation in deletes:
            api.wait(operation["id"])


@pytest.fixture(scope="module")
async def identities(platform_deployment: PlatformDeployment) -> AsyncIterator[RealmIdentities]:
    assert platform_deployment.backends.keycloak is not None
    async with RealmIdentities(platform_deployment.backends.keycloak, platform_deployment.outputs.realm) as realm:
        yield realm


def _create(api: Api, workspace: Workspace, **body: Any) -> dict[str, Any]:
    response = api.request("POST", workspace.keys, json={"kind": "anon", "name": "web app", **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _stored(deployment: PlatformDeployment, secret: str) -> dict[str, Any] | None:
    """The key's row as the executor finds it: by the hash of what a client presents, as the `keys` login."""
    with psycopg.connect(deployment.metadata_dsn("keys"), row_factory=psycopg.rows.dict_row) as metadata:
        return metadata.execute("SELECT * FROM api_keys WHERE secret_hash = %s", (apikeys.digest(secret),)).fetchone()


def _audited(deployment: PlatformDeployment, key_id: str) -> list[tuple[str, str]]:
    with psycopg.connect(deployment.metadata_dsn("automation")) as metadata:
        rows = metadata.execute(
            "SELECT action, tenant_id FROM audit_events WHERE resource_type = 'api_key' AND resource_id = %s "
            "ORDER BY at, event_id",
            (key_id,),
        ).fetchall()
    return [(action, tenant) for action, tenant in rows]


def _as(api: Api, token: str, method: str, path: str, **options: Any) -> httpx2.Response:
    return api.http.request(method, path, headers={"Authorization": f"Bearer {token}"}, **options)


def test_a_key_is_shown_once_stored_hashed_and_listed_by_prefix(
    api: Api, tenants: Tenants, platform_deployment: PlatformDeployment
) -> None:
    workspace = tenants.a
    response = api.request("POST", workspace.keys, json={"kind": "anon", "name": "browser", "expires_in_days": 30})
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    key = response.json()
    assert response.headers["location"] == f"{workspace.keys}/{key['id']}"
    assert apikeys.is_well_formed(key["secret"])
    assert key["secret"].startswith(key["prefix"])
    assert key["secret"].startswith("flc_anon_")
    assert (key["kind"], key["name"], key["status"]) == ("anon", "browser", "active")
    assert key["db_role"] == WorkspaceNames(workspace.tenant, workspace.slug).db_role("anon")
    expires = datetime.fromisoformat(key["expires_at"])
    assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)

    # Stored: the hash of the secret, bound to the workspace and its role; never the secret itself.
    stored = _stored(platform_deployment, key["secret"])
    assert stored is not None
    assert (stored["id"], stored["tenant"], stored["workspace"]) == (key["id"], workspace.tenant, workspace.slug)
    assert (stored["db_role"], stored["revoked_at"]) == (key["db_role"], None)
    assert key["secret"] not in {str(value) for value in stored.values()}

    service = _create(api, workspace, kind="service", name="ci")
    assert service["secret"].startswith("flc_service_")
    assert service["db_role"] == WorkspaceNames(workspace.tenant, workspace.slug).db_role("service")

    # Listed and read back by prefix only: neither the secret nor its hash is ever in an answer again.
    listing = api.request("GET", workspace.keys)
    assert listing.status_code == 200
    items = {item["id"]: item for item in listing.json()["items"]}
    assert {key["id"], service["id"]} <= set(items)
    assert items[key["id"]]["prefix"] == key["prefix"]
    for secret in (key["secret"], service["secret"]):
        assert secret not in listing.text
        assert apikeys.digest(secret).hex() not in listing.text
    assert all("secret" not in item and "secret_hash" not in item for item in items.values())
    one = api.request("GET", f"{workspace.keys}/{key['id']}")
    assert one.status_code == 200
    assert "secret" not in one.json()
    assert one.json() == {name: value for name, value in key.items() if name != "secret"}
    assert [item["id"] for item in api.get(f"{workspace.keys}?kind=service")["items"]] == [service["id"]]

    assert _audited(platform_deployment, key["id"]) == [("api_key.create", workspace.tenant)]


def test_listing_pages_with_a_cursor(api: Api, tenants: Tenants) -> None:
    workspace = tenants.a
    for number in range(3):
        _create(api, workspace, name=f"page {number}")
    everything = [item["id"] for item in api.get(f"{workspace.keys}?limit=200")["items"]]
    seen: list[str] = []
    cursor = ""
    while True:
        page = api.get(f"{workspace.keys}?limit=2{cursor}")
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == everything
    assert len(seen) >= 3


def test_a_revoked_key_is_marked_in_the_database_and_revoking_again_changes_nothing(
    api: Api, tenants: Tenants, platform_deployment: PlatformDeployment
) -> None:
    workspace = tenants.a
    key = _create(api, workspace, name="to revoke")
    revoked = api.request("DELETE", f"{workspace.keys}/{key['id']}")
    assert revoked.status_code == 204
    assert revoked.content == b""
    stored = _stored(platform_deployment, key["secret"])
    assert stored is not None
    assert stored["revoked_at"] is not None
    assert stored["revoked_at"] <= datetime.now(UTC)
    assert api.get(f"{workspace.keys}/{key['id']}")["status"] == "revoked"

    assert api.request("DELETE", f"{workspace.keys}/{key['id']}").status_code == 204
    again = _stored(platform_deployment, key["secret"])
    assert again is not None
    assert again["revoked_at"] == stored["revoked_at"]
    assert _audited(platform_deployment, key["id"]) == [
        ("api_key.create", workspace.tenant),
        ("api_key.revoke", workspace.tenant),
    ]
    assert key["id"] in [item["id"] for item in api.get(f"{workspace.keys}?status=revoked")["items"]]
    assert key["id"] not in [item["id"] for item in api.get(f"{workspace.keys}?status=active")["items"]]
    # A revoked key is not rotated (create a new one).
    assert api.request("POST", f"{workspace.keys}/{key['id']}/rotate").status_code == 409


def test_rotation_gives_a_new_key_and_the_old_one_works_for_the_grace_period(
    api: Api, tenants: Tenants, platform_deployment: PlatformDeployment
) -> None:
    workspace = tenants.a
    old = _create(api, workspace, kind="service", name="backend")
    rotated = api.request("POST", f"{workspace.keys}/{old['id']}/rotate", json={"grace_period_seconds": 3600})
    assert rotated.status_code == 201, rotated.text
    assert rotated.headers["cache-control"] == "no-store"
    new = rotated.json()
    assert rotated.headers["location"] == f"{workspace.keys}/{new['id']}"
    assert new["id"] != old["id"]
    assert new["secret"] != old["secret"]
    assert (new["kind"], new["name"], new["db_role"]) == (old["kind"], old["name"], old["db_role"])

    stored = _stored(platform_deployment, old["secret"])
    assert stored is not None
    assert stored["replaced_by"] == new["id"]
    assert stored["revoked_at"] is None
    assert datetime.now(UTC) < stored["expires_at"] <= datetime.now(UTC) + timedelta(seconds=3600)
    assert api.get(f"{workspace.keys}/{old['id']}")["status"] == "active"  # within its grace period
    assert _stored(platform_deployment, new["secret"]) is not None

    # One rotation per key: the next one starts from the replacement.
    assert api.request("POST", f"{workspace.keys}/{old['id']}/rotate").status_code == 409
    # Without a body: no grace, the replaced key stops at once.
    newest = api.request("POST", f"{workspace.keys}/{new['id']}/rotate")
    assert newest.status_code == 201, newest.text
    assert api.get(f"{workspace.keys}/{new['id']}")["status"] == "expired"
    assert api.get(f"{workspace.keys}/{newest.json()['id']}")["status"] == "active"
    assert [action for action, _ in _audited(platform_deployment, old["id"])] == ["api_key.create", "api_key.rotate"]
    assert [action for action, _ in _audited(platform_deployment, new["id"])] == ["api_key.create", "api_key.rotate"]


def test_bad_input_gets_a_clear_error(api: Api, tenants: Tenants) -> None:
    workspace = tenants.a
    for body in (
        {"kind": "admin", "name": "x"},
        {"kind": "anon"},
        {"kind": "anon", "name": ""},
        {"kind": "anon", "name": "x", "expires_in_days": 0},
        {"kind": "anon", "name": "x", "tenant": tenants.b.tenant},  # unknown field
        {"kind": "anon", "name": "nul\u0000inside"},
    ):
        response = api.request("POST", workspace.keys, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    key = _create(api, workspace, name="valid")
    for rotation in ({"grace_period_seconds": -1}, {"grace_period_seconds": 10**9}, {"grace": 5}):
        response = api.request("POST", f"{workspace.keys}/{key['id']}/rotate", json=rotation)
        assert response.status_code == 422, (rotation, response.text)
    assert api.request("GET", f"{workspace.keys}?status=lost").status_code == 422
    assert api.request("GET", f"{workspace.keys}?cursor=%00").status_code == 400
    assert api.request("GET", f"{workspace.keys}/key%00").status_code == 400
    missing = f"/v1/tenants/{workspace.tenant}/workspaces/nowhere/api-keys"
    assert api.request("POST", missing, json={"kind": "anon", "name": "x"}).status_code == 404
    assert api.request("GET", f"{workspace.keys}/key_nope").status_code == 404
    assert api.request("DELETE", f"{workspace.keys}/key_nope").status_code == 404
    # A key id of another workspace is not found under this one.
    assert api.request("GET", f"{tenants.b.keys}/{key['id']}").status_code == 404
    assert api.request("DELETE", f"{tenants.b.keys}/{key['id']}").status_code == 404
    assert api.get(f"{workspace.keys}/{key['id']}")["status"] == "active"


async def test_tenant_admin_cannot_mint_an_api_key_for_another_tenants_workspace_bug_517(
    api: Api, tenants: Tenants, identities: RealmIdentities
) -> None:
    admin_of_b = await identities.create_user(roles=["tenant_admin"], tenant_id=tenants.b.tenant, plan_id="starter")
    token = await identities.password_token(admin_of_b)
    before = [item["id"] for item in api.get(f"{tenants.a.keys}?limit=200")["items"]]
    victim = _create(api, tenants.a, name="victim's key")

    minted = _as(api, token, "POST", tenants.a.keys, json={"kind": "service", "name": "stolen"})
    assert minted.status_code == 404, minted.text
    assert minted.json()["detail"] == f"no tenant {tenants.a.tenant!r}"  # as for a tenant that does not exist
    assert _as(api, token, "GET", tenants.a.keys).status_code == 404
    assert _as(api, token, "POST", f"{tenants.a.keys}/{victim['id']}/rotate").status_code == 404
    assert _as(api, token, "DELETE", f"{tenants.a.keys}/{victim['id']}").status_code == 404
    # A's workspace named under B's tenant is not A's workspace either.
    assert _as(api, token, "GET", f"{tenants.b.keys}/{victim['id']}").status_code == 404
    after = [item["id"] for item in api.get(f"{tenants.a.keys}?limit=200")["items"]]
    assert after == [*before, victim["id"]]
    assert api.get(f"{tenants.a.keys}/{victim['id']}")["status"] == "active"

    # Positive control: the same admin mints a key for its own tenant's workspace.
    own = _as(api, token, "POST", tenants.b.keys, json={"kind": "service", "name": "own"})
    assert own.status_code == 201, own.text
    assert own.json()["db_role"] == WorkspaceNames(tenants.b.tenant, tenants.b.slug).db_role("service")
    assert _as(api, token, "DELETE", f"{tenants.b.keys}/{own.json()['id']}").status_code == 204


async def test_workspace_roles_manage_keys_of_their_own_workspace_only(
    api: Api, tenants: Tenants, identities: RealmIdentities
) -> None:
    admin = await identities.create_user(roles=["workspace_admin"], tenant_id=tenants.a.tenant, workspace_id="web")
    operator = await identities.create_user(
        roles=["workspace_operator"], tenant_id=tenants.a.tenant, workspace_id="web"
    )
    admin_token, operator_token = await identities.password_token(admin), await identities.password_token(operator)
    created = _as(api, admin_token, "POST", tenants.a.keys, json={"kind": "anon", "name": "by the workspace admin"})
    assert created.status_code == 201, created.text
    assert _as(api, operator_token, "GET", tenants.a.keys).status_code == 200
    assert _as(api, operator_token, "POST", tenants.a.keys, json={"kind": "anon", "name": "x"}).status_code == 403
    other = f"/v1/tenants/{tenants.a.tenant}/workspaces/other/api-keys"
    assert _as(api, admin_token, "POST", other, json={"kind": "anon", "name": "x"}).status_code == 404
