"""Secrets on OpenBao/Vault (seed 003): KV v2 paths `{mount}/{platform,gateway,iam,tenant,workspace,functions}/…`
and the five policies, each scoped to its own subtree (tenant and workspace policies to one tenant/workspace)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from components.connections import VaultConnection
from components.providers.vault import (
    KvSecretArgs,
    MountArgs,
    PolicyArgs,
    VaultKvSecret,
    VaultMount,
    VaultPolicy,
)
from falcone.naming import TenantNames, WorkspaceNames


def policy_hcl(mount: str, rules: list[tuple[str, list[str]]]) -> str:
    """HCL for `(subpath, capabilities)` rules on a KV v2 mount (data and metadata paths)."""
    lines = []
    for subpath, capabilities in rules:
        caps = ", ".join(f'"{capability}"' for capability in capabilities)
        for kind in ("data", "metadata"):
            lines.append(f'path "{mount}/{kind}/{subpath}/*" {{ capabilities = [{caps}] }}')
    return "\n".join(lines)


READ = ["read", "list"]
READ_WRITE = ["create", "read", "update", "delete", "list"]
EXECUTOR_POLICY = "executor-policy"


def platform_policy_name(prefix: str, policy: str) -> str:
    """Vault policy names are global: a platform's own carry its prefix (its rolePrefix), so two platforms on one
    Vault (test sessions, a staging next to production) never delete each other's."""
    return f"{prefix}-{policy}" if prefix else policy


def executor_policy_hcl(mount: str) -> str:
    """The executor (data plane) reads each workspace's service credentials on first use, and writes nothing."""
    return policy_hcl(mount, [("workspace", READ)])


@dataclass(frozen=True)
class PlatformSecretsArgs:
    connection: pulumi.Input[VaultConnection]
    mount: str = "secret"
    # The dev server (and many installs) already mount KV v2 at `secret/`; create it only where it is missing.
    create_mount: bool = False
    policy_prefix: str = ""


class PlatformSecrets(pulumi.ComponentResource):
    """The platform-wide policies: platform (read/write), gateway and iam (read), and executor: read on every
    workspace's subtree (the data plane reads each workspace's service credentials on first use)."""

    mount: pulumi.Output[str]
    executor_policy: pulumi.Output[str]

    def __init__(self, name: str, args: PlatformSecretsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("falcone:platform:Secrets", name, None, opts)
        depends: list[pulumi.Resource] = []
        if args.create_mount:
            depends.append(
                VaultMount(
                    f"{name}-mount",
                    MountArgs(path=args.mount, description="Falcone secrets"),
                    args.connection,
                    pulumi.ResourceOptions(parent=self),
                )
            )
        for policy, subpath, capabilities in (
            ("platform-policy", "platform", READ_WRITE),
            ("gateway-policy", "gateway", READ),
            ("iam-policy", "iam", READ),
        ):
            VaultPolicy(
                f"{name}-{policy}",
                PolicyArgs(
                    name=platform_policy_name(args.policy_prefix, policy),
                    policy=policy_hcl(args.mount, [(subpath, capabilities)]),
                ),
                args.connection,
                pulumi.ResourceOptions(parent=self, depends_on=depends),
            )
        executor = VaultPolicy(
            f"{name}-{EXECUTOR_POLICY}",
            PolicyArgs(
                name=platform_policy_name(args.policy_prefix, EXECUTOR_POLICY), policy=executor_policy_hcl(args.mount)
            ),
            args.connection,
            pulumi.ResourceOptions(parent=self, depends_on=depends),
        )
        self.mount = pulumi.Output.from_input(args.mount)
        self.executor_policy = executor.name
        self.register_outputs({"mount": self.mount, "executor_policy": self.executor_policy})


@dataclass(frozen=True)
class TenantSecretsArgs:
    names: TenantNames
    connection: pulumi.Input[VaultConnection]
    mount: str = "secret"


class TenantSecrets(pulumi.ComponentResource):
    """`tenant-{slug}`: read/write on `tenant/{slug}/*` only."""

    policy: pulumi.Output[str]

    def __init__(self, name: str, args: TenantSecretsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("falcone:tenant:Secrets", name, None, opts)
        policy = VaultPolicy(
            f"{name}-policy",
            PolicyArgs(
                name=f"tenant-{args.names.slug}",
                policy=policy_hcl(args.mount, [(args.names.vault_prefix, READ_WRITE)]),
            ),
            args.connection,
            pulumi.ResourceOptions(parent=self),
        )
        self.policy = policy.name
        self.register_outputs({"policy": self.policy})


@dataclass(frozen=True)
class WorkspaceSecretsArgs:
    names: WorkspaceNames
    connection: pulumi.Input[VaultConnection]
    mount: str = "secret"
    # Credentials the workspace's services need (DB, storage, Kafka, Mongo), stored under workspace/{t}/{w}/.
    credentials: dict[str, dict[str, pulumi.Input[str]]] = field(default_factory=dict)


class WorkspaceSecrets(pulumi.ComponentResource):
    """`workspace-{t}--{w}` (read/write on the workspace's subtree), `functions-{t}--{w}` (read on its functions'
    subtree), and the workspace's service credentials as KV secrets."""

    policy: pulumi.Output[str]
    functions_policy: pulumi.Output[str]
    paths: pulumi.Output[list[str]]

    def __init__(self, name: str, args: WorkspaceSecretsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("falcone:workspace:Secrets", name, None, opts)
        names, child = args.names, pulumi.ResourceOptions(parent=self)
        suffix = f"{names.tenant}--{names.slug}"
        policy = VaultPolicy(
            f"{name}-policy",
            PolicyArgs(name=f"workspace-{suffix}", policy=policy_hcl(args.mount, [(names.vault_prefix, READ_WRITE)])),
            args.connection,
            child,
        )
        functions = VaultPolicy(
            f"{name}-functions-policy",
            PolicyArgs(
                name=f"functions-{suffix}",
                policy=policy_hcl(args.mount, [(f"functions/{names.tenant}/{names.slug}", READ)]),
            ),
            args.connection,
            child,
        )
        paths = []
        for key, data in sorted(args.credentials.items()):
            path = f"{names.vault_prefix}/{key}"
            VaultKvSecret(f"{name}-{key}", KvSecretArgs(mount=args.mount, path=path, data=data), args.connection, child)
            paths.append(path)
        self.policy = policy.name
        self.functions_policy = functions.name
        self.paths = pulumi.Output.from_input(paths)
        self.register_outputs({"policy": self.policy, "functions_policy": self.functions_policy, "paths": self.paths})
