"""Identity components under mocks: realms, roles, scopes and the claims that carry tenant context."""

from __future__ import annotations

import pulumi

from components.connections import KeycloakConnection
from components.identity import (
    CONTEXT_ATTRIBUTES,
    PLATFORM_ROLES,
    Application,
    PlatformIdentity,
    PlatformIdentityArgs,
    TenantIdentity,
    TenantIdentityArgs,
    WorkspaceIdentity,
    WorkspaceIdentityArgs,
)
from falcone.naming import TenantNames, WorkspaceNames
from falcone.plans import catalog
from tests.components.mocks import run

CONNECTION = KeycloakConnection(url="http://127.0.0.1:1", admin_user="a", admin_password="b")


def test_platform_realm_has_the_roles_scopes_and_clients() -> None:
    registered = run(lambda: PlatformIdentity("pi", PlatformIdentityArgs(connection=CONNECTION)).realm)
    assert registered.named("pi-realm").inputs["name"] == "in-falcone-platform"
    assert {registered.named(f"pi-role-{role}").inputs["name"] for role in PLATFORM_ROLES} == set(PLATFORM_ROLES)
    claims = {
        registered.named(f"pi-scope-{scope}").inputs["protocol_mappers"][0]["config"]["claim.name"]
        for scope in ("tenant-context", "workspace-context", "plan-context", "workspace-roles")
    }
    assert claims == {"tenant_id", "workspace_id", "plan_id", "roles"}
    assert registered.named("pi-gateway").inputs["kind"] == "bearer-only"
    console = registered.named("pi-console").inputs
    assert console["kind"] == "public"
    assert console["pkce"] is True
    assert {"tenant-context", "workspace-context", "plan-context", "workspace-roles"} <= set(
        console["default_client_scopes"]
    )


def test_context_attributes_are_declared_for_administrators_only() -> None:
    # Undeclared attributes are dropped by Keycloak; declared ones a user could edit would let them pick a tenant.
    registered = run(lambda: PlatformIdentity("pi", PlatformIdentityArgs(connection=CONNECTION)).realm)
    attributes = registered.named("pi-user-attributes").inputs
    assert attributes["realm"] == "in-falcone-platform"
    assert attributes["attributes"] == list(CONTEXT_ATTRIBUTES) == ["tenant_id", "workspace_id", "plan_id"]


def test_operator_client_is_a_platform_admin_service_account_with_a_secret_output() -> None:
    secret: dict[str, bool] = {}

    def program() -> pulumi.Output[None]:
        output = PlatformIdentity("pi", PlatformIdentityArgs(connection=CONNECTION)).operator_client_secret
        flag: pulumi.Output[bool] = pulumi.Output.from_input(output.is_secret())
        return flag.apply(lambda value: secret.update(value=value))

    registered = run(program)
    assert secret == {"value": True}
    operator = registered.named("pi-operator").inputs
    assert operator["client_id"] == "in-falcone-operator"
    assert operator["kind"] == "confidential"
    assert operator["service_accounts_enabled"] is True
    assert operator["service_account_realm_roles"] == ["platform_admin"]
    assert operator["standard_flow_enabled"] is False
    assert operator["direct_access_grants_enabled"] is False
    assert "workspace-roles" in operator["default_client_scopes"]


def test_password_grant_client_exists_only_when_asked_for() -> None:
    default = run(lambda: PlatformIdentity("pi", PlatformIdentityArgs(connection=CONNECTION)).realm)
    assert not default.matching(lambda r: r.name == "pi-cli")
    assert all(not r.inputs.get("direct_access_grants_enabled") for r in default.resources)

    dev = run(
        lambda: PlatformIdentity("pi", PlatformIdentityArgs(connection=CONNECTION, dev_password_grant=True)).realm
    )
    cli = dev.named("pi-cli").inputs
    assert cli["client_id"] == "in-falcone-cli"
    assert cli["kind"] == "public"
    assert cli["direct_access_grants_enabled"] is True
    assert cli["standard_flow_enabled"] is False
    assert {"basic", "tenant-context", "workspace-context", "plan-context", "workspace-roles"} <= set(
        cli["default_client_scopes"]
    )


def test_dedicated_tenant_realm_takes_token_lifetimes_from_the_plan() -> None:
    plan = catalog().plan("regulated")
    registered = run(
        lambda: (
            TenantIdentity("ti", TenantIdentityArgs(names=TenantNames("acme"), plan=plan, connection=CONNECTION)).realm
        )
    )
    realm = registered.named("ti-realm").inputs
    assert realm["name"] == "tenant-acme"
    assert realm["brute_force_protected"] is True
    assert realm["access_token_lifespan"] == plan.tokens.access_token_lifespan_s


def test_shared_tenant_has_no_realm_of_its_own() -> None:
    plan = catalog().plan("starter")
    registered = run(
        lambda: (
            TenantIdentity("ti", TenantIdentityArgs(names=TenantNames("acme"), plan=plan, connection=CONNECTION)).realm
        )
    )
    assert not registered.matching(lambda r: r.name == "ti-realm")


def test_workspace_clients_carry_hardcoded_tenant_and_workspace_claims() -> None:
    def program() -> pulumi.Output[list[str]]:
        return WorkspaceIdentity(
            "wi",
            WorkspaceIdentityArgs(
                names=WorkspaceNames("acme", "prod"),
                realm="in-falcone-platform",
                shared_realm=True,
                plan_id="starter",
                connection=CONNECTION,
                applications=[Application(name="web", redirect_uris=["https://app.example/*"])],
                service_accounts=["backend"],
            ),
        ).client_ids

    registered = run(program)
    scope = registered.named("wi-scope").inputs
    assert scope["name"] == "acme--prod-context"
    claims = {m["config"]["claim.name"]: m["config"]["claim.value"] for m in scope["protocol_mappers"]}
    assert claims == {"tenant_id": "acme", "workspace_id": "prod", "plan_id": "starter"}
    app = registered.named("wi-app-web").inputs
    assert app["client_id"] == "acme--prod-web"  # tenant-prefixed in the shared realm
    assert "acme--prod-context" in app["default_client_scopes"]
    account = registered.named("wi-svc-backend").inputs
    assert account["client_id"] == "acme--prod-svc-backend"
    assert account["service_accounts_enabled"] is True
    assert account["standard_flow_enabled"] is False
