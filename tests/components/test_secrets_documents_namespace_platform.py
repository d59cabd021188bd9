"""Secrets, document store, tenant namespace and platform database under mocks: the isolation-carrying inputs."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.connections import MongoConnection, PostgresConnection, VaultConnection
from components.platform_database import PlatformDatabase, PlatformDatabaseArgs
from components.secrets import (
    PlatformSecrets,
    PlatformSecretsArgs,
    TenantSecrets,
    TenantSecretsArgs,
    WorkspaceSecrets,
    WorkspaceSecretsArgs,
)
from components.tenant_namespace import TenantNamespace, TenantNamespaceArgs
from components.workspace_documents import WorkspaceDocuments, WorkspaceDocumentsArgs
from falcone.naming import TenantNames, WorkspaceNames
from falcone.plans import catalog
from tests.components.mocks import is_secret, run

VAULT = VaultConnection(address="http://127.0.0.1:1", token="t")


def _paths(hcl: str) -> set[str]:
    return {line.split('"')[1] for line in hcl.splitlines()}


def test_platform_policies_cover_only_their_subtrees() -> None:
    registered = run(lambda: PlatformSecrets("ps", PlatformSecretsArgs(connection=VAULT)).mount)
    assert _paths(registered.named("ps-platform-policy").inputs["policy"]) == {
        "secret/data/platform/*",
        "secret/metadata/platform/*",
    }
    gateway = registered.named("ps-gateway-policy").inputs["policy"]
    assert '"read", "list"' in gateway
    assert "update" not in gateway
    assert not registered.matching(lambda r: r.name == "ps-mount")  # the dev server's secret/ is reused


def test_tenant_and_workspace_policies_are_scoped_to_their_own_subtree() -> None:
    def program() -> pulumi.Output[str]:
        TenantSecrets("ts", TenantSecretsArgs(names=TenantNames("acme"), connection=VAULT))
        return WorkspaceSecrets(
            "ws",
            WorkspaceSecretsArgs(
                names=WorkspaceNames("acme", "prod"), connection=VAULT, credentials={"database": {"password": "pw"}}
            ),
        ).policy

    registered = run(program)
    assert registered.named("ts-policy").inputs["name"] == "tenant-acme"
    assert _paths(registered.named("ts-policy").inputs["policy"]) == {
        "secret/data/tenant/acme/*",
        "secret/metadata/tenant/acme/*",
    }
    assert _paths(registered.named("ws-policy").inputs["policy"]) == {
        "secret/data/workspace/acme/prod/*",
        "secret/metadata/workspace/acme/prod/*",
    }
    assert _paths(registered.named("ws-functions-policy").inputs["policy"]) == {
        "secret/data/functions/acme/prod/*",
        "secret/metadata/functions/acme/prod/*",
    }
    stored = registered.named("ws-database").inputs
    assert stored["path"] == "workspace/acme/prod/database"


def test_document_user_reads_and_writes_its_own_database_only() -> None:
    mongo = MongoConnection(uri="mongodb://x")
    registered = run(
        lambda: (
            WorkspaceDocuments(
                "doc", WorkspaceDocumentsArgs(names=WorkspaceNames("acme", "prod"), connection=mongo)
            ).database
        )
    )
    user = registered.named("doc-user").inputs
    assert user["roles"] == [{"role": "readWrite", "db": "ws_acme__prod"}]
    assert user["database"] == "ws_acme__prod"
    assert registered.named("doc-database").inputs["name"] == "ws_acme__prod"


def test_tenant_namespace_quota_from_plan_and_default_deny() -> None:
    plan = catalog().plan("growth")

    def program() -> pulumi.Output[str]:
        provider = k8s.Provider("render", render_yaml_to_directory="/tmp/unused")
        return TenantNamespace(
            "ns", TenantNamespaceArgs(names=TenantNames("acme"), plan=plan, provider=provider)
        ).namespace

    registered = run(program)
    namespace = registered.named("ns-ns").inputs
    assert namespace["metadata"]["name"] == "tenant-acme"
    assert namespace["metadata"]["labels"]["falcone.io/plan"] == "growth"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    quota = registered.named("ns-quota").inputs
    assert quota["spec"]["hard"]["pods"] == str(plan.quotas.max_workspaces * 5)
    deny = registered.named("ns-default-deny").inputs["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_platform_roles_cannot_bypass_rls_except_break_glass() -> None:
    registered = run(
        lambda: (
            PlatformDatabase("pdb", PlatformDatabaseArgs(connection=PostgresConnection(dsn="postgresql://x"))).database
        )
    )
    for role in ("platform_runtime", "platform_migrator", "platform_provisioner", "platform_audit_readonly"):
        inputs = registered.named(f"pdb-{role}").inputs
        assert inputs["bypass_rls"] is False
        assert inputs["login"] is False
    for login, member_of in (("automation", ["platform_runtime"]), ("migrate", ["platform_migrator"]), ("keys", [])):
        inputs = registered.named(f"pdb-platform_{login}").inputs
        assert (inputs["login"], inputs["bypass_rls"], inputs["member_of"]) == (True, False, member_of)
    glass = registered.named("pdb-platform_break_glass").inputs
    assert glass["login"] is False  # enabled by an operator in an emergency only
    metadata = registered.named("pdb-metadata").inputs
    assert metadata["owner"] == "platform_migrator"
    assert is_secret(metadata["connection"], {"dsn": "postgresql://x"})
