"""The Keycloak dynamic provider, run by the real engine against the local platform's Keycloak.

Checked with Keycloak's own endpoints: OIDC discovery, the token endpoint (real client_credentials grants, verified
against the realm's JWKS with PyJWT) and the admin API for out-of-band changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx2
import jwt
import pulumi
import pytest
from pulumi.automation import OpType

from components.connections import Backends, KeycloakConnection
from components.providers import keycloak as keycloak_provider
from components.providers.keycloak import (
    ClientArgs,
    ClientScopeArgs,
    KeycloakClient,
    KeycloakClientScope,
    KeycloakRealm,
    KeycloakRealmRole,
    RealmArgs,
    RealmRoleArgs,
    hardcoded_claim,
    realm_roles_claim,
    user_attribute_claim,
)
from falcone import pulumi_runner
from falcone.toolchain import Toolchain
from localplatform.endpoints import KeycloakEndpoint
from tests.providers.direct import provider_props

pytestmark = [pytest.mark.platform, pytest.mark.toolchain]


def _quiet(_line: str) -> None:
    """Engine output goes to the test log only on failure (the CommandError carries it)."""


@pytest.fixture
def keycloak(keycloak_endpoint: KeycloakEndpoint, backends: Backends) -> KeycloakConnection:
    _ = keycloak_endpoint  # fails the test with a start hint when Keycloak does not answer
    assert backends.keycloak is not None
    return backends.keycloak


class _Admin:
    """The test's own view of the server: the admin REST API with a fresh admin token."""

    def __init__(self, kc: KeycloakConnection) -> None:
        self.url = kc.url
        self.http = httpx2.Client(base_url=kc.url, timeout=30.0)
        grant = {"grant_type": "password", "client_id": kc.admin_client_id, "username": kc.admin_user}
        token = self.http.post(
            f"/realms/{kc.admin_realm}/protocol/openid-connect/token", data={**grant, "password": kc.admin_password}
        )
        token.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def get(self, path: str) -> Any:
        response = self.http.get(f"/admin/realms{path}")
        response.raise_for_status()
        return response.json()

    def put(self, path: str, body: Any) -> None:
        self.http.put(f"/admin/realms{path}", json=body).raise_for_status()

    def post(self, path: str, body: Any) -> str:
        """Create an object; its server id."""
        response = self.http.post(f"/admin/realms{path}", json=body)
        response.raise_for_status()
        return str(response.headers["location"]).rsplit("/", 1)[-1]

    def delete(self, path: str) -> None:
        self.http.delete(f"/admin/realms{path}").raise_for_status()

    def client(self, realm: str, client_id: str) -> dict[str, Any]:
        (found,) = self.get(f"/{realm}/clients?clientId={client_id}")
        return dict(found)

    def close(self) -> None:
        self.http.close()


def _discovery_status(url: str, realm: str) -> int:
    return httpx2.get(f"{url}/realms/{realm}/.well-known/openid-configuration", timeout=30.0).status_code


def _token(url: str, realm: str, client_id: str, secret: str) -> httpx2.Response:
    return httpx2.post(
        f"{url}/realms/{realm}/protocol/openid-connect/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        timeout=30.0,
    )


def _verified_claims(url: str, realm: str, token: str) -> dict[str, Any]:
    """Decode a token with the signature checked against `realm`'s published keys (raises when it does not verify)."""
    jwks = httpx2.get(f"{url}/realms/{realm}/protocol/openid-connect/certs", timeout=30.0).json()
    kid = jwt.get_unverified_header(token)["kid"]
    keys = [jwt.PyJWK(key) for key in jwks["keys"] if key["kid"] == kid]
    if not keys:
        raise jwt.InvalidSignatureError(f"no key {kid} in realm {realm}'s JWKS")
    claims = jwt.decode(
        token,
        keys[0],
        algorithms=[keys[0].algorithm_name],
        issuer=f"{url}/realms/{realm}",
        options={"verify_aud": False},
    )
    return dict(claims)


# --- 1. realms ------------------------------------------------------------------------------------------------


def _realm_program(kc: KeycloakConnection, name: str, lifespan: int) -> pulumi.automation.PulumiFn:
    def program() -> None:
        realm = KeycloakRealm(
            "realm",
            RealmArgs(
                name=name,
                display_name="Tenant under test",
                brute_force_protected=True,
                failure_factor=7,
                access_token_lifespan=lifespan,
                sso_session_idle_timeout=900,
                sso_session_max_lifespan=7200,
                login_with_email_allowed=False,
                registration_allowed=False,
                password_policy="length(14) and notUsername",
            ),
            kc,
        )
        pulumi.export("realm", realm.name)

    return program


def test_realm_up_refresh_drift_update_destroy(
    toolchain: Toolchain, keycloak: KeycloakConnection, backend_dir: Path
) -> None:
    _ = toolchain
    name = f"t{uuid4().hex[:10]}"
    stack = pulumi_runner.inline_stack("kc-realm", _realm_program(keycloak, name, 240), backend_dir, "foundation-kc")
    admin = _Admin(keycloak)
    try:
        assert stack.up(on_output=_quiet).summary.result == "succeeded"
        discovery = httpx2.get(f"{keycloak.url}/realms/{name}/.well-known/openid-configuration", timeout=30.0)
        assert discovery.status_code == 200
        assert discovery.json()["issuer"] == f"{keycloak.url}/realms/{name}"
        live = admin.get(f"/{name}")
        realm_uuid = live["id"]
        assert {
            key: live.get(key)
            for key in (
                "displayName",
                "enabled",
                "bruteForceProtected",
                "failureFactor",
                "accessTokenLifespan",
                "ssoSessionIdleTimeout",
                "ssoSessionMaxLifespan",
                "loginWithEmailAllowed",
                "registrationAllowed",
                "passwordPolicy",
            )
        } == {
            "displayName": "Tenant under test",
            "enabled": True,
            "bruteForceProtected": True,
            "failureFactor": 7,
            "accessTokenLifespan": 240,
            "ssoSessionIdleTimeout": 900,
            "ssoSessionMaxLifespan": 7200,
            "loginWithEmailAllowed": False,
            "registrationAllowed": False,
            "passwordPolicy": "length(14) and notUsername",
        }

        clean = stack.preview_refresh(on_output=_quiet)
        assert set(clean.change_summary) <= {"same"}, clean.change_summary

        # Out-of-band change: somebody turns brute-force protection off. Refresh sees it; `up` repairs it.
        admin.put(f"/{name}", {"bruteForceProtected": False})
        drift = stack.preview_refresh(on_output=_quiet)
        assert drift.change_summary.get(OpType.UPDATE) == 1, drift.change_summary
        stack.refresh(on_output=_quiet)
        assert stack.up(on_output=_quiet).summary.result == "succeeded"
        assert admin.get(f"/{name}")["bruteForceProtected"] is True

        # A setting changed in the program is updated in place: same realm (same server id), new lifespan.
        stack = pulumi_runner.inline_stack(
            "kc-realm", _realm_program(keycloak, name, 600), backend_dir, "foundation-kc"
        )
        changed = stack.up(on_output=_quiet)
        assert changed.summary.resource_changes == {"same": 1, "update": 1}, changed.summary.resource_changes
        live = admin.get(f"/{name}")
        assert (live["id"], live["accessTokenLifespan"]) == (realm_uuid, 600)
    finally:
        stack.destroy(on_output=_quiet)
        admin.close()
    assert _discovery_status(keycloak.url, name) == 404
    stack.workspace.remove_stack("kc-realm")


# --- 2 + 3. roles, client scopes, clients: tenant claims in real tokens ---------------------------------------


def _tenant_program(kc: KeycloakConnection, realms: dict[str, str]) -> pulumi.automation.PulumiFn:
    """One realm per tenant; each with a tenant scope, a service-account client and (realm A) a public SPA client."""

    def program() -> None:
        created: dict[str, KeycloakRealm] = {}
        for key, realm_name in realms.items():
            realm = created[key] = KeycloakRealm(f"realm-{key}", RealmArgs(name=realm_name), kc)
            after_realm = pulumi.ResourceOptions(depends_on=[realm])
            role = KeycloakRealmRole(
                f"role-{key}",
                RealmRoleArgs(realm=realm_name, name="ws-admin", description="workspace admin"),
                kc,
                opts=after_realm,
            )
            scope = KeycloakClientScope(
                f"scope-{key}",
                ClientScopeArgs(
                    realm=realm_name,
                    name="falcone-tenant",
                    protocol_mappers=[
                        hardcoded_claim("tenant_id", f"tenant-{key}"),
                        hardcoded_claim("workspace_id", f"ws-{key}"),
                        user_attribute_claim("locale", "locale"),
                        realm_roles_claim("falcone_roles"),
                    ],
                ),
                kc,
                opts=after_realm,
            )
            service = KeycloakClient(
                f"svc-{key}",
                ClientArgs(
                    realm=realm_name,
                    client_id="svc",  # the same client id in every realm: only the realm tells them apart
                    kind="confidential",
                    standard_flow_enabled=False,
                    service_accounts_enabled=True,
                    default_client_scopes=["basic", "falcone-tenant"],
                    access_token_lifespan=120,
                    service_account_realm_roles=["ws-admin"],
                ),
                kc,
                opts=pulumi.ResourceOptions(depends_on=[role, scope]),
            )
            pulumi.export(f"secret_{key}", service.client_secret)
        KeycloakClient(
            "spa-a",
            ClientArgs(
                realm=realms["a"],
                client_id="spa",
                kind="public",
                redirect_uris=["https://a.example.test/callback"],
                web_origins=["https://a.example.test"],
            ),
            kc,
            opts=pulumi.ResourceOptions(depends_on=[created["a"]]),
        )

    return program


def test_tenant_claims_in_real_tokens_isolation_drift_destroy(
    toolchain: Toolchain, keycloak: KeycloakConnection, backend_dir: Path
) -> None:
    _ = toolchain
    url, run = keycloak.url, uuid4().hex[:8]
    realms = {"a": f"ta{run}", "b": f"tb{run}"}
    realm_a, realm_b = realms["a"], realms["b"]
    stack = pulumi_runner.inline_stack("kc-tenant", _tenant_program(keycloak, realms), backend_dir, "foundation-kc")
    admin = _Admin(keycloak)
    try:
        up = stack.up(on_output=_quiet)
        assert up.summary.result == "succeeded"
        secret_a, secret_b = up.outputs["secret_a"], up.outputs["secret_b"]
        assert secret_a.secret
        assert secret_b.secret
        # The output is the server's generated secret, and the state holds it encrypted only.
        svc_a = admin.client(realm_a, "svc")
        assert secret_a.value == admin.get(f"/{realm_a}/clients/{svc_a['id']}/client-secret")["value"]
        assert secret_a.value != secret_b.value
        # (export_stack() shows secrets decrypted, so read the checkpoint files of the file backend themselves.)
        state = "".join(path.read_text() for path in backend_dir.rglob("*.json"))
        assert '"ciphertext"' in state
        assert secret_a.value not in state
        assert keycloak.admin_password not in state

        # Positive control: a real client_credentials token from realm A carries A's tenant and workspace claims,
        # the service account's realm role, and the client's own lifespan; it verifies against A's JWKS.
        token_a = _token(url, realm_a, "svc", secret_a.value)
        assert token_a.status_code == 200, token_a.text
        claims_a = _verified_claims(url, realm_a, token_a.json()["access_token"])
        assert (claims_a["tenant_id"], claims_a["workspace_id"]) == ("tenant-a", "ws-a")
        assert "ws-admin" in claims_a["falcone_roles"]
        assert claims_a["exp"] - claims_a["iat"] == 120
        assert "falcone-tenant" in claims_a["scope"].split()
        token_b = _token(url, realm_b, "svc", secret_b.value)
        assert token_b.status_code == 200, token_b.text
        claims_b = _verified_claims(url, realm_b, token_b.json()["access_token"])
        assert (claims_b["tenant_id"], claims_b["workspace_id"]) == ("tenant-b", "ws-b")

        # Negative controls: B's secret gets nothing from realm A (same client id "svc"), and B's token does not
        # verify as a realm-A token.
        crossed = _token(url, realm_a, "svc", secret_b.value)
        assert crossed.status_code == 401, crossed.text
        assert crossed.json()["error"] == "unauthorized_client"
        with pytest.raises(jwt.PyJWTError):
            _verified_claims(url, realm_a, token_b.json()["access_token"])

        # The public SPA client: PKCE S256, its redirect URIs and origins, no secret.
        spa = admin.client(realm_a, "spa")
        assert (spa["publicClient"], spa["attributes"].get("pkce.code.challenge.method")) == (True, "S256")
        assert spa["redirectUris"] == ["https://a.example.test/callback"]
        # Exactly the declared default scopes on the service client (the realm's defaults were removed).
        assert sorted(svc_a["defaultClientScopes"]) == ["basic", "falcone-tenant"]

        clean = stack.preview_refresh(on_output=_quiet)
        assert set(clean.change_summary) <= {"same"}, clean.change_summary

        # Drift 1: a protocol mapper deleted out of band. Tokens lose workspace_id; refresh sees it; `up` repairs it.
        (scope,) = [s for s in admin.get(f"/{realm_a}/client-scopes") if s["name"] == "falcone-tenant"]
        (mapper,) = [m for m in scope["protocolMappers"] if m["name"] == "workspace_id"]
        admin.delete(f"/{realm_a}/client-scopes/{scope['id']}/protocol-mappers/models/{mapper['id']}")
        stripped = _verified_claims(url, realm_a, _token(url, realm_a, "svc", secret_a.value).json()["access_token"])
        assert "workspace_id" not in stripped
        drift = stack.preview_refresh(on_output=_quiet)
        assert drift.change_summary.get(OpType.UPDATE) == 1, drift.change_summary
        stack.refresh(on_output=_quiet)
        assert stack.up(on_output=_quiet).summary.result == "succeeded"
        repaired = _verified_claims(url, realm_a, _token(url, realm_a, "svc", secret_a.value).json()["access_token"])
        assert (repaired["tenant_id"], repaired["workspace_id"]) == ("tenant-a", "ws-a")

        # Drift 2: somebody adds an attacker's redirect URI to the SPA client. Detected and repaired.
        admin.put(f"/{realm_a}/clients/{spa['id']}", {**spa, "redirectUris": ["https://evil.example.test/*"]})
        drift = stack.preview_refresh(on_output=_quiet)
        assert drift.change_summary.get(OpType.UPDATE) == 1, drift.change_summary
        stack.refresh(on_output=_quiet)
        assert stack.up(on_output=_quiet).summary.result == "succeeded"
        assert admin.client(realm_a, "spa")["redirectUris"] == ["https://a.example.test/callback"]

        clean = stack.preview_refresh(on_output=_quiet)
        assert set(clean.change_summary) <= {"same"}, clean.change_summary
    finally:
        stack.destroy(on_output=_quiet)
        admin.close()
    assert _discovery_status(url, realm_a) == 404
    assert _discovery_status(url, realm_b) == 404
    stack.workspace.remove_stack("kc-tenant")


# --- the admin client and name validation ---------------------------------------------------------------------


def test_admin_client_renews_expired_and_revoked_tokens(keycloak: KeycloakConnection) -> None:
    client = keycloak_provider._Admin(asdict(keycloak))
    assert client.get("/master")["realm"] == "master"
    first = client._token

    client._expires_at = 0.0  # expired: renewed (refresh-token grant) before the next request
    assert client.get("/master")["realm"] == "master"
    assert client._token != first

    client._token = "not-a-token"  # revoked early (e.g. a Keycloak restart): one 401, one fresh login, success
    assert client.get("/master")["realm"] == "master"
    assert client._token != "not-a-token"
    assert client.get(f"/nope{uuid4().hex[:6]}") is None  # absent objects are None, not errors


@pytest.mark.parametrize("bad", ["../master", "a/b", "", "x y", "é", "-lead", "a?b=c"])
def test_names_that_reach_url_paths_are_validated(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid Keycloak"):
        RealmArgs(name=bad)
    with pytest.raises(ValueError, match="invalid Keycloak"):
        RealmRoleArgs(realm="ok", name=bad)
    with pytest.raises(ValueError, match="invalid Keycloak"):
        ClientArgs(realm="ok", client_id="svc", default_client_scopes=[bad])


def test_client_args_reject_inconsistent_kinds() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        ClientArgs(realm="r", client_id="c", kind="secret")
    with pytest.raises(ValueError, match="only a confidential client"):
        ClientArgs(realm="r", client_id="c", kind="public", service_accounts_enabled=True)
    with pytest.raises(ValueError, match="needs service_accounts_enabled"):
        ClientArgs(realm="r", client_id="c", service_account_realm_roles=["admin"])


# --- adoption: a create that reached the server but not the state runs again (components/providers/base.py) ---


@pytest.fixture
def realm(keycloak: KeycloakConnection) -> Iterator[str]:
    name = f"tr{uuid4().hex[:8]}"
    admin = _Admin(keycloak)
    admin.post("", {"realm": name, "enabled": True})
    yield name
    admin.delete(f"/{name}")
    admin.close()


def test_create_adopts_a_realm_left_by_an_interrupted_run(keycloak: KeycloakConnection) -> None:
    name = f"tr{uuid4().hex[:8]}"
    props = provider_props(RealmArgs(name=name, display_name="Declared", access_token_lifespan=600), keycloak)
    admin = _Admin(keycloak)
    admin.post("", {"realm": name, "enabled": False, "displayName": "Leftover", "accessTokenLifespan": 60})
    try:
        result = keycloak_provider.RealmProvider().create(props)

        assert (result.id, result.outs) == (name, props)
        live = admin.get(f"/{name}")
        assert (live["enabled"], live["displayName"], live["accessTokenLifespan"]) == (True, "Declared", 600)
        with pytest.raises(keycloak_provider.KeycloakError) as refused:  # positive control: a bad setting still fails
            keycloak_provider.RealmProvider().create({**props, "name": f"{name}x", "password_policy": "nonsense(1)"})
        assert not isinstance(refused.value, keycloak_provider.KeycloakConflictError)
    finally:
        admin.delete(f"/{name}")
        admin.close()


def test_create_adopts_a_realm_role_left_by_an_interrupted_run(keycloak: KeycloakConnection, realm: str) -> None:
    props = provider_props(RealmRoleArgs(realm=realm, name="ws-admin", description="declared"), keycloak)
    admin = _Admin(keycloak)
    admin.post(f"/{realm}/roles", {"name": "ws-admin", "description": "leftover"})

    result = keycloak_provider.RealmRoleProvider().create(props)

    assert (result.id, result.outs) == (f"{realm}/ws-admin", props)
    assert admin.get(f"/{realm}/roles/ws-admin")["description"] == "declared"
    with pytest.raises(keycloak_provider.KeycloakError):  # positive control: a missing realm still fails
        keycloak_provider.RealmRoleProvider().create({**props, "realm": f"{realm}-missing"})


def test_create_adopts_a_client_scope_left_by_an_interrupted_run(keycloak: KeycloakConnection, realm: str) -> None:
    mappers = [hardcoded_claim("tenant_id", "tenant-a"), realm_roles_claim("falcone_roles")]
    props = provider_props(
        ClientScopeArgs(realm=realm, name="falcone-tenant", description="declared", protocol_mappers=mappers), keycloak
    )
    admin = _Admin(keycloak)
    # The leftover: another description, a mapper with another value, and a mapper nobody declared.
    leftover = admin.post(
        f"/{realm}/client-scopes", {"name": "falcone-tenant", "protocol": "openid-connect", "description": "old"}
    )
    for name, value in (("tenant_id", "tenant-b"), ("stray", "x")):
        mapper = hardcoded_claim(name, value)
        admin.post(
            f"/{realm}/client-scopes/{leftover}/protocol-mappers/models",
            {
                "name": name,
                "protocol": "openid-connect",
                "protocolMapper": mapper["protocol_mapper"],
                "config": mapper["config"],
            },
        )

    result = keycloak_provider.ClientScopeProvider().create(props)

    assert (result.id, result.outs) == (leftover, props)  # the server's id of the scope that exists
    live = keycloak_provider.ClientScopeProvider().read(result.id, props).outs
    assert live is not None
    assert live["description"] == "declared"
    assert live["protocol_mappers"] == mappers  # exactly the declared mappers, with the declared values
    with pytest.raises(keycloak_provider.KeycloakError):  # positive control: a missing realm still fails
        keycloak_provider.ClientScopeProvider().create({**props, "realm": f"{realm}-missing"})


def test_create_adopts_a_client_left_by_an_interrupted_run(keycloak: KeycloakConnection, realm: str) -> None:
    admin = _Admin(keycloak)
    admin.post(f"/{realm}/roles", {"name": "ws-admin"})
    args = ClientArgs(
        realm=realm,
        client_id="svc",
        standard_flow_enabled=False,
        service_accounts_enabled=True,
        default_client_scopes=["basic", "roles"],
        service_account_realm_roles=["ws-admin"],
    )
    props = provider_props(args, keycloak, client_secret=None)
    # The leftover: created, but none of what follows the POST (service account, roles, scopes) happened.
    leftover = admin.post(
        f"/{realm}/clients", {"clientId": "svc", "publicClient": False, "redirectUris": ["https://old.test/*"]}
    )

    result = keycloak_provider.ClientProvider().create(props)

    assert result.id == leftover
    assert result.outs is not None
    live_secret = admin.get(f"/{realm}/clients/{leftover}/client-secret")["value"]
    assert result.outs == {**props, "client_secret": live_secret}  # the server's secret, read back
    client = admin.client(realm, "svc")
    assert (client["serviceAccountsEnabled"], client["redirectUris"]) == (True, [])
    assert sorted(client["defaultClientScopes"]) == ["basic", "roles"]
    token = _token(keycloak.url, realm, "svc", live_secret)
    assert token.status_code == 200, token.text
    assert "ws-admin" in _verified_claims(keycloak.url, realm, token.json()["access_token"])["realm_access"]["roles"]
    with pytest.raises(keycloak_provider.KeycloakError):  # positive control: a missing realm still fails
        keycloak_provider.ClientProvider().create({**props, "realm": f"{realm}-missing"})
