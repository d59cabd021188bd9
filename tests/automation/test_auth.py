"""Authentication and authorization of the automation API against the session's real platform realm.

A small app built here has routes like the service's (each depends on `CurrentPrincipal` and calls `authorize`)
and is served in process; the tokens are real ones from Keycloak, users are created with the roles and
tenant/workspace attributes of each case. Every refusal has a positive control: the owner succeeds.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI, Request

from automation import auth
from automation.auth import CurrentPrincipal, TokenVerifier
from automation.authorization import Action, authorize, not_found, visible_tenants, visible_workspaces
from components.connections import KeycloakConnection
from falcone import apikeys, platform_stack
from falcone.http import problems
from tests.automation.identity import RealmIdentities, User
from tests.platform_stack_fixtures import PlatformDeployment

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]

ACME, GLOBEX = "acme", "globex"
TENANTS = (ACME, GLOBEX)
WORKSPACES = ("web", "api")
# (method, path, action): what the service's routes will do, in miniature.
ROUTES = [
    ("POST", "/v1/tenants", Action.TENANT_CREATE),
    ("GET", "/v1/tenants/{tenant}", Action.TENANT_READ),
    ("PATCH", "/v1/tenants/{tenant}", Action.TENANT_UPDATE),
    ("DELETE", "/v1/tenants/{tenant}", Action.TENANT_DELETE),
    ("PUT", "/v1/tenants/{tenant}/quotas", Action.QUOTA_OVERRIDE),
    ("POST", "/v1/tenants/{tenant}/workspaces", Action.WORKSPACE_CREATE),
    ("GET", "/v1/tenants/{tenant}/workspaces/{workspace}", Action.WORKSPACE_READ),
    ("PATCH", "/v1/tenants/{tenant}/workspaces/{workspace}", Action.WORKSPACE_UPDATE),
    ("DELETE", "/v1/tenants/{tenant}/workspaces/{workspace}", Action.WORKSPACE_DELETE),
    ("POST", "/v1/tenants/{tenant}/workspaces/{workspace}/api-keys", Action.API_KEY_MANAGE),
    ("GET", "/v1/tenants/{tenant}/workspaces/{workspace}/api-keys", Action.API_KEY_READ),
    ("POST", "/v1/tenants/{tenant}/workspaces/{workspace}/applications", Action.APPLICATION_MANAGE),
    ("POST", "/v1/tenants/{tenant}/preview", Action.STACK_PREVIEW),
    ("POST", "/v1/tenants/{tenant}/drift", Action.STACK_DRIFT),
    ("POST", "/v1/drift-sweeps", Action.DRIFT_SWEEP),
    ("GET", "/v1/audit", Action.AUDIT_READ),
]


def _route(action: Action) -> Callable[..., Coroutine[Any, Any, dict[str, str]]]:
    async def handler(request: Request, principal: CurrentPrincipal) -> dict[str, str]:
        authorize(principal, action, request.path_params.get("tenant"), request.path_params.get("workspace"))
        return {"allowed": str(action)}

    return handler


def build_app(verifier: TokenVerifier) -> FastAPI:
    app = FastAPI()
    problems.install(app)
    auth.install(app)
    app.state.verifier = verifier
    for method, path, action in ROUTES:
        app.add_api_route(path, _route(action), methods=[method])

    @app.get("/v1/whoami")
    async def whoami(principal: CurrentPrincipal) -> dict[str, Any]:
        return {
            "username": principal.username,
            "roles": sorted(principal.roles),
            "tenant_id": principal.tenant_id,
            "workspace_id": principal.workspace_id,
            "actor": principal.audit_actor(),
        }

    @app.get("/v1/tenants")
    async def list_tenants(principal: CurrentPrincipal) -> list[str]:
        authorize(principal, Action.TENANT_READ)
        visible = visible_tenants(principal)
        return [tenant for tenant in TENANTS if visible is None or tenant in visible]

    @app.get("/v1/tenants/{tenant}/workspaces")
    async def list_workspaces(tenant: str, principal: CurrentPrincipal) -> list[str]:
        authorize(principal, Action.WORKSPACE_READ, tenant)
        visible = visible_workspaces(principal, tenant)
        return [workspace for workspace in WORKSPACES if visible is None or workspace in visible]

    return app


@dataclass(frozen=True)
class People:
    platform_admin: User
    platform_operator: User
    acme_admin: User
    acme_operator: User
    globex_admin: User
    web_admin: User  # workspace_admin of acme/web
    web_operator: User
    nobody: User  # a user of the realm without any platform role


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


@pytest.fixture(scope="module")
async def people(identities: RealmIdentities) -> People:
    create = identities.create_user
    return People(
        platform_admin=await create(roles=["platform_admin"]),
        platform_operator=await create(roles=["platform_operator"]),
        acme_admin=await create(roles=["tenant_admin"], tenant_id=ACME, plan_id="growth"),
        acme_operator=await create(roles=["tenant_operator"], tenant_id=ACME),
        globex_admin=await create(roles=["tenant_admin"], tenant_id=GLOBEX),
        web_admin=await create(roles=["workspace_admin"], tenant_id=ACME, workspace_id="web"),
        web_operator=await create(roles=["workspace_operator"], tenant_id=ACME, workspace_id="web"),
        nobody=await create(tenant_id=ACME),
    )


@pytest.fixture(scope="module")
async def verifier(
    platform_deployment: PlatformDeployment, keycloak: KeycloakConnection
) -> AsyncIterator[TokenVerifier]:
    built = TokenVerifier.for_realm(keycloak.url, platform_deployment.outputs.realm)
    yield built
    await built.aclose()


@pytest.fixture(scope="module")
async def client(verifier: TokenVerifier) -> AsyncIterator[httpx2.AsyncClient]:
    transport = httpx2.ASGITransport(app=build_app(verifier))
    async with httpx2.AsyncClient(transport=transport, base_url="http://automation") as http:
        yield http


@pytest.fixture(scope="module")
async def foreign(keycloak: KeycloakConnection) -> AsyncIterator[RealmIdentities]:
    """A realm of its own with the platform's client, role and roles claim."""
    async with RealmIdentities(keycloak, f"foreign-{uuid4().hex[:8]}") as realm:
        await realm.create_realm_like_the_platform()
        try:
            yield realm
        finally:
            await realm.delete_realm()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Caller:
    """One person's requests to the app, with a fresh token."""

    def __init__(self, client: httpx2.AsyncClient, identities: RealmIdentities, user: User) -> None:
        self.client, self.identities, self.user = client, identities, user
        self.token = ""

    async def __call__(self, method: str, path: str, **kwargs: Any) -> httpx2.Response:
        if not self.token:
            self.token = await self.identities.password_token(self.user)
        headers = {**bearer(self.token), **kwargs.pop("headers", {})}
        return await self.client.request(method, path, headers=headers, **kwargs)

    async def status(self, method: str, path: str) -> int:
        return (await self(method, path)).status_code


@pytest.fixture
def as_user(client: httpx2.AsyncClient, identities: RealmIdentities) -> Callable[[User], Caller]:
    return lambda user: Caller(client, identities, user)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    padded = [part + "=" * (-len(part) % 4) for part in (header, payload)]
    return json.loads(base64.urlsafe_b64decode(padded[0])), json.loads(base64.urlsafe_b64decode(padded[1])), signature


def _assert_refused(response: httpx2.Response, *, detail: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == problems.MEDIA_TYPE
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert detail in response.json()["detail"]


# --- who the token says -----------------------------------------------------------------------------------------


async def test_token_claims_become_the_principal(as_user: Callable[[User], Caller], people: People) -> None:
    body = (await as_user(people.web_admin)("GET", "/v1/whoami")).json()
    assert body["username"] == people.web_admin.username
    assert (body["roles"], body["tenant_id"], body["workspace_id"]) == (["workspace_admin"], ACME, "web")
    assert body["actor"] == {"type": "user", "id": people.web_admin.id, "roles": ["workspace_admin"]}


async def test_operator_client_credentials_act_as_platform_admin(
    platform_deployment: PlatformDeployment, identities: RealmIdentities, client: httpx2.AsyncClient
) -> None:
    deployment = platform_deployment
    stack = platform_stack.stack(deployment.backends, deployment.state_dir, deployment.work_dir, deployment.settings)
    secret = stack.outputs()["operatorClientSecret"]
    assert secret.secret
    token = await identities.client_credentials_token(secret.value)
    whoami = (await client.get("/v1/whoami", headers=bearer(token))).json()
    assert whoami["roles"] == ["platform_admin"]
    assert whoami["actor"]["type"] == "service"
    assert (await client.post("/v1/tenants", headers=bearer(token))).status_code == 200
    # The secret is the credential: a wrong one gets no token at all.
    with pytest.raises(AssertionError, match="HTTP 401"):
        await identities.client_credentials_token("not-the-secret")


# --- authorization by role and context ----------------------------------------------------------------------


async def test_platform_admin_may_do_everything(as_user: Callable[[User], Caller], people: People) -> None:
    admin = as_user(people.platform_admin)
    for method, path, _action in ROUTES:
        concrete = path.format(tenant=GLOBEX, workspace="api")
        assert await admin.status(method, concrete) == 200, (method, concrete)
    assert (await admin("GET", "/v1/tenants")).json() == [ACME, GLOBEX]


async def test_tenant_admin_cannot_see_another_tenant(as_user: Callable[[User], Caller], people: People) -> None:
    owner, intruder = as_user(people.acme_admin), as_user(people.globex_admin)
    for method, path in [
        ("GET", "/v1/tenants/acme"),
        ("POST", "/v1/tenants/acme/workspaces"),
        ("GET", "/v1/tenants/acme/workspaces/web"),
        ("DELETE", "/v1/tenants/acme/workspaces/web"),
        ("POST", "/v1/tenants/acme/workspaces/web/api-keys"),
        ("GET", "/v1/tenants/acme/workspaces/web/api-keys"),
        ("POST", "/v1/tenants/acme/preview"),
    ]:
        assert await owner.status(method, path) == 200, (method, path)  # positive control
        refused = await intruder(method, path)
        assert refused.status_code == 404, (method, path)
        # The same answer as for a tenant that does not exist: nothing tells that acme is there.
        assert refused.json()["detail"] == not_found(ACME).detail
    # Headers a client sends never choose the tenant: only the token's claim does.
    spoofed = await intruder("GET", "/v1/tenants/acme", headers={"X-Auth-Tenant-Id": ACME, "X-Tenant-Id": ACME})
    assert spoofed.status_code == 404
    assert (await intruder("GET", "/v1/tenants")).json() == [GLOBEX]


async def test_tenant_admin_cannot_change_plans_suspend_or_create_tenants(
    as_user: Callable[[User], Caller], people: People
) -> None:
    admin = as_user(people.acme_admin)
    assert await admin.status("POST", "/v1/tenants/acme/workspaces") == 200  # manages its workspaces
    for method, path in [
        ("POST", "/v1/tenants"),
        ("PATCH", "/v1/tenants/acme"),  # plan change, suspend/resume
        ("DELETE", "/v1/tenants/acme"),
        ("PUT", "/v1/tenants/acme/quotas"),
        ("POST", "/v1/drift-sweeps"),
    ]:
        refused = await admin(method, path)
        assert refused.status_code == 403, (method, path)
        assert "tenant_admin" in refused.json()["detail"]


async def test_workspace_admin_is_confined_to_its_workspace(as_user: Callable[[User], Caller], people: People) -> None:
    admin = as_user(people.web_admin)
    for method, path in [
        ("GET", "/v1/tenants/acme/workspaces/web"),
        ("POST", "/v1/tenants/acme/workspaces/web/api-keys"),
        ("POST", "/v1/tenants/acme/workspaces/web/applications"),
    ]:
        assert await admin.status(method, path) == 200, (method, path)
    for method, path in [
        ("GET", "/v1/tenants/acme/workspaces/api"),
        ("POST", "/v1/tenants/acme/workspaces/api/api-keys"),
        ("DELETE", "/v1/tenants/acme/workspaces/api"),
        ("GET", "/v1/tenants/globex/workspaces/web"),
        ("POST", "/v1/tenants/globex/workspaces/web/api-keys"),
    ]:
        assert await admin.status(method, path) == 404, (method, path)
    for method, path in [
        ("DELETE", "/v1/tenants/acme/workspaces/web"),
        ("PATCH", "/v1/tenants/acme/workspaces/web"),
        ("POST", "/v1/tenants/acme/workspaces"),
        ("GET", "/v1/tenants/acme"),
        ("POST", "/v1/tenants/acme/preview"),
    ]:
        assert await admin.status(method, path) == 403, (method, path)
    assert (await admin("GET", "/v1/tenants/acme/workspaces")).json() == ["web"]


async def test_operators_read_but_cannot_mutate(as_user: Callable[[User], Caller], people: People) -> None:
    platform, tenant, workspace = (
        as_user(p) for p in (people.platform_operator, people.acme_operator, people.web_operator)
    )
    for method, path in [
        ("GET", "/v1/tenants/globex"),
        ("GET", "/v1/tenants/acme/workspaces/api/api-keys"),
        ("POST", "/v1/tenants/globex/preview"),
        ("POST", "/v1/tenants/globex/drift"),
        ("POST", "/v1/drift-sweeps"),
        ("GET", "/v1/audit"),
    ]:
        assert await platform.status(method, path) == 200, (method, path)
    for method, path in [
        ("POST", "/v1/tenants"),
        ("PATCH", "/v1/tenants/acme"),
        ("DELETE", "/v1/tenants/acme/workspaces/web"),
        ("POST", "/v1/tenants/acme/workspaces/web/api-keys"),
        ("PUT", "/v1/tenants/acme/quotas"),
    ]:
        assert await platform.status(method, path) == 403, (method, path)
        assert await tenant.status(method, path) == 403, (method, path)
    assert await tenant.status("POST", "/v1/tenants/acme/preview") == 200
    assert await tenant.status("POST", "/v1/tenants/globex/preview") == 404
    assert await workspace.status("GET", "/v1/tenants/acme/workspaces/web/api-keys") == 200
    assert await workspace.status("POST", "/v1/tenants/acme/workspaces/web/api-keys") == 403
    assert await workspace.status("GET", "/v1/tenants/acme/workspaces/api/api-keys") == 404


async def test_user_without_a_role_is_forbidden_everywhere(as_user: Callable[[User], Caller], people: People) -> None:
    nobody = as_user(people.nobody)
    assert (await nobody("GET", "/v1/whoami")).json()["roles"] == []  # authenticated, though
    for method, path, _action in ROUTES:
        assert await nobody.status(method, path.format(tenant=ACME, workspace="web")) == 403, (method, path)
    assert await nobody.status("GET", "/v1/tenants") == 403


async def test_user_cannot_choose_their_own_tenant(
    identities: RealmIdentities, people: People, client: httpx2.AsyncClient
) -> None:
    """Every user may edit their own profile through the account API; the tenant attribute is not theirs."""
    user = people.globex_admin
    token = await identities.password_token(user)
    profile = await identities.user(user.id)
    own = {key: profile[key] for key in ("username", "email", "firstName", "lastName")}
    renamed = await identities.update_own_account(token, own | {"firstName": "Renamed"})
    assert renamed.status_code == 204  # positive control: the account API is open to the user
    attempt = await identities.update_own_account(token, own | {"attributes": {"tenant_id": [ACME]}})
    assert attempt.status_code == 400
    assert "read-only" in attempt.text
    assert (await identities.user(user.id))["attributes"]["tenant_id"] == [GLOBEX]
    fresh = await identities.password_token(user)
    assert (await client.get("/v1/whoami", headers=bearer(fresh))).json()["tenant_id"] == GLOBEX
    assert (await client.get("/v1/tenants/acme", headers=bearer(fresh))).status_code == 404


# --- credentials that must not authenticate -----------------------------------------------------------------


async def test_request_without_token_is_challenged(client: httpx2.AsyncClient) -> None:
    missing = await client.get("/v1/tenants")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["status"] == 401
    basic = await client.get("/v1/tenants", headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    _assert_refused(basic, detail="Bearer")
    _assert_refused(await client.get("/v1/tenants", headers={"Authorization": "Bearer "}), detail="Bearer")


async def test_api_key_is_refused_with_a_pointer_to_the_data_api(client: httpx2.AsyncClient) -> None:
    key = apikeys.generate("service").secret
    _assert_refused(await client.get("/v1/tenants", headers=bearer(key)), detail="data API")
    _assert_refused(await client.get("/v1/tenants", headers={"apikey": key}), detail="data API")
    _assert_refused(await client.get("/v1/tenants", headers=bearer("flc_not_even_well_formed")), detail="data API")


async def test_expired_token_is_refused(
    identities: RealmIdentities, people: People, client: httpx2.AsyncClient, verifier: TokenVerifier
) -> None:
    expired = await identities.expired_token(people.platform_admin, leeway=verifier.leeway)
    _assert_refused(await client.get("/v1/tenants", headers=bearer(expired)), detail="expired")


async def test_token_from_another_realm_is_refused(
    foreign: RealmIdentities, as_user: Callable[[User], Caller], people: People, client: httpx2.AsyncClient
) -> None:
    assert await as_user(people.platform_admin).status("GET", "/v1/tenants") == 200  # positive control
    stranger = await foreign.create_user(roles=["platform_admin"])
    token = await foreign.password_token(stranger)
    assert "platform_admin" in _parts(token)[1]["roles"]  # the same claim the platform's admins have
    _assert_refused(await client.get("/v1/tenants", headers=bearer(token)), detail="platform realm")


async def test_token_from_another_realm_claiming_the_platform_issuer_is_refused(
    foreign: RealmIdentities, people: People, identities: RealmIdentities, client: httpx2.AsyncClient
) -> None:
    stranger = await foreign.create_user(roles=["platform_admin"])
    header, claims, signature = _parts(await foreign.password_token(stranger))
    genuine = _parts(await identities.password_token(people.platform_admin))[1]
    claims["iss"] = genuine["iss"]
    forged = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}.{signature}"
    _assert_refused(await client.get("/v1/tenants", headers=bearer(forged)), detail="key of the platform realm")


@pytest.mark.parametrize("garbage", ["garbage", "a.b.c", "eyJhbGciOiJSUzI1NiJ9..", "x" * 4000, "Bearer"])
async def test_garbage_token_is_refused(client: httpx2.AsyncClient, garbage: str) -> None:
    _assert_refused(await client.get("/v1/tenants", headers=bearer(garbage)), detail="JWT")


async def test_unsigned_token_with_alg_none_is_refused(
    identities: RealmIdentities, people: People, client: httpx2.AsyncClient
) -> None:
    header, claims, _signature = _parts(await identities.password_token(people.acme_admin))
    claims |= {"roles": ["platform_admin"], "tenant_id": GLOBEX}
    unsigned = f"{_b64(json.dumps(header | {'alg': 'none'}).encode())}.{_b64(json.dumps(claims).encode())}."
    _assert_refused(await client.get("/v1/tenants", headers=bearer(unsigned)), detail="algorithm")


async def test_token_signed_with_the_public_key_as_hmac_secret_is_refused(
    identities: RealmIdentities, people: People, client: httpx2.AsyncClient, verifier: TokenVerifier
) -> None:
    header, claims, _signature = _parts(await identities.password_token(people.acme_admin))
    jwks = httpx2.get(verifier.jwks_url).json()
    public = next(jwt.PyJWK(key) for key in jwks["keys"] if key["kid"] == header["kid"]).key
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    claims["roles"] = ["platform_admin"]
    signing_input = f"{_b64(json.dumps(header | {'alg': 'HS256'}).encode())}.{_b64(json.dumps(claims).encode())}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    _assert_refused(await client.get("/v1/tenants", headers=bearer(f"{signing_input}.{_b64(mac)}")), detail="algorithm")


async def test_edited_tenant_claim_breaks_the_signature(
    identities: RealmIdentities, people: People, client: httpx2.AsyncClient
) -> None:
    token = await identities.password_token(people.globex_admin)
    assert (await client.get("/v1/tenants/globex", headers=bearer(token))).status_code == 200  # positive control
    _header, claims, signature = _parts(token)
    edited = f"{token.split('.')[0]}.{_b64(json.dumps(claims | {'tenant_id': ACME}).encode())}.{signature}"
    _assert_refused(await client.get("/v1/tenants/acme", headers=bearer(edited)), detail="signature")


async def test_id_token_is_not_accepted_as_an_access_token(
    identities: RealmIdentities, people: People, client: httpx2.AsyncClient
) -> None:
    tokens = await identities.password_grant(people.platform_admin, scope="openid")
    assert (await client.get("/v1/tenants", headers=bearer(tokens["access_token"]))).status_code == 200
    _assert_refused(await client.get("/v1/tenants", headers=bearer(tokens["id_token"])), detail="not an access token")
    _assert_refused(await client.get("/v1/tenants", headers=bearer(tokens["refresh_token"])), detail="platform realm")


async def test_workspace_client_in_the_platform_realm_cannot_mint_admin_tokens(
    identities: RealmIdentities, people: People, client: httpx2.AsyncClient
) -> None:
    """Shared-profile workspaces keep their clients in the platform realm with a hard-coded tenant claim; a
    tenant admin of globex logging in through acme's client gets `tenant_id: acme` and its own roles."""
    client_id = f"acme--web-app{uuid4().hex[:6]}"
    client_uuid = await identities.create_client(
        {
            "clientId": client_id,
            "publicClient": True,
            "standardFlowEnabled": False,
            "directAccessGrantsEnabled": True,
            "protocolMappers": [
                {
                    "name": "tenant_id",
                    "protocol": "openid-connect",
                    "protocolMapper": "oidc-hardcoded-claim-mapper",
                    "config": {"claim.name": "tenant_id", "claim.value": ACME, "access.token.claim": "true"},
                }
            ],
        }
    )
    await identities.set_default_scopes(client_uuid, ["basic", "workspace-roles"])
    token = await identities.password_token(people.globex_admin, client_id)
    claims = _parts(token)[1]
    assert claims["tenant_id"] == ACME
    assert "tenant_admin" in claims["roles"]
    _assert_refused(await client.get("/v1/tenants/acme", headers=bearer(token)), detail="client of the platform API")


# --- keys: rotation, refresh limits, Keycloak away ----------------------------------------------------------


def _counting_client(fetches: list[str]) -> httpx2.AsyncClient:
    async def count(request: httpx2.Request) -> None:
        fetches.append(str(request.url))

    return httpx2.AsyncClient(event_hooks={"request": [count]})


async def test_signing_key_rotation_is_followed(foreign: RealmIdentities, keycloak: KeycloakConnection) -> None:
    user = await foreign.create_user(roles=["platform_admin"])
    fetches: list[str] = []
    async with _counting_client(fetches) as http:
        verifier = TokenVerifier.for_realm(keycloak.url, foreign.realm, http=http, refresh_interval=1.0)
        before = await foreign.password_token(user)
        assert (await verifier.verify(before)).roles == {"platform_admin"}
        new_kid = await foreign.add_signing_key(priority=1000)
        after = await foreign.password_token(user)
        assert _parts(after)[0]["kid"] == new_kid
        await asyncio.sleep(1.1)  # past the refresh interval: the unknown key id makes the verifier look again
        assert (await verifier.verify(after)).roles == {"platform_admin"}
        assert (await verifier.verify(before)).roles == {"platform_admin"}  # the old key is still published
    assert len(fetches) == 2


async def test_unknown_key_ids_cause_one_refetch(foreign: RealmIdentities, keycloak: KeycloakConnection) -> None:
    user = await foreign.create_user(roles=["platform_admin"])
    token = await foreign.password_token(user)
    header, claims, signature = _parts(token)
    made_up = [
        f"{_b64(json.dumps(header | {'kid': f'made-up-{n}'}).encode())}.{token.split('.')[1]}.{signature}"
        for n in range(20)
    ]
    fetches: list[str] = []
    async with _counting_client(fetches) as http:
        verifier = TokenVerifier.for_realm(keycloak.url, foreign.realm, http=http, refresh_interval=1.0)
        await verifier.verify(token)
        await asyncio.sleep(1.1)
        outcomes = await asyncio.gather(*(verifier.verify(bad) for bad in made_up), return_exceptions=True)
        assert all(isinstance(outcome, problems.Problem) and outcome.status == 401 for outcome in outcomes)
        await asyncio.gather(*(verifier.verify(bad) for bad in made_up), return_exceptions=True)
        assert (await verifier.verify(token)).subject == claims["sub"]
    assert len(fetches) == 2  # the first fetch, then one for the whole burst of unknown key ids


async def test_unreachable_keycloak_fails_closed(
    identities: RealmIdentities, people: People, verifier: TokenVerifier
) -> None:
    token = await identities.password_token(people.platform_admin)
    cut_off = TokenVerifier(issuer=verifier.issuer, jwks_url="http://127.0.0.1:9/certs")
    try:
        app = build_app(cut_off)
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://automation") as http:
            response = await http.get("/v1/tenants", headers=bearer(token))
        assert response.status_code == 503
        assert "keys" in response.json()["detail"]
    finally:
        await cut_off.aclose()
