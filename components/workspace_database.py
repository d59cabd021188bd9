"""A workspace's PostgreSQL: schema, roles, grants, default privileges, functions and the RLS baseline.

Seed 003's model: the executor logs in as `{schema}_executor` (LOGIN NOINHERIT: it holds no privilege itself and
can only `SET ROLE` to the workspace's runtime/anon/service roles), which are NOLOGIN NOBYPASSRLS; DDL belongs to
`{schema}_migrator`, which owns the schema; `{schema}_audit` reads. Tables the migrator creates later give
runtime and service DML through default privileges, and anon nothing (Falcone bug #490 was default grants to
anon on every table).

Every table gets its protection from `falcone.rls`, the one definition of it: declared tables (schema as code) one
resource per piece (context columns, FORCE RLS, the isolation policy, anon's SELECT, the change trigger), tables
created through the data API from `{schema}.create_table`, the SECURITY DEFINER function installed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

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
    PostgresTableGrant,
    PostgresTrigger,
    SchemaGrantArgs,
    TableArgs,
    TableGrantArgs,
    TriggerArgs,
)
from falcone import rls
from falcone.naming import WorkspaceNames

DML = ["SELECT", "INSERT", "UPDATE", "DELETE"]
# Roles the executor may become; NOLOGIN NOBYPASSRLS all of them.
REQUEST_ROLES = rls.REQUEST_PURPOSES


@dataclass(frozen=True)
class TableSpec:
    """A table declared with the workspace (schema as code). `tenant_id`, `workspace_id`, row-level security, the
    isolation policy, anon's SELECT and the change trigger are added for you."""

    name: str
    columns: list[str]
    # The columns of the PRIMARY KEY `columns` declares: realtime events name a row by them.
    primary_key: tuple[str, ...] = ("id",)


@dataclass(frozen=True)
class WorkspaceDatabaseArgs:
    names: WorkspaceNames
    # The value RLS compares with `app.tenant_id`, which the executor sets from the verified credential: the
    # workspace's tenant (anything else is refused).
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
        if args.tenant_id != names.tenant:
            raise ValueError(f"tenant_id {args.tenant_id!r} is not the workspace's tenant {names.tenant!r}")

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
                    body=rls.context_function_body(f"{setting}_id"),
                    owner=names.db_role("migrator"),
                    execute_roles=[names.db_role(purpose) for purpose in REQUEST_ROLES],
                ),
                connection,
                child(*ready),
            )
            for setting in ("tenant", "workspace")
        ]
        notify_function = rls.notify_change_function(names)
        notify = PostgresFunction(
            f"{name}-fn-notify-change",
            # The tables created through the API fire it: deleting the workspace's data deletes their triggers
            # (a protected workspace refuses, as its schema does).
            replace(_function_args(notify_function, database), drop_cascade=args.drop_data_on_delete),
            connection,
            child(*ready),
        )
        # After the change trigger's function: every table it creates fires it.
        PostgresFunction(
            f"{name}-fn-create-table",
            _function_args(rls.create_table_function(names), database),
            connection,
            child(*ready, notify),
        )
        # Declared tables get what `rls.create_table_function` gives the tables created through the data API.
        context_columns = rls.context_columns(rls.context(names))
        predicate = rls.isolation_predicate(rls.CONTEXT_COLUMNS)
        for table in args.tables:
            created = PostgresTable(
                f"{name}-table-{table.name}",
                TableArgs(
                    database=database,
                    schema=schema_name,
                    name=table.name,
                    owner=names.db_role("migrator"),
                    columns=[*table.columns, *context_columns],
                ),
                connection,
                # after the defaults: they decide what a new table grants
                child(*ready, *defaults, *functions),
            )
            PostgresPolicy(
                f"{name}-policy-{table.name}",
                PolicyArgs(
                    database=database,
                    schema=schema_name,
                    table=table.name,
                    name=rls.POLICY_NAME,
                    roles=[names.db_role(purpose) for purpose in REQUEST_ROLES],
                    using=predicate,
                    with_check=predicate,
                ),
                connection,
                child(created),
            )
            PostgresTableGrant(
                f"{name}-anon-{table.name}",
                TableGrantArgs(
                    database=database,
                    schema=schema_name,
                    table=table.name,
                    role=names.db_role("anon"),
                    privileges=list(rls.ANON_PRIVILEGES),
                ),
                connection,
                child(created),
            )
            PostgresTrigger(
                f"{name}-changes-{table.name}",
                TriggerArgs(
                    database=database,
                    schema=schema_name,
                    table=table.name,
                    name=rls.CHANGE_TRIGGER,
                    function_schema=notify_function.schema,
                    function=notify_function.name,
                    events=list(rls.CHANGE_EVENTS),
                    arguments=list(table.primary_key),
                ),
                connection,
                child(created, notify),
            )

        self.schema = schema.name
        self.executor_role = executor.name
        self.register_outputs({"schema": self.schema, "executor_role": self.executor_role})


def _function_args(definition: rls.FunctionDefinition, database: str) -> FunctionArgs:
    return FunctionArgs(
        database=database,
        schema=definition.schema,
        name=definition.name,
        arguments=definition.arguments,
        returns=definition.returns,
        body=definition.body,
        language=definition.language,
        volatility=definition.volatility,
        owner=definition.owner,
        execute_roles=list(definition.execute_roles),
        security_definer=definition.security_definer,
        search_path=definition.search_path,
    )
