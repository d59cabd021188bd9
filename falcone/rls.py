"""Row-level security of workspace tables: the context columns, the isolation predicate and the DDL function, here
and only here.

Two writers create tables in a workspace schema: the workspace stack (tables declared as code) and the executor
(tables created through the data API). Both must give every table the same protection, so both take it from this
module: `context_columns` (a `tenant_id` column defaulting to the request's context, pinned by a CHECK to the
workspace's tenant), `isolation_predicate` (compares each context column with the setting the executor sets per
transaction; fails closed when the setting is missing: NULL or '' match no row) and `POLICY_NAME`.

The executor cannot run DDL itself: its login only becomes the NOLOGIN runtime/anon/service roles, none of which
may create in the schema. It calls `{schema}.create_table(name, columns)`, a SECURITY DEFINER function owned by the
schema's migrator (see `create_table_function`). Why a function and not a migrator login for the executor: the
owner of a table may `DISABLE ROW LEVEL SECURITY` or drop its policy, so a data-plane process that could become
the owner could undo isolation with one bug; the function can only ever create a table *with* the context
columns, FORCE RLS, the policy and the anon grant in one transaction (Falcone bug #494 was tables created without
them), and it takes column types from an allow-list only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from falcone.naming import WorkspaceNames

POLICY_NAME = "tenant_isolation"
# context column -> the setting the executor sets per transaction (set_config(..., true)) and its reader
CONTEXT_SETTINGS = {"tenant_id": "app.tenant_id", "workspace_id": "app.workspace_id"}
CONTEXT_COLUMNS = tuple(CONTEXT_SETTINGS)
# Roles a request may run as; the policy applies to all of them.
REQUEST_PURPOSES = ("runtime", "anon", "service")
# Tables created through the API: what anon (a browser-shippable key) gets. Read only, by design.
ANON_PRIVILEGES = ("SELECT",)

TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
COLUMN_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# Column types a table created through the API may use (PostgreSQL's own spelling).
COLUMN_TYPES = (
    "text",
    "varchar",
    "boolean",
    "smallint",
    "integer",
    "bigint",
    "numeric",
    "real",
    "double precision",
    "date",
    "time",
    "timestamp",
    "timestamptz",
    "interval",
    "uuid",
    "jsonb",
    "bytea",
    "text[]",
    "integer[]",
    "bigint[]",
    "uuid[]",
)
# Expressions a column default may be, besides a literal value.
DEFAULT_EXPRESSIONS = ("now()", "gen_random_uuid()", "CURRENT_DATE")
MAX_COLUMNS = 100


def context_value(column: str) -> str:
    """The request's value of a context column: the setting the executor sets for the transaction (NULL when unset,
    '' on a pooled connection after an earlier transaction set it; neither equals a slug, so both fail closed).

    Tables use this expression itself rather than the `{schema}.current_*_id()` functions the workspace stack
    also creates, so that nothing a tenant creates depends on an object Pulumi deletes before the schema."""
    return f"current_setting('{CONTEXT_SETTINGS[column]}', true)"


def context_function_body(column: str) -> str:
    """Body of `{schema}.current_tenant_id()` / `current_workspace_id()` (for SQL users write themselves)."""
    return f"SELECT {context_value(column)}"


def context_columns(values: dict[str, str]) -> list[str]:
    """Column definitions (and CHECKs) of the context columns, e.g. `{"tenant_id": "acme"}`."""
    definitions = []
    for column, value in values.items():
        definitions.append(f"{column} text NOT NULL DEFAULT {context_value(column)}")
        definitions.append(f"CHECK ({column} = {_literal(value)})")
    return definitions


def isolation_predicate(columns: tuple[str, ...] = ("tenant_id",)) -> str:
    return " AND ".join(f"{column} = {context_value(column)}" for column in columns)


def _literal(value: str) -> str:
    if "'" in value or "\\" in value:
        raise ValueError(f"context value {value!r} must not contain quotes or backslashes")
    return f"'{value}'"


@dataclass(frozen=True)
class FunctionDefinition:
    """What `CREATE FUNCTION` needs; the workspace stack and the test fixtures install the same definition."""

    schema: str
    name: str
    arguments: str
    returns: str
    body: str
    owner: str
    execute_roles: tuple[str, ...]
    language: str = "plpgsql"
    security_definer: bool = True
    # SECURITY DEFINER functions must not resolve names through the caller's search_path.
    search_path: str = "pg_catalog, pg_temp"

    def statements(self) -> list[str]:
        """The SQL that installs it (identifiers come from validated slugs, the body is dollar-quoted)."""
        signature = f"{self.schema}.{self.name}({self.arguments})"
        security = "SECURITY DEFINER " if self.security_definer else ""
        statements = [
            f"CREATE OR REPLACE FUNCTION {signature} RETURNS {self.returns} LANGUAGE {self.language} VOLATILE "
            f"{security}SET search_path = {self.search_path} AS $falcone$\n{self.body}\n$falcone$",
            f"ALTER FUNCTION {signature} OWNER TO {self.owner}",
            f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC",
        ]
        statements += [f"GRANT EXECUTE ON FUNCTION {signature} TO {role}" for role in self.execute_roles]
        return statements


CREATE_TABLE_FUNCTION = "create_table"


def create_table_function(names: WorkspaceNames) -> FunctionDefinition:
    """`{schema}.create_table(table_name text, columns jsonb)`: a table with the context columns of the workspace,
    FORCE RLS, the isolation policy for the request roles and SELECT for anon, or nothing (one transaction).

    `columns` is a JSON array of `{"name", "type", "nullable", "primary_key", "unique", "identity", "default",
    "default_expression"}`; names and types are checked against the same patterns and allow-lists the executor
    uses, again here because this function is the boundary. Without a primary key, `id bigint` identity is added.
    """
    schema = names.schema
    context = {"tenant_id": names.tenant, "workspace_id": names.slug}
    predicate = isolation_predicate(CONTEXT_COLUMNS)
    roles = ", ".join(names.db_role(purpose) for purpose in REQUEST_PURPOSES)
    body = f"""
DECLARE
    item jsonb;
    column_name text;
    column_type text;
    definition text;
    definitions text[] := ARRAY[]::text[];
    primary_key text[] := ARRAY[]::text[];
BEGIN
    IF table_name IS NULL OR table_name !~ {_sql_text(TABLE_NAME.pattern)} THEN
        RAISE EXCEPTION 'invalid table name: use 1-48 characters of a-z, 0-9 and _, starting with a letter'
            USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(columns) IS DISTINCT FROM 'array'
            OR jsonb_array_length(columns) NOT BETWEEN 1 AND {MAX_COLUMNS} THEN
        RAISE EXCEPTION 'columns must be an array of 1 to {MAX_COLUMNS} column definitions' USING ERRCODE = '22023';
    END IF;
    FOR item IN SELECT value FROM jsonb_array_elements(columns) LOOP
        IF jsonb_typeof(item) IS DISTINCT FROM 'object' THEN
            RAISE EXCEPTION 'each column must be an object' USING ERRCODE = '22023';
        END IF;
        column_name := item->>'name';
        column_type := item->>'type';
        IF column_name IS NULL OR column_name !~ {_sql_text(COLUMN_NAME.pattern)}
                OR column_name = ANY ({_sql_array(CONTEXT_COLUMNS)}) THEN
            RAISE EXCEPTION 'invalid or reserved column name: %', column_name USING ERRCODE = '22023';
        END IF;
        IF column_type IS NULL OR NOT column_type = ANY ({_sql_array(COLUMN_TYPES)}) THEN
            RAISE EXCEPTION 'column %: type % is not allowed', column_name, column_type USING ERRCODE = '22023';
        END IF;
        definition := format('%I %s', column_name, column_type);
        IF coalesce((item->>'identity')::boolean, false) THEN
            IF column_type NOT IN ('smallint', 'integer', 'bigint') THEN
                RAISE EXCEPTION 'column %: identity needs an integer type', column_name USING ERRCODE = '22023';
            END IF;
            definition := definition || ' GENERATED BY DEFAULT AS IDENTITY';
        ELSIF item ? 'default_expression' THEN
            IF NOT (item->>'default_expression') = ANY ({_sql_array(DEFAULT_EXPRESSIONS)}) THEN
                RAISE EXCEPTION 'column %: default expression not allowed', column_name USING ERRCODE = '22023';
            END IF;
            definition := definition || ' DEFAULT ' || (item->>'default_expression');
        ELSIF item ? 'default' AND jsonb_typeof(item->'default') <> 'null' THEN
            IF jsonb_typeof(item->'default') IN ('object', 'array') AND column_type <> 'jsonb' THEN
                RAISE EXCEPTION 'column %: only jsonb columns take object or array defaults', column_name
                    USING ERRCODE = '22023';
            END IF;
            IF column_type = 'jsonb' THEN
                definition := definition || format(' DEFAULT %L::jsonb', item->'default');
            ELSE
                definition := definition || format(' DEFAULT %L::%s', item->>'default', column_type);
            END IF;
        END IF;
        IF NOT coalesce((item->>'nullable')::boolean, true) THEN
            definition := definition || ' NOT NULL';
        END IF;
        IF coalesce((item->>'unique')::boolean, false) THEN
            definition := definition || ' UNIQUE';
        END IF;
        IF coalesce((item->>'primary_key')::boolean, false) THEN
            primary_key := primary_key || format('%I', column_name);
        END IF;
        definitions := definitions || definition;
    END LOOP;
    IF cardinality(primary_key) = 0 THEN
        definitions := 'id bigint GENERATED BY DEFAULT AS IDENTITY'::text || definitions;
        primary_key := ARRAY['id'];
    END IF;
    definitions := definitions || {_sql_array(context_columns(context))}
        || format('PRIMARY KEY (%s)', array_to_string(primary_key, ', '));
    EXECUTE format('CREATE TABLE {schema}.%I (%s)', table_name, array_to_string(definitions, ', '));
    EXECUTE format('ALTER TABLE {schema}.%I ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', table_name);
    EXECUTE format('CREATE POLICY {POLICY_NAME} ON {schema}.%I AS PERMISSIVE FOR ALL TO {roles} USING (%s) '
                   'WITH CHECK (%s)', table_name, {_sql_text(predicate)}, {_sql_text(predicate)});
    EXECUTE format('GRANT {", ".join(ANON_PRIVILEGES)} ON {schema}.%I TO {names.db_role("anon")}', table_name);
END
""".strip()  # noqa: S608
    return FunctionDefinition(
        schema=schema,
        name=CREATE_TABLE_FUNCTION,
        arguments="table_name text, columns jsonb",
        returns="void",
        body=body,
        owner=names.db_role("migrator"),
        # Only service keys define tables; anon and end users (runtime) do not.
        execute_roles=(names.db_role("service"),),
    )


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_array(values: tuple[str, ...] | list[str]) -> str:
    return "ARRAY[" + ", ".join(_sql_text(value) for value in values) + "]::text[]"
