"""The authorization matrix on the service's real routes: every principal by a route of every family, through the
real `python -m automation` process, with real tokens of the session's platform realm.

Two starter tenants A and B and a workspace W of A are created through the API as the operator. The principals:
a platform admin, a tenant admin of A, a tenant admin of B, a workspace admin of A/W (users with those roles and
claims, logged in by password grant), and the credentials that must not authenticate: an API key of W, no token,
an expired token and a token of another realm.

The expected answer of each cell is derived from the model (`automation.authorization.GRANTS` and the reach rules
its docstring states), not copied from a table: out of reach → 404 with the same words as for something that does
not exist, in reach but not granted → 403, granted → the route's success status; any credential that does not
verify → 401 before anything else. A refused mutation leaves no operation behind; an allowed one really runs (the
destructive ones on a throwaway tenant or workspace, so A and W stay for the other cells).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import httpx2
import pytest

from automation.authorization import GRANTS, Action, Reach, Role
from falcone.http import problems
from tests.automation.api import FINISHED, OperatorToken
from tests.automation.identity import RealmIdentities, User
from tests.automation.service import AutomationProcess
from tests.platform_stack_fixtures import PlatformDeployment

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]

PLAN = "starter"  # the cheapest stacks: shared realm, schema and bucket prefix
WORKSPACE = "main"
OPERATION_TIMEOUT = 300.0

# --- who calls -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claims:
    """What a verified token says, in the model's symbols: tenants are "a" / "b", the workspace "w"."""

    roles: frozenset[str]
    tenant: str | None = None
    workspace: str | None = None


USERS: dict[str, Claims] = {
    "platform_admin": Claims(frozenset({"platform_admin"})),
    "tenant_admin_of_a": Claims(frozenset({"tenant_admin"}), "a"),
    "tenant_admin_of_b": Claims(frozenset({"tenant_admin"}), "b"),
    "workspace_admin_of_a_w": Claims(frozenset({"workspace_admin"}), "a", "w"),
}
# Credentials that must never authenticate, and the words of their 401.
REFUSED: dict[str, str] = {
    "api_key": "data API",
    "no_token": "Authorization: Bearer",
    "expired_token": "expired",
    "foreign_realm_token": "not issued by the platform realm",
}


# --- what the model says ---------------------------------------------------------------------------------------


def _usable(role: Role, who: Claims) -> bool:
    """A role reaches something only with the claims its reach needs."""
    reach = GRANTS[role].reach
    return reach is Reach.PLATFORM or (who.tenant is not None and (reach is Reach.TENANT or who.workspace is not None))


def _covers(role: Role, who: Claims, tenant: str | None, workspace: str | None, tenant_level: bool) -> bool:
    reach = GRANTS[role].reach
    if reach is Reach.PLATFORM:
        return True
    if tenant is not None and tenant != who.tenant:
        return False
    if reach is Reach.TENANT:
        return True
    # An object of the tenant that belongs to no workspace (a tenant's operation) is outside every workspace.
    return not tenant_level and (workspace is None or workspace == who.workspace)


def model_allows(
    who: Claims, action: Action, tenant: str | None, workspace: str | None = None, *, tenant_level: bool = False
) -> bool:
    return model_status(who, action, tenant, workspace, ok=200, tenant_level=tenant_level) == 200


def model_status(
    who: Claims, action: Action, tenant: str | None, workspace: str | None, *, ok: int, tenant_level: bool = False
) -> int:
    """`ok` when some role covering the target grants `action`; 404 when no role covers it; 403 otherwise (and
    for a token whose roles reach nothing). A target naming less than the principal's reach is a listing."""
    roles = [Role(name) for name in sorted(who.roles) if name in set(Role) and _usable(Role(name), who)]
    if not roles:
        return 403
    covering = [role for role in roles if _covers(role, who, tenant, workspace, tenant_level)]
    if any(action in GRANTS[role].actions for role in covering):
        return ok
    return 403 if covering else 404


# --- the routes ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """`path` names objects as {a}, {b}, {w}, {op_a} (A's own operation), {op_w} (W's), {op_b} (B's)."""

    name: str
    method: str
    path: str
    action: Action | None  # None: public
    tenant: str | None = None
    workspace: str | None = None
    ok: int = 200
    body: dict[str, Any] | None = None
    tenant_level: bool = False  # the object belongs to the tenant, not to a workspace
    destroys: str | None = None  # "tenant" / "workspace": when allowed, act on a throwaway one instead
    creates_workspace: bool = False

    @property
    def mutates(self) -> bool:
        return self.method != "GET"


ROUTES = [
    Route("list_plans", "GET", "/v1/plans", None),
    Route("get_plan", "GET", "/v1/plans/starter", None),
    Route("list_tenants", "GET", "/v1/tenants?limit=200", Action.TENANT_READ),
    Route("read_tenant_a", "GET", "/v1/tenants/{a}", Action.TENANT_READ, "a"),
    Route("read_tenant_b", "GET", "/v1/tenants/{b}", Action.TENANT_READ, "b"),
    Route(
        "rename_tenant_a", "PATCH", "/v1/tenants/{a}", Action.TENANT_UPDATE, "a", ok=202, body={"display_name": "A2"}
    ),
    Route(
        "override_quotas_of_a", "PUT", "/v1/tenants/{a}/quotas", Action.QUOTA_OVERRIDE, "a", body={"max_workspaces": 2}
    ),
    Route("preview_tenant_a", "POST", "/v1/tenants/{a}/preview", Action.STACK_PREVIEW, "a", ok=202, body={}),
    Route("drift_check_tenant_a", "POST", "/v1/tenants/{a}/drift", Action.STACK_DRIFT, "a", ok=202),
    Route("delete_tenant_a", "DELETE", "/v1/tenants/{a}", Action.TENANT_DELETE, "a", ok=202, destroys="tenant"),
    Route(
        "create_workspace_in_a",
        "POST",
        "/v1/tenants/{a}/workspaces",
        Action.WORKSPACE_CREATE,
        "a",
        ok=202,
        creates_workspace=True,
    ),
    Route("list_workspaces_of_a", "GET", "/v1/tenants/{a}/workspaces", Action.WORKSPACE_READ, "a"),
    Route("read_workspace_w", "GET", "/v1/tenants/{a}/workspaces/{w}", Action.WORKSPACE_READ, "a", "w"),
    Route(
        "delete_workspace_w",
        "DELETE",
        "/v1/tenants/{a}/workspaces/{w}",
        Action.WORKSPACE_DELETE,
        "a",
        "w",
        ok=202,
        destroys="workspace",
    ),
    Route("list_operations", "GET", "/v1/operations?limit=200", Action.OPERATION_READ),
    Route("list_operations_of_a", "GET", "/v1/operations?tenant={a}&limit=200", Action.OPERATION_READ, "a"),
    Route("read_operation_of_a", "GET", "/v1/operations/{op_a}", Action.OPERATION_READ, "a", tenant_level=True),
    Route("read_operation_of_w", "GET", "/v1/operations/{op_w}", Action.OPERATION_READ, "a", "w"),
    Route("read_operation_of_b", "GET", "/v1/operations/{op_b}", Action.OPERATION_READ, "b", tenant_level=True),
    Route(
        "follow_events_of_a",
        "GET",
        "/v1/operations/{op_a}/events?follow=false",
        Action.OPERATION_READ,
        "a",
        tenant_level=True,
    ),
    Route("follow_events_of_w", "GET", "/v1/operations/{op_w}/events?follow=false", Action.OPERATION_READ, "a", "w"),
    Route("drift_status", "GET", "/v1/drift", Action.TENANT_READ),
    Route("drift_sweep", "POST", "/v1/drift/sweep", Action.DRIFT_SWEEP, ok=202),
]


def expected_status(principal: str, route: Route) -> int:
    if route.action is None:
        return route.ok  # the plan catalogue is public: no credential is looked at
    if principal in REFUSED:
        return 401
    return model_status(
        USERS[principal], route.action, route.tenant, route.workspace, ok=route.ok, tenant_level=route.tenant_level
    )


def _cells() -> list[Any]:
    cells = []
    for route in ROUTES:
        for principal in [*USERS, *REFUSED]:
            status = expected_status(principal, route)
            marks: list[pytest.MarkDecorator] = []
            cells.append(pytest.param(principal, route, status, id=f"{principal}-{route.name}-{status}", marks=marks))
    return cells


# --- the world: tenants, workspace, people -----------------------------------------------------------------------


@dataclass
class Caller:
    """A user's requests with a fresh token (password grant), renewed before it expires."""

    identities: RealmIdentities
    user: User
    token: str = ""
    renew_at: float = 0.0

    async def headers(self) -> dict[str, str]:
        if time.monotonic() >= self.renew_at:
            grant = await self.identities.password_grant(self.user)
            self.token, self.renew_at = grant["access_token"], time.monotonic() + int(grant["expires_in"]) / 2
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class World:
    http: httpx2.AsyncClient
    operator: OperatorToken
    names: dict[str, str]  # symbol → slug or operation id
    callers: dict[str, Caller]
    refused_headers: dict[str, dict[str, str]]
    cleanup: list[str] = field(default_factory=list)  # tenants to delete at the end

    def path(self, route: Route, **extra: str) -> str:
        return route.path.format(**{**self.names, **extra})

    def operator_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.operator()}"}

    async def headers(self, principal: str) -> dict[str, str]:
        if principal in self.callers:
            return await self.callers[principal].headers()
        return self.refused_headers[principal]

    async def as_operator(self, method: str, path: str, **options: Any) -> httpx2.Response:
        return await self.http.request(method, path, headers=self.operator_headers(), **options)

    async def accepted(self, method: str, path: str, **options: Any) -> list[dict[str, Any]]:
        response = await self.as_operator(method, path, **options)
        assert response.status_code == 202, response.text
        operations: list[dict[str, Any]] = response.json()["operations"]
        return operations

    async def finished(self, operation_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + OPERATION_TIMEOUT
        while True:
            response = await self.as_operator("GET", f"/v1/operations/{operation_id}")
            assert response.status_code == 200, response.text
            operation: dict[str, Any] = response.json()
            if operation["status"] in FINISHED:
                return operation
            assert time.monotonic() < deadline, f"operation {operation_id} did not finish: {operation}"
            await asyncio.sleep(0.5)

    async def succeeded(self, operations: list[dict[str, Any]]) -> None:
        for operation in operations:
            done = await self.finished(operation["id"])
            assert done["status"] == "succeeded", done

    async def newest_operation(self, tenant: str) -> str | None:
        response = await self.as_operator("GET", f"/v1/operations?tenant={tenant}&limit=1")
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        return str(items[0]["id"]) if items else None

    async def untouched(self) -> None:
        """A and W are still there and settled (after a refused mutation)."""
        a, w = self.names["a"], self.names["w"]
        for path in (f"/v1/tenants/{a}", f"/v1/tenants/{a}/workspaces/{w}"):
            response = await self.as_operator("GET", path)
            assert response.status_code == 200, response.text
            assert response.json()["state"] == "active", response.json()

    async def delete_tenant(self, slug: str) -> None:
        response = await self.as_operator("DELETE", f"/v1/tenants/{slug}")
        if response.status_code == 404:
            return
        assert response.status_code == 202, response.text
        await self.succeeded(response.json()["operations"])

    async def throwaway_tenant(self) -> str:
        slug = f"mxt{uuid4().hex[:8]}"
        self.cleanup.append(slug)
        body = {"slug": slug, "display_name": "Throwaway", "plan": PLAN}
        await self.succeeded(await self.accepted("POST", "/v1/tenants", json=body))
        return slug

    async def throwaway_workspace(self) -> str:
        slug = f"mxw{uuid4().hex[:8]}"
        body = {"slug": slug, "display_name": "Throwaway"}
        await self.succeeded(await self.accepted("POST", f"/v1/tenants/{self.names['a']}/workspaces", json=body))
        return slug


@pytest.fixture(scope="module")
async def identities(platform_deployment: PlatformDeployment) -> AsyncIterator[RealmIdentities]:
    assert platform_deployment.backends.keycloak is not None
    async with RealmIdentities(platform_deployment.backends.keycloak, platform_deployment.outputs.realm) as realm:
        yield realm


@pytest.fixture(scope="module")
async def foreign(platform_deployment: PlatformDeployment) -> AsyncIterator[RealmIdentities]:
    """A realm of its own with the platform's client, role and roles claim: only issuer and key differ."""
    assert platform_deployment.backends.keycloak is not None
    async with RealmIdentities(platform_deployment.backends.keycloak, f"foreign-{uuid4().hex[:8]}") as realm:
        await realm.create_realm_like_the_platform()
        try:
            yield realm
        finally:
            await realm.delete_realm()


@pytest.fixture(scope="module")
async def world(
    automation_service: AutomationProcess,
    operator_token: OperatorToken,
    identities: RealmIdentities,
    foreign: RealmIdentities,
) -> AsyncIterator[World]:
    run = uuid4().hex[:8]
    a, b = f"mxa{run}", f"mxb{run}"
    async with httpx2.AsyncClient(base_url=automation_service.url, timeout=60) as http:
        world = World(http, operator_token, {"a": a, "b": b, "w": WORKSPACE}, {}, {}, cleanup=[a, b])
        try:
            creates = [
                await world.accepted("POST", "/v1/tenants", json={"slug": slug, "display_name": slug, "plan": PLAN})
                for slug in (a, b)
            ]
            await asyncio.gather(*(world.succeeded(operations) for operations in creates))
            workspace = await world.accepted(
                "POST", f"/v1/tenants/{a}/workspaces", json={"slug": WORKSPACE, "display_name": "Main"}
            )
            await world.succeeded(workspace)
            world.names |= {"op_a": creates[0][0]["id"], "op_b": creates[1][0]["id"], "op_w": workspace[0]["id"]}

            slugs = {"a": a, "b": b, "w": WORKSPACE}
            for principal, claims in USERS.items():
                user = await identities.create_user(
                    roles=sorted(claims.roles),
                    tenant_id=slugs[claims.tenant] if claims.tenant else None,
                    workspace_id=slugs[claims.workspace] if claims.workspace else None,
                )
                world.callers[principal] = Caller(identities, user)

            key = await world.as_operator(
                "POST", f"/v1/tenants/{a}/workspaces/{WORKSPACE}/api-keys", json={"kind": "service", "name": "matrix"}
            )
            assert key.status_code == 201, key.text
            expired_user = world.callers["platform_admin"].user
            stranger = await foreign.create_user(roles=["platform_admin"])
            world.refused_headers = {
                "api_key": {"Authorization": f"Bearer {key.json()['secret']}"},
                "no_token": {},
                "expired_token": {"Authorization": f"Bearer {await identities.expired_token(expired_user, leeway=5)}"},
                "foreign_realm_token": {"Authorization": f"Bearer {await foreign.password_token(stranger)}"},
            }
            yield world
        finally:
            await asyncio.gather(*(world.delete_tenant(slug) for slug in world.cleanup), return_exceptions=True)
            for slug in world.cleanup:
                assert (await world.as_operator("GET", f"/v1/tenants/{slug}")).status_code == 404, slug


# --- the matrix ------------------------------------------------------------------------------------------------


def _fake(world: World, path: str) -> tuple[str, dict[str, str]]:
    """The same path with every object replaced by one that does not exist (same shape), and the mapping."""
    fakes = {
        real: f"{real[:3]}{'z' * (len(real) - 3)}" if not real.startswith("op_") else f"op_{'0' * (len(real) - 3)}"
        for symbol, real in world.names.items()
        if symbol != "w"
    }
    for real, fake in fakes.items():
        path = path.replace(real, fake)
    return path, fakes


async def _check_refused(
    world: World, principal: str, route: Route, path: str, body: dict[str, Any] | None, response: httpx2.Response
) -> None:
    assert response.headers["content-type"] == problems.MEDIA_TYPE, response.text
    problem = response.json()
    if response.status_code == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert REFUSED[principal] in problem["detail"]
    elif response.status_code == 404:
        # Out of reach is told exactly like "does not exist": the same words for an object that is not there.
        fake_path, fakes = _fake(world, path)
        absent = await world.http.request(route.method, fake_path, headers=await world.headers(principal), json=body)
        assert absent.status_code == 404, absent.text
        detail = problem["detail"]
        for real, fake in fakes.items():
            detail = detail.replace(real, fake)
        assert detail == absent.json()["detail"]


def _visible_item(principal: str, route: Route, item: dict[str, Any], names: dict[str, str]) -> bool:
    """Whether the model lets `principal` see one item of a listing (in the model's symbols)."""
    symbols = {slug: symbol for symbol, slug in names.items()}
    who = USERS[principal]
    if route.name == "list_tenants":
        return model_allows(who, Action.TENANT_READ, symbols.get(item["slug"], item["slug"]))
    if route.name == "list_workspaces_of_a":
        return model_allows(who, Action.WORKSPACE_READ, "a", symbols.get(item["slug"], item["slug"]))
    if route.name == "drift_status":
        return model_allows(who, Action.TENANT_READ, symbols.get(item["tenant"], item["tenant"]))
    tenant, workspace = item["tenant"], item["workspace"]
    return model_allows(
        who,
        Action.OPERATION_READ,
        symbols.get(tenant, tenant),
        symbols.get(workspace, workspace) if workspace else None,
        tenant_level=tenant is not None and workspace is None,
    )


def _check_listing(world: World, principal: str, route: Route, body: dict[str, Any]) -> None:
    """Every item listed is one the principal may see; each of A, B, W (and their operations) that it may see is
    listed."""
    names = world.names
    items = body["items"]
    hidden = [item for item in items if not _visible_item(principal, route, item, names)]
    assert not hidden, f"{principal} sees what the model hides: {hidden}"
    known: dict[str, list[dict[str, Any]]] = {
        "list_tenants": [{"slug": names["a"]}, {"slug": names["b"]}],
        "list_workspaces_of_a": [{"slug": names["w"]}],
        "drift_status": [{"tenant": names["a"]}, {"tenant": names["b"]}],
        "list_operations_of_a": [
            {"id": names["op_a"], "tenant": names["a"], "workspace": None},
            {"id": names["op_w"], "tenant": names["a"], "workspace": names["w"]},
        ],
    }
    key = {"list_tenants": "slug", "list_workspaces_of_a": "slug", "drift_status": "tenant"}.get(route.name, "id")
    listed = {item[key] for item in items}
    for item in known.get(route.name, []):
        if _visible_item(principal, route, item, names):
            assert item[key] in listed, f"{principal} does not see {item[key]} in {route.name}"


async def _check_allowed(world: World, principal: str, route: Route, response: httpx2.Response) -> None:
    if route.ok == 202:
        assert response.headers["location"] == f"/v1/operations/{response.json()['operations'][0]['id']}"
        operations = response.json()["operations"]
        if route.name == "drift_sweep":  # the session's other stacks too: ours must succeed
            ours = (world.names["a"], world.names["b"])
            await world.succeeded([op for op in operations if op["tenant"] in ours])
            assert {op["tenant"] for op in operations} >= set(ours)
        else:
            await world.succeeded(operations)
        return
    if "/events" in route.path:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert "event: status" in response.text
        return
    body = response.json()
    if route.action is not None and "items" in body:
        _check_listing(world, principal, route, body)
    elif route.name == "override_quotas_of_a":
        assert body["quotas"]["max_workspaces"] == 2


@pytest.mark.parametrize(("principal", "route", "status"), _cells())
async def test_each_principal_gets_what_the_model_allows_on_each_route(
    world: World, principal: str, route: Route, status: int
) -> None:
    """One cell: the answer, and for a refusal that nothing happened (no operation queued, target still there)."""
    allowed = status == route.ok
    extra: dict[str, str] = {}
    if allowed and route.destroys == "tenant":
        extra["a"] = await world.throwaway_tenant()
    elif allowed and route.destroys == "workspace":
        extra["w"] = await world.throwaway_workspace()
    body = route.body
    if route.creates_workspace:
        body = {"slug": f"mxn{uuid4().hex[:8]}", "display_name": "New"}
    path = world.path(route, **extra)
    before = await world.newest_operation(world.names["a"]) if route.mutates else None

    headers = await world.headers(principal)
    if "/events" in route.path:
        headers = {**headers, "Connection": "close"}
    response = await world.http.request(route.method, path, headers=headers, json=body)

    assert response.status_code == status, f"{route.method} {path} as {principal}: {response.text[:500]}"
    if not allowed:
        await _check_refused(world, principal, route, path, body, response)
        if route.mutates:
            assert await world.newest_operation(world.names["a"]) == before, "a refused request queued an operation"
            await world.untouched()
        return
    await _check_allowed(world, principal, route, response)
    if route.destroys:
        gone = world.path(route, **extra)
        assert (await world.as_operator("GET", gone)).status_code == 404, f"{gone} still exists"
    if route.creates_workspace:
        assert body is not None
        await world.succeeded(
            await world.accepted("DELETE", f"/v1/tenants/{world.names['a']}/workspaces/{body['slug']}")
        )


# --- the threats, by name ----------------------------------------------------------------------------------------


async def test_tenant_admin_of_b_reading_a_gets_404_and_lists_only_b(world: World) -> None:
    a, b = world.names["a"], world.names["b"]
    owner, intruder = await world.headers("tenant_admin_of_a"), await world.headers("tenant_admin_of_b")
    assert (await world.http.get(f"/v1/tenants/{a}", headers=owner)).status_code == 200  # positive control
    refused = await world.http.get(f"/v1/tenants/{a}", headers=intruder)
    assert refused.status_code == 404
    assert refused.json()["detail"] == f"no tenant {a!r}"
    listed = (await world.http.get("/v1/tenants?limit=200", headers=intruder)).json()["items"]
    assert [tenant["slug"] for tenant in listed] == [b]
    # Filters do not widen the view: asking for A by name or plan still shows only B.
    for query in (f"q={a}", f"plan={PLAN}", f"cursor={a[:-1]}"):
        shown = (await world.http.get(f"/v1/tenants?{query}", headers=intruder)).json()["items"]
        assert {tenant["slug"] for tenant in shown} <= {b}, query


async def test_tenant_admin_of_b_spoofing_tenant_headers_still_gets_404(world: World) -> None:
    a = world.names["a"]
    spoofed = {
        **await world.headers("tenant_admin_of_b"),
        "X-Tenant-Id": a,
        "X-Auth-Tenant-Id": a,
        "X-Falcone-Tenant": a,
    }
    for path in (f"/v1/tenants/{a}", f"/v1/tenants/{a}/workspaces", f"/v1/operations/{world.names['op_a']}"):
        assert (await world.http.get(path, headers=spoofed)).status_code == 404, path
    operations = (await world.http.get(f"/v1/operations?tenant_id={a}", headers=spoofed)).json()["items"]
    assert {operation["tenant"] for operation in operations} <= {world.names["b"]}


async def test_tenant_admin_of_b_cannot_list_operations_of_a(world: World) -> None:
    a = world.names["a"]
    intruder = await world.headers("tenant_admin_of_b")
    assert (await world.http.get(f"/v1/operations?tenant={a}", headers=intruder)).status_code == 404
    assert (await world.http.get(f"/v1/operations?tenant={a}&workspace=main", headers=intruder)).status_code == 404
    owner = await world.headers("tenant_admin_of_a")
    assert (await world.http.get(f"/v1/operations?tenant={a}", headers=owner)).status_code == 200  # positive control


async def test_tenant_admin_of_b_following_events_of_an_operation_of_a_gets_404(world: World) -> None:
    op_w = world.names["op_w"]
    owner = await world.headers("tenant_admin_of_a")
    own = await world.http.get(f"/v1/operations/{op_w}/events?follow=false", headers=owner)
    assert own.status_code == 200  # positive control
    assert "event: status" in own.text
    intruder = {**await world.headers("tenant_admin_of_b"), "Connection": "close"}
    refused = await world.http.get(f"/v1/operations/{op_w}/events?follow=false", headers=intruder)
    assert refused.status_code == 404, (refused.status_code, refused.text)


async def test_workspace_admin_sees_only_its_workspace_and_its_operations(world: World) -> None:
    a, w = world.names["a"], world.names["w"]
    spare = await world.throwaway_workspace()
    try:
        admin = await world.headers("workspace_admin_of_a_w")
        listed = (await world.http.get(f"/v1/tenants/{a}/workspaces", headers=admin)).json()["items"]
        assert [workspace["slug"] for workspace in listed] == [w]
        assert (await world.http.get(f"/v1/tenants/{a}/workspaces/{w}", headers=admin)).status_code == 200
        assert (await world.http.get(f"/v1/tenants/{a}/workspaces/{spare}", headers=admin)).status_code == 404
        operations = (await world.http.get("/v1/operations?limit=200", headers=admin)).json()["items"]
        assert operations, "positive control: the workspace's own operations are listed"
        assert {(op["tenant"], op["workspace"]) for op in operations} == {(a, w)}
        # Naming the sibling workspace in the filter does not widen the view: it is out of reach.
        sibling = await world.http.get(f"/v1/operations?tenant={a}&workspace={spare}", headers=admin)
        assert sibling.status_code == 404, sibling.text
    finally:
        await world.succeeded(await world.accepted("DELETE", f"/v1/tenants/{a}/workspaces/{spare}"))


async def test_workspace_admin_cannot_delete_its_own_workspace_or_touch_the_tenant(world: World) -> None:
    a, w = world.names["a"], world.names["w"]
    admin = await world.headers("workspace_admin_of_a_w")
    before = await world.newest_operation(a)
    # Valid bodies: a request the model refuses must be refused for that reason, not for its shape.
    for method, path, body in [
        ("DELETE", f"/v1/tenants/{a}/workspaces/{w}", None),
        ("PATCH", f"/v1/tenants/{a}", {"display_name": "Mine now"}),
        ("POST", f"/v1/tenants/{a}/workspaces", {"slug": "mine", "display_name": "Mine"}),
        ("POST", f"/v1/tenants/{a}/preview", {}),
    ]:
        refused = await world.http.request(method, path, headers=admin, json=body)
        assert refused.status_code == 403, (method, path, refused.text)
        assert "workspace_admin" in refused.json()["detail"]
    assert await world.newest_operation(a) == before
    assert (await world.as_operator("GET", f"/v1/tenants/{a}/workspaces/{w}")).json()["state"] == "active"


async def test_api_key_is_refused_in_every_header_it_could_come_in(world: World) -> None:
    key = world.refused_headers["api_key"]["Authorization"].removeprefix("Bearer ")
    assert key.startswith("flc_service_")
    for headers in ({"Authorization": f"Bearer {key}"}, {"apikey": key}, {"x-api-key": key}):
        refused = await world.http.get(f"/v1/tenants/{world.names['a']}", headers=headers)
        assert refused.status_code == 401, headers
        assert "data API" in refused.json()["detail"]
    # Even next to a valid token: a key in the request is refused, never silently ignored.
    both = {**await world.headers("platform_admin"), "apikey": key}
    assert (await world.http.get("/v1/tenants", headers=both)).status_code == 401


def test_the_matrix_covers_every_principal_and_every_route_family() -> None:
    families = {route.path.split("?")[0].split("/")[2] for route in ROUTES}
    assert families == {"plans", "tenants", "operations", "drift"}
    assert {route.path for route in ROUTES if "/workspaces" in route.path}
    statuses = {expected_status(principal, route) for principal in [*USERS, *REFUSED] for route in ROUTES}
    assert statuses == {200, 202, 401, 403, 404}
    assert set(USERS) | set(REFUSED) == {
        "platform_admin",
        "tenant_admin_of_a",
        "tenant_admin_of_b",
        "workspace_admin_of_a_w",
        "api_key",
        "no_token",
        "expired_token",
        "foreign_realm_token",
    }
