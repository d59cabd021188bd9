"""`tenant-{slug}` stacks: a tenant's realm (dedicated identity), its dedicated database (dedicated profiles),
its secret policy and its Kubernetes namespace. Changing `falcone:plan` is an update of this stack."""

from __future__ import annotations

import pulumi

from components.identity import TenantIdentity, TenantIdentityArgs
from components.platform_database import platform_role
from components.providers.postgres_access import DatabaseArgs, PostgresDatabase
from components.secrets import TenantSecrets, TenantSecretsArgs
from components.tenant_namespace import TenantNamespace, TenantNamespaceArgs
from falcone.plans import Capability
from stacks import config
from stacks.kubernetes import kubernetes_provider
from stacks.references import output_value, platform_output, platform_stack


def program() -> None:
    names = config.tenant_from_stack(pulumi.get_stack())
    plan = config.plan()
    backends = config.backends()
    postgres = config.require_connection(backends, "postgres")

    realm: pulumi.Output[str] = platform_output("realm")
    if plan.allows(Capability.IDENTITY):
        realm = TenantIdentity(
            "identity",
            TenantIdentityArgs(
                names=names,
                plan=plan,
                connection=config.require_connection(backends, "keycloak"),
                platform_realm=realm,
            ),
        ).realm
    if plan.profile.database == "dedicated":
        database = PostgresDatabase(
            "database",
            DatabaseArgs(
                name=names.database, owner=platform_role(str(output_value(platform_stack(), "rolePrefix")), "migrator")
            ),
            postgres,
        ).name
    else:
        database = platform_output("tenantDatabase")
    secrets = TenantSecrets(
        "secrets",
        TenantSecretsArgs(
            names=names,
            connection=config.require_connection(backends, "vault"),
            mount=config.string("vaultMount", "secret"),
        ),
    )
    kubernetes = kubernetes_provider(backends)
    namespace = TenantNamespace("namespace", TenantNamespaceArgs(names=names, plan=plan, provider=kubernetes))

    pulumi.export("slug", names.slug)
    pulumi.export("plan", plan.name)
    pulumi.export("profile", plan.profile.name)
    pulumi.export("realm", realm)
    pulumi.export("sharedRealm", plan.profile.identity == "shared")
    pulumi.export("sharedStorage", plan.profile.storage == "shared")
    pulumi.export("database", database)
    pulumi.export("secretsPolicy", secrets.policy)
    pulumi.export("namespace", namespace.namespace)
