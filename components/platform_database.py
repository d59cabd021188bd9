"""The platform's PostgreSQL roles (seed 003) and its metadata database.

| role | what it may do |
|---|---|
| platform_runtime | DML under RLS (NOBYPASSRLS) on the metadata database |
| platform_migrator | DDL: owns the metadata database |
| platform_provisioner | creates schemas and roles for workspaces (CREATEROLE is granted by the operator) |
| platform_audit_readonly | reads the audit tables |
| platform_break_glass | emergency access: NOLOGIN until an operator enables it by hand, BYPASSRLS |

The superuser that runs the provisioning engine stays outside the product; the services connect as
`platform_runtime`-based login roles only.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.connections import PostgresConnection
from components.providers.postgres import PostgresRole, RoleArgs
from components.providers.postgres_access import DatabaseArgs, PostgresDatabase

PLATFORM_ROLES = {
    "platform_runtime": RoleArgs(name="platform_runtime"),
    "platform_migrator": RoleArgs(name="platform_migrator"),
    "platform_provisioner": RoleArgs(name="platform_provisioner"),
    "platform_audit_readonly": RoleArgs(name="platform_audit_readonly"),
    "platform_break_glass": RoleArgs(name="platform_break_glass", bypass_rls=True),
}


@dataclass(frozen=True)
class PlatformDatabaseArgs:
    connection: pulumi.Input[PostgresConnection]
    database: str = "falcone_platform"


class PlatformDatabase(pulumi.ComponentResource):
    database: pulumi.Output[str]

    def __init__(self, name: str, args: PlatformDatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("falcone:platform:Database", name, None, opts)
        roles = [
            PostgresRole(f"{name}-{role}", role_args, args.connection, pulumi.ResourceOptions(parent=self))
            for role, role_args in PLATFORM_ROLES.items()
        ]
        database = PostgresDatabase(
            f"{name}-metadata",
            DatabaseArgs(name=args.database, owner="platform_migrator"),
            args.connection,
            pulumi.ResourceOptions(parent=self, depends_on=roles),
        )
        self.database = database.name
        self.register_outputs({"database": self.database})
