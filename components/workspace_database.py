"""A workspace's PostgreSQL: schema, roles, grants, default privileges, context functions and the RLS baseline.

Seed 003's model: the executor logs in as `{schema}_executor` (LOGIN NOINHERIT: it holds no privilege itself and
can only `SET ROLE` to the workspace's runtime/anon/service roles), which are NOLOGIN NOBYPASSRLS; DDL belongs to
`{schema}_migrator`, which owns the schema; `{schema}_audit` reads. Tables the migrator creates later give
runtime and service DML through default privileges, and anon nothing (Falcone bug #490 was default grants to
anon on every table). Declared tables carry `tenant_id`, FORCE ROW LEVEL SECURITY and a tenant policy that fails
closed: without `app.tenant_id` set, `current_setting(..., true)` is NULL and no row matches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from components.connections import PostgresConnection
from components.providers.postgres import PostgresRole, PostgresSchema, RoleArgs, SchemaArgs
from components.providers.postgres_access import (
    DatabaseGrantArgs,
    DefaultPrivilegesArgs,
    FunctionArgs,
    PolicyArgs,
    PostgresDatabaseGrant,
    PostgresDefaultPrivileges,
    PostgresFunction,
    PostgresPolicy,
    PostgresSchemaGrant,
    PostgresTable,
    SchemaGrantArgs,
    TableArgs,
)
from falcone.naming import WorkspaceNames

DML = ["SELECT", "INSERT", "UPDATE", "DELETE"]
# Roles the executor may become; NOLOGIN NOBYPASSRLS all of them.
REQUEST_ROLES = ("runtime", "anon", "service")


@dataclass(frozen=True)
class TableSpec:
    """A table declared with the workspace (schema as code). `tenant_id` and its policy are added for you."""

    name: str
    columns: list[str]


@dataclass(frozen=True)
class WorkspaceDatabaseArgs:
    names: WorkspaceNames
    # The value RLS compares with `app.tenant_id`, which the executor sets from the verified credential.
    tenant_id: str
    executor_password: pulumi.Input[str]
    connection: pulumi.Input[PostgresConnection]
    database: str = "postgres"
    tables: list[TableSpec] = field(default_factory=list)
    # Deleting the workspace drops its data; a protected workspace refuses instead.
    drop_data_on_delete: bool = True


class WorkspaceDatabase(pulumi.ComponentResource):
    schema: pulumi.Output[str]
    executor_role: pulumi.Output[str]

    def __init__(self, name: str, args: WorkspaceDatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("falcone:workspace:Database", name, None, opts)
        names, connection, database = args.names, args.connection, args.database
        schema_name = names.schema

        def child(*depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))

        roles = {
            purpose: PostgresRole(f"{name}-{purpose}", RoleArgs(name=names.db_role(purpose)), connection, child())
            for purpose in ("migrator", *REQUEST_ROLES, "audit")
        }
        executor = PostgresRole(
            f"{name}-executor",
            RoleArgs(
                name=names.db_role("executor"),
                login=True,
                inherit=False,
                member_of=[names.db_role(purpose) for purpose in REQUEST_ROLES],
                password=args.executor_password,
            ),
            connection,
            child(*roles.values()),
        )
        schema = PostgresSchema(
            f"{name}-schema",
            SchemaArgs(
                name=schema_name,
                owner=names.db_role("migrator"),
                database=database,
                drop_cascade=args.drop_data_on_delete,
            ),
            connection,
            child(roles["migrator"]),
        )
        # Databases Falcone creates refuse PUBLIC; the executor (and only it) may connect.
        connect_grant = PostgresDatabaseGrant(
            f"{name}-connect",
            DatabaseGrantArgs(database=database, role=names.db_role("executor")),
            connection,
            child(executor),
        )
        ready = [*roles.values(), executor, schema, connect_grant]
        for purpose in (*REQUEST_ROLES, "audit"):
            PostgresSchemaGrant(
                f"{name}-usage-{purpose}",
                SchemaGrantArgs(database=database, schema=schema_name, role=names.db_role(purpose)),
                connection,
                child(*ready),
            )
        defaults = [
            PostgresDefaultPrivileges(
                f"{name}-defaults-{purpose}-{object_type}",
                DefaultPrivilegesArgs(
                    database=database,
                    schema=schema_name,
                    owner=names.db_role("migrator"),
                    role=names.db_role(purpose),
                    object_type=object_type,
                    privileges=privileges,
                ),
                connection,
                child(*ready),
            )
            for purpose, object_type, privileges in (
                ("runtime", "tables", DML),
                ("service", "tables", DML),
                ("runtime", "sequences", ["USAGE", "SELECT"]),
                ("service", "sequences", ["USAGE", "SELECT"]),
                ("audit", "tables", ["SELECT"]),
            )
        ]
        functions = [
            PostgresFunction(
                f"{name}-fn-{setting}",
                FunctionArgs(
                    database=database,
                    schema=schema_name,
                    name=f"current_{setting}_id",
                    returns="text",
                    body=f"SELECT current_setting('app.{setting}_id', true)",
                    owner=names.db_role("migrator"),
                    execute_roles=[names.db_role(purpose) for purpose in REQUEST_ROLES],
                ),
                connection,
                child(*ready),
            )
            for setting in ("tenant", "workspace")
        ]
        predicate = f"tenant_id = {schema_name}.current_tenant_id()"
        for table in args.tables:
            created = PostgresTable(
                f"{name}-table-{table.name}",
                TableArgs(
                    database=database,
                    schema=schema_name,
                    name=table.name,
                    owner=names.db_role("migrator"),
                    columns=[
                        *table.columns,
                        f"tenant_id text NOT NULL DEFAULT {schema_name}.current_tenant_id()",
                        f"CHECK (tenant_id = {_literal(args.tenant_id)})",
                    ],
                ),
                connection,
                # after the defaults (they decide what a new table grants) and the function its default calls
                child(*ready, *defaults, *functions),
            )
            PostgresPolicy(
                f"{name}-policy-{table.name}",
                PolicyArgs(
                    database=database,
                    schema=schema_name,
                    table=table.name,
                    name="tenant_isolation",
                    roles=[names.db_role(purpose) for purpose in REQUEST_ROLES],
                    using=predicate,
                    with_check=predicate,
                ),
                connection,
                child(created),
            )

        self.schema = schema.name
        self.executor_role = executor.name
        self.register_outputs({"schema": self.schema, "executor_role": self.executor_role})


def _literal(value: str) -> str:
    if "'" in value or "\\" in value:
        raise ValueError(f"tenant id {value!r} must not contain quotes or backslashes")
    return f"'{value}'"
