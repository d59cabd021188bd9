"""Row-level security of workspace tables: the context columns, the isolation predicate and the DDL function, here
and only here.

Two writers create tables in a workspace schema: the workspace stack (tables declared as code) and the executor
(tables created through the data API). Both must give every table the same protection, so both take it from this
module: `context_columns` (`tenant_id` and `workspace_id` columns defaulting to the request's context, pinned by
CHECKs to the workspace), `isolation_predicate` (compares each context column with the setting the executor sets per
transaction; fails closed when the setting is missing: NULL or '' match no row), `POLICY_NAME` for the request
roles, `ANON_PRIVILEGES`, and the change trigger (`notify_change_function`, `CHANGE_TRIGGER`) through which realtime
subscribers learn of writes.

The executor cannot run DDL itself: its login only becomes the NOLOGIN runtime/anon/service roles, none of which
may create in the schema. It calls `{schema}.create_table(name, columns)`, a SECURITY DEFINER function owned by the
schema's migrator (see `create_table_function`). Why a function and not a migrator login for the executor: the
owner of a table may `DISABLE ROW LEVEL SECURITY` or drop its policy, so a data-plane process that could become
the owner could undo isolation with one bug; the function can only ever create a table *with* the context
columns, FORCE RLS, the policy and the anon grant in one transaction (Falcone bug #494 was tables created without
them), and it takes column types from an allow-list only.

Realtime: every table carries the AFTER INSERT/UPDATE/DELETE row trigger `CHANGE_TRIGGER`, which `pg_notify`s the
workspace's channel (`change_channel`) with the table, the operation, the row's context columns and its primary
key, never its data (NOTIFY payloads are limited to 8000 bytes, and any role of the database may LISTEN to any
channel: a payload must hold nothing a foreign listener may not see). The executor re-reads inserted and updated
rows under the subscriber's own role and context, so a subscriber only ever receives rows it could SELECT.
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


def context(names: WorkspaceNames) -> dict[str, str]:
    """The values the context columns of the workspace's tables are pinned to."""
    return {"tenant_id": names.tenant, "workspace_id": names.slug}


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
    """What `CREATE FUNCTION` needs: the workspace stack installs it as is (components/workspace_database.py)."""

    schema: str
    name: str
    arguments: str
    returns: str
    body: str
    owner: str
    execute_roles: tuple[str, ...]
    language: str = "plpgsql"
    volatility: str = "VOLATILE"
    security_definer: bool = True
    # SECURITY DEFINER functions must not resolve names through the caller's search_path.
    search_path: str = "pg_catalog, pg_temp"


CREATE_TABLE_FUNCTION = "create_table"


def create_table_function(names: WorkspaceNames) -> FunctionDefinition:
    """`{schema}.create_table(table_name text, columns jsonb)`: a table with the context columns of the workspace,
    FORCE RLS, the isolation policy for the request roles, SELECT for anon and the change trigger, or nothing (one
    transaction).

    `columns` is a JSON array of `{"name", "type", "nullable", "primary_key", "unique", "identity", "default",
    "default_expression"}`; names and types are checked against the same patterns and allow-lists the executor
    uses, again here because this function is the boundary. Without a primary key, `id bigint` identity is added.
    """
    schema = names.schema
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
    key_names text[] := ARRAY[]::text[];
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
            key_names := key_names || column_name;
        END IF;
        definitions := definitions || definition;
    END LOOP;
    IF cardinality(primary_key) = 0 THEN
        definitions := 'id bigint GENERATED BY DEFAULT AS IDENTITY'::text || definitions;
        primary_key := ARRAY['id'];
        key_names := ARRAY['id'];
    END IF;
    definitions := definitions || {_sql_array(context_columns(context(names)))}
        || format('PRIMARY KEY (%s)', array_to_string(primary_key, ', '));
    EXECUTE format('CREATE TABLE {schema}.%I (%s)', table_name, array_to_string(definitions, ', '));
    EXECUTE format('ALTER TABLE {schema}.%I ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', table_name);
    EXECUTE format('CREATE POLICY {POLICY_NAME} ON {schema}.%I AS PERMISSIVE FOR ALL TO {roles} USING (%s) '
                   'WITH CHECK (%s)', table_name, {_sql_text(predicate)}, {_sql_text(predicate)});
    EXECUTE format('GRANT {", ".join(ANON_PRIVILEGES)} ON {schema}.%I TO {names.db_role("anon")}', table_name);
    EXECUTE format('CREATE TRIGGER {CHANGE_TRIGGER} {CHANGE_TIMING} ON {schema}.%I FOR EACH ROW '
                   'EXECUTE FUNCTION {schema}.{NOTIFY_FUNCTION}(%s)', table_name,
                   (SELECT string_agg(quote_literal(name), ', ') FROM unnest(key_names) AS name));
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


# --- realtime: the change trigger ----------------------------------------------------------------------------

NOTIFY_FUNCTION = "notify_change"
CHANGE_TRIGGER = "falcone_changes"
CHANGE_EVENTS = ("INSERT", "UPDATE", "DELETE")
CHANGE_TIMING = "AFTER " + " OR ".join(CHANGE_EVENTS)
# NOTIFY refuses payloads of 8000 bytes or more, failing the writing transaction: a larger key is left out.
MAX_PAYLOAD_BYTES = 7900


def change_channel(names: WorkspaceNames) -> str:
    """The workspace's NOTIFY channel (at most 61 bytes: PostgreSQL truncates identifiers at 63)."""
    return f"{names.schema}_changes"


def notify_change_function(names: WorkspaceNames) -> FunctionDefinition:
    """`{schema}.notify_change()`: the trigger function of `CHANGE_TRIGGER`, whose arguments name the table's
    primary-key columns. The payload is `{"table", "op" (insert|update|delete), "tenant_id", "workspace_id", "key"}`,
    taken from NEW, or from OLD for a delete (so a delete is scoped by the tenant it was made in); `key` is null
    when it would not fit (`MAX_PAYLOAD_BYTES`).

    SECURITY INVOKER: it reads nothing but the row at hand, so it needs no privilege of its own; PostgreSQL checks
    EXECUTE when a trigger is created (by the migrator, its owner), not when it fires."""
    body = f"""
DECLARE
    changed jsonb;
    key jsonb := '{{}}'::jsonb;
    column_name text;
    payload jsonb;
BEGIN
    IF TG_OP = 'DELETE' THEN
        changed := to_jsonb(OLD);
    ELSE
        changed := to_jsonb(NEW);
    END IF;
    FOREACH column_name IN ARRAY TG_ARGV LOOP
        key := key || jsonb_build_object(column_name, changed -> column_name);
    END LOOP;
    payload := jsonb_build_object('table', TG_TABLE_NAME, 'op', lower(TG_OP), 'tenant_id', changed ->> 'tenant_id',
                                  'workspace_id', changed ->> 'workspace_id', 'key', key);
    IF octet_length(payload::text) > {MAX_PAYLOAD_BYTES} THEN
        payload := payload || jsonb_build_object('key', NULL);
    END IF;
    PERFORM pg_notify({_sql_text(change_channel(names))}, payload::text);
    RETURN NULL;
END
""".strip()
    return FunctionDefinition(
        schema=names.schema,
        name=NOTIFY_FUNCTION,
        arguments="",
        returns="trigger",
        body=body,
        owner=names.db_role("migrator"),
        execute_roles=(),
        security_definer=False,
    )


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_array(values: tuple[str, ...] | list[str]) -> str:
    return "ARRAY[" + ", ".join(_sql_text(value) for value in values) + "]::text[]"
