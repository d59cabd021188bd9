"""The platform's PostgreSQL roles (seed 003), its metadata database and the services' login roles.

| role | what it may do |
|---|---|
| {prefix}_runtime | DML under RLS (NOBYPASSRLS) on the metadata database |
| {prefix}_migrator | DDL: owns the metadata database |
| {prefix}_provisioner | creates schemas and roles for workspaces (CREATEROLE is granted by the operator) |
| {prefix}_audit_readonly | reads the audit tables |
| {prefix}_break_glass | emergency access: NOLOGIN until an operator enables it by hand, BYPASSRLS |

The services log in as members of those roles, never as them: `{prefix}_automation` (runtime), `{prefix}_migrate`
(migrator, runs the metadata migrations) and `{prefix}_keys` (the executor's read of API keys; a member of
nothing, the migrations grant it exactly that). The prefix is
`platform` in a real deployment; tests give each run its own so that several platforms share one cluster.
The superuser that runs the provisioning engine stays outside the product.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.connections import PostgresConnection
from components.providers.postgres import PostgresRole, RoleArgs
from components.providers.postgres_access import DatabaseArgs, PostgresDatabase
from components.providers.random import RandomSecret

ROLE_KINDS = ("runtime", "migrator", "provisioner", "audit_readonly", "break_glass")
# login role → the platform roles it is a member of (the keys login gets its own grants from the migrations)
LOGINS: dict[str, list[str]] = {"automation": ["runtime"], "migrate": ["migrator"], "keys": []}


@dataclass(frozen=True)
class PlatformDatabaseArgs:
    connection: pulumi.Input[PostgresConnection]
    database: str = "falcone_platform"
    role_prefix: str = "platform"


def platform_role(prefix: str, kind: str) -> str:
    return f"{prefix}_{kind}"


class PlatformDatabase(pulumi.ComponentResource):
    database: pulumi.Output[str]
    # login name → {"user", "password"} (secret)
    logins: pulumi.Output[dict[str, dict[str, str]]]

    def __init__(self, name: str, args: PlatformDatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("falcone:platform:Database", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        roles = [
            PostgresRole(
                f"{name}-{platform_role(args.role_prefix, kind)}",
                RoleArgs(name=platform_role(args.role_prefix, kind), bypass_rls=kind == "break_glass"),
                args.connection,
                child,
            )
            for kind in ROLE_KINDS
        ]
        logins: dict[str, pulumi.Output[dict[str, str]]] = {}
        login_roles: list[PostgresRole] = []
        for login, member_of in LOGINS.items():
            user = platform_role(args.role_prefix, login)
            password = RandomSecret(f"{name}-{login}-password", length=32, opts=child)
            role = PostgresRole(
                f"{name}-{user}",
                RoleArgs(
                    name=user,
                    login=True,
                    password=password.value,
                    member_of=[platform_role(args.role_prefix, kind) for kind in member_of],
                ),
                args.connection,
                pulumi.ResourceOptions(parent=self, depends_on=roles),
            )
            login_roles.append(role)
            logins[login] = pulumi.Output.all(role.name, password.value).apply(
                lambda values: {"user": values[0], "password": values[1]}
            )
        # The migrations grant the login roles privileges inside the database: it must go before they do.
        database = PostgresDatabase(
            f"{name}-metadata",
            DatabaseArgs(name=args.database, owner=platform_role(args.role_prefix, "migrator")),
            args.connection,
            pulumi.ResourceOptions(parent=self, depends_on=[*roles, *login_roles]),
        )
        self.database = database.name
        self.logins = pulumi.Output.secret(pulumi.Output.all(**logins))
        self.register_outputs({"database": self.database, "logins": self.logins})
