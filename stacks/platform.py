"""The `platform` stack: what every tenant shares.

Platform realm (identity), the platform's PostgreSQL roles and metadata database, the shared database that holds
the workspace schemas of shared profiles, the shared bucket (prefixes of shared-storage workspaces), the audit
topic and the platform-wide secret policies. With `falcone:chart` set to a deployment profile, also Falcone's own
services: the Helm chart (charts/falcone) on the platform's Kubernetes API server (docs/helm.md).
"""

from __future__ import annotations

import pulumi

from components.falcone_chart import FalconeChart, FalconeChartArgs
from components.identity import PlatformIdentity, PlatformIdentityArgs
from components.platform_database import PlatformDatabase, PlatformDatabaseArgs, platform_role
from components.providers.minio import BucketArgs, MinioBucket
from components.providers.postgres_access import DatabaseArgs, PostgresDatabase
from components.secrets import PlatformSecrets, PlatformSecretsArgs
from components.workspace_topics import AUDIT_TOPIC, AuditTopic, AuditTopicArgs
from falcone.naming import PLATFORM_REALM
from stacks import config
from stacks.kubernetes import kubernetes_provider

SHARED_TENANT_DATABASE = "falcone_tenants"


def program() -> None:
    # Off by default: most platform stacks (every test deployment among them) need no services on Kubernetes.
    chart_profile = config.deployment_profile("chart")
    backends = config.backends()
    postgres = config.require_connection(backends, "postgres")
    identity = PlatformIdentity(
        "identity",
        PlatformIdentityArgs(
            connection=config.require_connection(backends, "keycloak"),
            realm=config.string("platformRealm", PLATFORM_REALM),
            dev_password_grant=config.boolean("devPasswordGrant", False),
        ),
    )
    role_prefix = config.string("rolePrefix", "platform")
    database = PlatformDatabase(
        "database",
        PlatformDatabaseArgs(
            connection=postgres,
            database=config.string("metadataDatabase", "falcone_platform"),
            role_prefix=role_prefix,
        ),
    )
    tenant_data = PostgresDatabase(
        "tenant-data",
        DatabaseArgs(
            name=config.string("tenantDatabase", SHARED_TENANT_DATABASE),
            owner=platform_role(role_prefix, "migrator"),
        ),
        postgres,
        pulumi.ResourceOptions(depends_on=[database]),
    )
    bucket = MinioBucket(
        "shared-bucket",
        BucketArgs(name=config.string("sharedBucket", "falcone-shared"), force_destroy=True),
        config.require_connection(backends, "minio"),
    )
    audit = AuditTopic(
        "audit",
        AuditTopicArgs(
            connection=config.require_connection(backends, "kafka"),
            name=config.string("auditTopic", AUDIT_TOPIC),
        ),
    )
    vault_mount = config.string("vaultMount", "secret")
    secrets = PlatformSecrets(
        "secrets",
        PlatformSecretsArgs(
            connection=config.require_connection(backends, "vault"),
            mount=vault_mount,
            create_mount=config.boolean("createVaultMount", False),
            policy_prefix=role_prefix,
        ),
    )
    pulumi.export("realm", identity.realm)
    pulumi.export("operatorClientSecret", identity.operator_client_secret)
    pulumi.export("metadataDatabase", database.database)
    pulumi.export("metadataLogins", database.logins)
    pulumi.export("rolePrefix", role_prefix)
    pulumi.export("executorPolicy", secrets.executor_policy)
    pulumi.export("tenantDatabase", tenant_data.name)
    pulumi.export("sharedBucket", bucket.name)
    pulumi.export("auditTopic", audit.name)
    pulumi.export("vaultMount", secrets.mount)

    if chart_profile is not None:
        # The installed automation service manages this very platform: it gets the settings this stack ran with.
        keys = ("platformRealm", "rolePrefix", "metadataDatabase", "tenantDatabase", "sharedBucket", "auditTopic")
        stack_settings = {key: value for key in keys if (value := pulumi.Config(config.NAMESPACE).get(key))}
        chart = FalconeChart(
            "chart",
            FalconeChartArgs(
                profile=chart_profile,
                namespace=config.string("chartNamespace", "falcone-system"),
                backends=backends,
                provider=kubernetes_provider(backends),
                wait=config.boolean("chartAwait", True),
                values={
                    "automation": {"stackSettings": stack_settings},
                    "executor": {"vaultMount": vault_mount},
                },
            ),
            pulumi.ResourceOptions(depends_on=[database, secrets]),
        )
        pulumi.export("chartNamespace", chart.namespace)
