"""`workspace-{tenant}.{workspace}` stacks: the workspace's resources, chosen by its tenant's plan.

The plan's capabilities decide the components (identity, postgres, mongo, kafka, storage); its profile decides
shared vs dedicated placement; its quotas size them. Credentials the services need are stored in the workspace's
secret subtree, never exported in clear.
"""

from __future__ import annotations

import pulumi

from components.identity import Application, WorkspaceIdentity, WorkspaceIdentityArgs
from components.providers.random import RandomSecret
from components.secrets import WorkspaceSecrets, WorkspaceSecretsArgs
from components.workspace_database import TableSpec, WorkspaceDatabase, WorkspaceDatabaseArgs
from components.workspace_documents import WorkspaceDocuments, WorkspaceDocumentsArgs
from components.workspace_storage import WorkspaceStorage, WorkspaceStorageArgs
from components.workspace_topics import WorkspaceTopics, WorkspaceTopicsArgs
from falcone.plans import Capability, catalog
from stacks import config
from stacks.references import output_value, platform_stack


def _tables() -> list[TableSpec]:
    return [
        TableSpec(name=name, columns=["id bigserial PRIMARY KEY", "data jsonb NOT NULL DEFAULT '{}'"])
        for name in config.string_list("tables", [])
    ]


def program() -> None:
    names = config.workspace_from_stack(pulumi.get_stack())
    tenant_stack = f"tenant-{names.tenant}"
    plan = catalog().plan(str(output_value(tenant_stack, "plan")))
    backends = config.backends()
    credentials: dict[str, dict[str, pulumi.Input[str]]] = {}

    if plan.allows(Capability.IDENTITY):
        shared_realm = plan.profile.identity == "shared"
        identity = WorkspaceIdentity(
            "identity",
            WorkspaceIdentityArgs(
                names=names,
                realm=str(output_value(tenant_stack, "realm")),
                shared_realm=shared_realm,
                plan_id=plan.name,
                connection=config.require_connection(backends, "keycloak"),
                applications=[Application(name=app) for app in config.string_list("applications", [])],
                service_accounts=config.string_list("serviceAccounts", []),
            ),
        )
        pulumi.export("clients", identity.client_ids)
        pulumi.export("serviceAccountSecrets", identity.service_account_secrets)

    if plan.allows(Capability.POSTGRES):
        executor_password = RandomSecret("executor-password", length=32)
        database_name = str(output_value(tenant_stack, "database"))
        database = WorkspaceDatabase(
            "database",
            WorkspaceDatabaseArgs(
                names=names,
                tenant_id=names.tenant,
                executor_password=executor_password.value,
                connection=config.require_connection(backends, "postgres"),
                database=database_name,
                tables=_tables(),
            ),
        )
        credentials["database"] = {
            "database": database_name,
            "schema": database.schema,
            "user": database.executor_role,
            "password": executor_password.value,
        }
        pulumi.export("schema", database.schema)

    if plan.allows(Capability.MONGO):
        documents = WorkspaceDocuments(
            "documents",
            WorkspaceDocumentsArgs(names=names, connection=config.require_connection(backends, "mongo")),
        )
        credentials["documents"] = {
            "database": documents.database,
            "user": documents.username,
            "password": documents.password,
        }
        pulumi.export("mongoDatabase", documents.database)

    if plan.allows(Capability.KAFKA):
        topic_names = config.string_list("topics", ["events"])
        if len(topic_names) > plan.quotas.max_topics:
            raise config.ConfigError(
                "falcone:topics", f"{len(topic_names)} topics; plan {plan.name!r} allows {plan.quotas.max_topics}"
            )
        topics = WorkspaceTopics(
            "topics",
            WorkspaceTopicsArgs(
                names=names,
                connection=config.require_connection(backends, "kafka"),
                topics=topic_names,
                partitions=plan.quotas.topic_partitions,
                retention_ms=plan.quotas.topic_retention_ms,
                revoke_principal_on_delete=config.boolean("kafkaRevokeOnly", False),
            ),
        )
        credentials["events"] = {"principal": topics.principal, "password": topics.password}
        pulumi.export("topics", topics.topics)

    if plan.allows(Capability.STORAGE):
        shared = bool(output_value(tenant_stack, "sharedStorage"))
        storage = WorkspaceStorage(
            "storage",
            WorkspaceStorageArgs(
                names=names,
                connection=config.require_connection(backends, "minio"),
                shared_bucket=str(output_value(platform_stack(), "sharedBucket")) if shared else None,
                quota_bytes=None if shared else plan.quotas.storage_bytes,
            ),
        )
        credentials["storage"] = {
            "bucket": storage.bucket,
            "prefix": storage.prefix,
            "access_key": storage.access_key,
            "secret_key": storage.secret_key,
        }
        pulumi.export("bucket", storage.bucket)

    secrets = WorkspaceSecrets(
        "secrets",
        WorkspaceSecretsArgs(
            names=names,
            connection=config.require_connection(backends, "vault"),
            mount=config.string("vaultMount", "secret"),
            credentials=credentials,
        ),
    )
    pulumi.export("tenant", names.tenant)
    pulumi.export("workspace", names.slug)
    pulumi.export("plan", plan.name)
    pulumi.export("secretPaths", secrets.paths)
