"""Identity on Keycloak (seed 003): the platform realm, tenant realms, and each workspace's clients.

Tokens carry the context the services authorize with: `tenant_id`, `workspace_id`, `plan_id` and roles. In the
platform realm they come from user attributes (people belong to tenants) that only administrators can set; a
workspace's clients and service accounts get them hard-coded by a client scope of the workspace, so a credential
cannot name another tenant.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from components.connections import KeycloakConnection
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
from components.providers.keycloak_user_profile import KeycloakUserProfileAttributes, UserProfileAttributesArgs
from falcone.naming import PLATFORM_REALM, TenantNames, WorkspaceNames
from falcone.plans import Plan

PLATFORM_ROLES = (
    "superadmin",
    "platform_admin",
    "platform_operator",
    "tenant_admin",
    "tenant_operator",
    "workspace_admin",
    "workspace_operator",
)
# Keycloak's own scopes every client keeps (`basic` puts `sub` in tokens).
BUILTIN_SCOPES = ["basic", "profile", "email", "roles", "web-origins", "acr"]
CONTEXT_SCOPES = ("tenant-context", "workspace-context", "plan-context", "workspace-roles")
# User attributes of the platform realm the context scopes copy into tokens.
CONTEXT_ATTRIBUTES = ("tenant_id", "workspace_id", "plan_id")
GATEWAY_CLIENT = "in-falcone-gateway"
CONSOLE_CLIENT = "in-falcone-console"
# The operator's credential (client credentials, role platform_admin): the CLI and the README demo use it.
OPERATOR_CLIENT = "in-falcone-operator"
# Password grant for development and tests only (seed 003); exists only when dev_password_grant is set.
CLI_CLIENT = "in-falcone-cli"
# The clients whose tokens the automation API accepts; workspace clients of shared profiles live in the same
# realm, and their tokens are for the data plane.
PLATFORM_API_CLIENTS = (CONSOLE_CLIENT, OPERATOR_CLIENT, CLI_CLIENT)


@dataclass(frozen=True)
class PlatformIdentityArgs:
    connection: pulumi.Input[KeycloakConnection]
    realm: str = PLATFORM_REALM
    console_redirect_uris: list[str] = field(default_factory=lambda: ["http://127.0.0.1:3000/*"])
    # Adds the public password-grant client `in-falcone-cli`: development and tests only.
    dev_password_grant: bool = False


class PlatformIdentity(pulumi.ComponentResource):
    """Realm `in-falcone-platform`: the gateway (bearer-only), console (public + PKCE) and operator (client
    credentials, platform_admin) clients, the seven platform roles, the four context scopes and the admin-only
    user attributes behind them; with `dev_password_grant`, the password-grant client `in-falcone-cli`."""

    realm: pulumi.Output[str]
    operator_client_secret: pulumi.Output[str]

    def __init__(self, name: str, args: PlatformIdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("falcone:platform:Identity", name, None, opts)
        connection = args.connection
        realm = KeycloakRealm(
            f"{name}-realm",
            RealmArgs(name=args.realm, display_name="Falcone platform"),
            connection,
            pulumi.ResourceOptions(parent=self),
        )
        after_realm = pulumi.ResourceOptions(parent=self, depends_on=[realm])
        KeycloakUserProfileAttributes(
            f"{name}-user-attributes",
            UserProfileAttributesArgs(realm=args.realm, attributes=list(CONTEXT_ATTRIBUTES)),
            connection,
            after_realm,
        )
        roles = [
            KeycloakRealmRole(
                f"{name}-role-{role}", RealmRoleArgs(realm=args.realm, name=role), connection, after_realm
            )
            for role in PLATFORM_ROLES
        ]
        scopes = [
            KeycloakClientScope(
                f"{name}-scope-{scope}",
                ClientScopeArgs(realm=args.realm, name=scope, protocol_mappers=[mapper]),
                connection,
                after_realm,
            )
            for scope, mapper in (
                ("tenant-context", user_attribute_claim("tenant_id", "tenant_id")),
                ("workspace-context", user_attribute_claim("workspace_id", "workspace_id")),
                ("plan-context", user_attribute_claim("plan_id", "plan_id")),
                ("workspace-roles", realm_roles_claim("roles")),
            )
        ]
        after_scopes = pulumi.ResourceOptions(parent=self, depends_on=[realm, *roles, *scopes])
        KeycloakClient(
            f"{name}-gateway",
            ClientArgs(realm=args.realm, client_id=GATEWAY_CLIENT, kind="bearer-only", standard_flow_enabled=False),
            connection,
            after_scopes,
        )
        KeycloakClient(
            f"{name}-console",
            ClientArgs(
                realm=args.realm,
                client_id=CONSOLE_CLIENT,
                kind="public",
                pkce=True,
                redirect_uris=args.console_redirect_uris,
                web_origins=["+"],
                default_client_scopes=[*BUILTIN_SCOPES, *CONTEXT_SCOPES],
            ),
            connection,
            after_scopes,
        )
        operator = KeycloakClient(
            f"{name}-operator",
            ClientArgs(
                realm=args.realm,
                client_id=OPERATOR_CLIENT,
                kind="confidential",
                standard_flow_enabled=False,
                service_accounts_enabled=True,
                service_account_realm_roles=["platform_admin"],
                default_client_scopes=[*BUILTIN_SCOPES, *CONTEXT_SCOPES],
            ),
            connection,
            after_scopes,
        )
        if args.dev_password_grant:
            KeycloakClient(
                f"{name}-cli",
                ClientArgs(
                    realm=args.realm,
                    client_id=CLI_CLIENT,
                    kind="public",
                    standard_flow_enabled=False,
                    direct_access_grants_enabled=True,
                    default_client_scopes=[*BUILTIN_SCOPES, *CONTEXT_SCOPES],
                ),
                connection,
                after_scopes,
            )
        self.realm = realm.name
        self.operator_client_secret = pulumi.Output.secret(operator.client_secret.apply(lambda value: value or ""))
        self.register_outputs({"realm": self.realm, "operator_client_secret": self.operator_client_secret})


@dataclass(frozen=True)
class TenantIdentityArgs:
    names: TenantNames
    plan: Plan
    connection: pulumi.Input[KeycloakConnection]
    # Where shared-profile tenants live: the platform stack's realm.
    platform_realm: pulumi.Input[str] = PLATFORM_REALM


class TenantIdentity(pulumi.ComponentResource):
    """A tenant's realm (dedicated identity profiles) with the plan's token lifetimes and brute-force protection,
    or, for shared profiles, nothing of its own: its workspaces' clients live in the platform realm."""

    realm: pulumi.Output[str]

    def __init__(self, name: str, args: TenantIdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("falcone:tenant:Identity", name, None, opts)
        tokens = args.plan.tokens
        if args.plan.profile.identity == "dedicated":
            realm = KeycloakRealm(
                f"{name}-realm",
                RealmArgs(
                    name=args.names.realm,
                    display_name=args.names.slug,
                    brute_force_protected=True,
                    access_token_lifespan=tokens.access_token_lifespan_s,
                    sso_session_idle_timeout=tokens.sso_session_idle_s,
                    sso_session_max_lifespan=tokens.sso_session_max_s,
                ),
                args.connection,
                pulumi.ResourceOptions(parent=self),
            )
            self.realm = realm.name
        else:
            self.realm = pulumi.Output.from_input(args.platform_realm)
        self.register_outputs({"realm": self.realm})


@dataclass(frozen=True)
class Application:
    name: str
    kind: str = "public"  # public (SPA, PKCE) | confidential (server-side)
    redirect_uris: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class WorkspaceIdentityArgs:
    names: WorkspaceNames
    realm: str
    shared_realm: bool
    plan_id: str
    connection: pulumi.Input[KeycloakConnection]
    applications: list[Application] = field(default_factory=list)
    service_accounts: list[str] = field(default_factory=list)


class WorkspaceIdentity(pulumi.ComponentResource):
    """The workspace's context scope (hard-coded tenant_id / workspace_id / plan_id claims), its applications
    (`{ws}-{app}`) and service accounts (`{ws}-svc-{sa}`, client credentials)."""

    client_ids: pulumi.Output[list[str]]
    service_account_secrets: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: WorkspaceIdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("falcone:workspace:Identity", name, None, opts)
        names, shared = args.names, args.shared_realm
        scope_name = f"{names.tenant}--{names.slug}-context" if shared else f"{names.slug}-context"
        scope = KeycloakClientScope(
            f"{name}-scope",
            ClientScopeArgs(
                realm=args.realm,
                name=scope_name,
                description=f"Context of workspace {names.slug} of tenant {names.tenant}",
                protocol_mappers=[
                    hardcoded_claim("tenant_id", names.tenant),
                    hardcoded_claim("workspace_id", names.slug),
                    hardcoded_claim("plan_id", args.plan_id),
                ],
            ),
            args.connection,
            pulumi.ResourceOptions(parent=self),
        )
        after_scope = pulumi.ResourceOptions(parent=self, depends_on=[scope])
        scopes = ["basic", "roles", scope_name]
        client_ids: list[str] = []
        for app in args.applications:
            client_id = names.client(app.name, shared_realm=shared)
            KeycloakClient(
                f"{name}-app-{app.name}",
                ClientArgs(
                    realm=args.realm,
                    client_id=client_id,
                    kind=app.kind,
                    pkce=True,
                    redirect_uris=app.redirect_uris,
                    default_client_scopes=scopes,
                ),
                args.connection,
                after_scope,
            )
            client_ids.append(client_id)
        secrets: dict[str, pulumi.Output[str | None]] = {}
        for account in args.service_accounts:
            client_id = names.service_account(account, shared_realm=shared)
            client = KeycloakClient(
                f"{name}-svc-{account}",
                ClientArgs(
                    realm=args.realm,
                    client_id=client_id,
                    kind="confidential",
                    standard_flow_enabled=False,
                    service_accounts_enabled=True,
                    default_client_scopes=scopes,
                ),
                args.connection,
                after_scope,
            )
            client_ids.append(client_id)
            secrets[client_id] = client.client_secret
        self.client_ids = pulumi.Output.from_input(client_ids)
        self.service_account_secrets = pulumi.Output.secret(pulumi.Output.all(**secrets))
        self.register_outputs({"client_ids": self.client_ids, "service_account_secrets": self.service_account_secrets})
