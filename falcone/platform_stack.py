"""The `platform` stack as the services need it: brought up to date, its outputs read, the metadata migrated.

The automation service does this when it starts; tests and the executor read the same outputs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from psycopg.conninfo import conninfo_to_dict
from pulumi import automation as auto

from components.connections import Backends
from components.secrets import EXECUTOR_POLICY
from falcone import pulumi_runner
from falcone.metadata import migrate
from falcone.metadata.migrate import MetadataRoles

PLATFORM_STACK = "platform"


@dataclass(frozen=True)
class PlatformOutputs:
    realm: str
    metadata_database: str
    role_prefix: str
    tenant_database: str
    shared_bucket: str
    audit_topic: str
    vault_mount: str
    logins: dict[str, dict[str, str]] = field(repr=False)
    # The `in-falcone-operator` client's secret (client credentials, platform_admin): the operator's CLI login.
    operator_client_secret: str = field(repr=False, default="")
    # The Vault policy the executor's token carries (read on the workspaces' subtrees).
    executor_policy: str = EXECUTOR_POLICY

    @classmethod
    def from_stack(cls, outputs: dict[str, Any]) -> PlatformOutputs:
        return cls(
            realm=outputs["realm"],
            metadata_database=outputs["metadataDatabase"],
            role_prefix=outputs["rolePrefix"],
            tenant_database=outputs["tenantDatabase"],
            shared_bucket=outputs["sharedBucket"],
            audit_topic=outputs["auditTopic"],
            vault_mount=outputs["vaultMount"],
            logins=outputs["metadataLogins"],
            operator_client_secret=outputs.get("operatorClientSecret", ""),
            executor_policy=outputs.get("executorPolicy", EXECUTOR_POLICY),
        )

    @property
    def roles(self) -> MetadataRoles:
        return MetadataRoles(self.role_prefix)

    def metadata_dsn(self, backends: Backends, login: str) -> str:
        """A URL (psycopg and asyncpg both take it) to the metadata database as one of the services' logins
        (`automation`, `migrate`, `keys`)."""
        assert backends.postgres is not None
        credentials = self.logins[login]
        admin = conninfo_to_dict(backends.postgres.dsn)
        user, password = quote(credentials["user"], safe=""), quote(credentials["password"], safe="")
        host, port = admin.get("host", "127.0.0.1"), admin.get("port", "5432")
        return f"postgresql://{user}:{password}@{host}:{port}/{quote(self.metadata_database, safe='')}"

    def to_json(self) -> str:
        return json.dumps(self.__dict__)


def stack(backends: Backends, state_dir: Path, work_dir: Path, settings: dict[str, str]) -> auto.Stack:
    platform = pulumi_runner.project_stack(PLATFORM_STACK, state_dir, work_dir=work_dir / PLATFORM_STACK)
    pulumi_runner.configure(platform, backends, **settings)
    return platform


def ensure(
    backends: Backends,
    state_dir: Path,
    work_dir: Path,
    settings: dict[str, str],
    on_output: Callable[[str], None] | None = None,
) -> PlatformOutputs:
    """`up` the platform stack (a no-op when nothing changed) and migrate the metadata database to head."""
    result = stack(backends, state_dir, work_dir, settings).up(on_output=on_output)
    outputs = PlatformOutputs.from_stack({name: value.value for name, value in result.outputs.items()})
    migrate.upgrade(outputs.metadata_dsn(backends, "migrate"), outputs.roles)
    return outputs


def outputs(state_dir: Path, work_dir: Path) -> PlatformOutputs:
    """The outputs of an existing platform stack (secrets included), without touching its config."""
    platform = pulumi_runner.project_stack(PLATFORM_STACK, state_dir, create=False, work_dir=work_dir / PLATFORM_STACK)
    return PlatformOutputs.from_stack({name: value.value for name, value in platform.outputs().items()})


def destroy(
    backends: Backends, state_dir: Path, work_dir: Path, on_output: Callable[[str], None] | None = None
) -> None:
    platform = stack(backends, state_dir, work_dir, {})
    platform.destroy(on_output=on_output)
    platform.workspace.remove_stack(PLATFORM_STACK)
