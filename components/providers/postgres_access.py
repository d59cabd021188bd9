"""PostgreSQL access control: databases, grants, default privileges, functions, row-level security.

`pulumi-postgresql` has no RLS-policy resource, and default privileges are where Falcone's bug #490 (anon could
read every new table) came from, so each of these reads the live catalog: a dropped policy, a widened grant or an
edited function body shows up as drift.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pulumi
from psycopg import errors, sql
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from components.connections import PostgresConnection
from components.providers.base import Provider, diff_properties, resource_props, secret_options
from components.providers.postgres import connect, serialized

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
SCHEMA_PRIVILEGES = frozenset({"USAGE", "CREATE"})
DATABASE_PRIVILEGES = frozenset({"CONNECT", "TEMPORARY", "CREATE"})
TABLE_PRIVILEGES = {"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"}
DEFAULT_OBJECT_TYPES = {
    "tables": ("r", TABLE_PRIVILEGES),
    "sequences": ("S", {"USAGE", "SELECT", "UPDATE"}),
    "functions": ("f", {"EXECUTE"}),
}


def _identifier(value: str) -> str:
    if not IDENTIFIER.fullmatch(value):
        raise ValueError(f"not a safe PostgreSQL identifier: {value!r}")
    return value


def _privileges(values: list[str], allowed: frozenset[str] | set[str]) -> list[str]:
    wanted = sorted({value.upper() for value in values})
    unknown = set(wanted) - allowed
    if unknown:
        raise ValueError(f"unknown privileges {sorted(unknown)}; allowed: {sorted(allowed)}")
    return wanted


def _resource(
    provider: Provider,
    name: str,
    args: Any,
    connection: pulumi.Input[PostgresConnection],
    opts: pulumi.ResourceOptions | None,
) -> tuple[Provider, str, dict[str, Any], pulumi.ResourceOptions]:
    props = resource_props(args, connection)
    return provider, name, props, secret_options(opts)


def _table_lock(props: dict[str, Any]) -> str:
    """One writer at a time on a table's catalogue (its policies, triggers and grants): siblings deleted in parallel
    (DROP POLICY, DROP TRIGGER, REVOKE) otherwise deadlock on the table's locks."""
    return f"table:{props['schema']}.{props['table']}"


def _table_name(props: dict[str, Any]) -> sql.Composable:
    """`schema.table` of an object that lives on a table (a grant, a policy, a trigger)."""
    return sql.SQL("{}.{}").format(
        sql.Identifier(_identifier(props["schema"])), sql.Identifier(_identifier(props["table"]))
    )


def _with_drift(result: DiffResult, drifted: bool) -> DiffResult:
    """A declared-properties diff, made an update when the live object drifted from what was applied."""
    if drifted and not result.changes:
        return DiffResult(changes=True, replaces=[], delete_before_replace=False)
    return result


# --- databases ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatabaseArgs:
    name: str
    owner: str


def _revoke_public(connection: psycopg.Connection[Any], database: str) -> None:
    # Nobody but the owner (and roles granted explicitly) may even connect.
    connection.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database)))


class DatabaseProvider(Provider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        with connect(props) as connection:
            try:
                connection.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(_identifier(props["name"])), sql.Identifier(_identifier(props["owner"]))
                    )
                )
            except errors.DuplicateDatabase:
                return self.adopt(props["name"], props)  # owner set, PUBLIC revoked; its contents left alone
            _revoke_public(connection, props["name"])
        return CreateResult(id_=props["name"], outs=props)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with connect(props) as connection:
            row = connection.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (id_,)
            ).fetchone()
        return ReadResult(id_="", outs={}) if row is None else ReadResult(id_=id_, outs={**props, "owner": row[0]})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return diff_properties(olds, news, updatable=["owner"], replace_on=["name"])

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        with connect(news) as connection:
            connection.execute(
                sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                    sql.Identifier(id_), sql.Identifier(_identifier(news["owner"]))
                )
            )
            # Again: an adopted database may come from a run interrupted between its CREATE and this REVOKE.
            _revoke_public(connection, id_)
        return UpdateResult(outs=news)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with connect(props) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(id_)))


class PostgresDatabase(Resource):
    name: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        args: DatabaseArgs,
        connection: pulumi.Input[PostgresConnection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(*_resource(DatabaseProvider(), resource_name, args, connection, opts))


# --- grants on a schema or a database -----------------------------------------------------------------------


@dataclass(frozen=True)
class SchemaGrantArgs:
    database: str
    schema: str
    role: str
    privileges: list[str] = field(default_factory=lambda: ["USAGE"])


@dataclass(frozen=True)
class DatabaseGrantArgs:
    database: str
    role: str
    privileges: list[str] = field(default_factory=lambda: ["CONNECT"])


class _AclGrantProvider(Provider):
    """Exactly `privileges` for `role` on one object, read back from the object's ACL."""

    keyword: str  # SCHEMA | DATABASE
    catalog_query: str  # (object name, role) -> privilege_type rows; object existence checked separately
    exists_query: str
    allowed: frozenset[str]
    identity: tuple[str, ...]

    def _object_key(self, props: dict[str, Any]) -> tuple[str, ...]:
        """The object's name, as `exists_query` and `catalog_query` (before the role) take it."""
        return (str(props["schema"] if self.keyword == "SCHEMA" else props["database"]),)

    def _target(self, props: dict[str, Any]) -> sql.Composable:
        (name,) = self._object_key(props)
        return sql.SQL("{} {}").format(sql.SQL(self.keyword), sql.Identifier(_identifier(name)))

    def _lock(self, props: dict[str, Any]) -> str:
        return "acl:" + ".".join(self._object_key(props))

    def _live(self, props: dict[str, Any]) -> list[str] | None:
        key = self._object_key(props)
        with connect(props, props["database"]) as connection:
            if connection.execute(self.exists_query, key).fetchone() is None:
                return None
            rows = connection.execute(self.catalog_query, (*key, props["role"])).fetchall()
        return [row[0] for row in rows]

    def _apply(self, props: dict[str, Any]) -> None:
        wanted = set(_privileges(props["privileges"], self.allowed))
        current = set(self._live(props) or [])
        target = self._target(props)
        role = sql.Identifier(_identifier(props["role"]))
        lock = self._lock(props)
        with connect(props, props["database"]) as connection, serialized(connection, lock):
            for privilege in sorted(wanted - current):
                connection.execute(sql.SQL("GRANT {} ON {} TO {}").format(sql.SQL(privilege), target, role))
            for privilege in sorted(current - wanted):
                connection.execute(sql.SQL("REVOKE {} ON {} FROM {}").format(sql.SQL(privilege), target, role))

    def create(self, props: dict[str, Any]) -> CreateResult:
        self._apply(props)
        return CreateResult(id_="/".join(str(props[key]) for key in self.identity), outs=props)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        live = self._live(props)
        return ReadResult(id_="", outs={}) if live is None else ReadResult(id_=id_, outs={**props, "privileges": live})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        olds = {**olds, "privileges": [p.upper() for p in olds.get("privileges", [])]}
        news = {**news, "privileges": [p.upper() for p in news.get("privileges", [])]}
        return diff_properties(olds, news, updatable=["privileges"], replace_on=list(self.identity))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self._apply(news)
        return UpdateResult(outs=news)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        if self._live(props) is not None:
            self._apply({**props, "privileges": []})


class SchemaGrantProvider(_AclGrantProvider):
    keyword = "SCHEMA"
    exists_query = "SELECT 1 FROM pg_namespace WHERE nspname = %s"
    catalog_query = (
        "SELECT a.privilege_type FROM pg_namespace n, aclexplode(n.nspacl) a "
        "WHERE n.nspname = %s AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = %s) ORDER BY 1"
    )
    allowed = SCHEMA_PRIVILEGES
    identity = ("database", "schema", "role")


class DatabaseGrantProvider(_AclGrantProvider):
    keyword = "DATABASE"
    exists_query = "SELECT 1 FROM pg_database WHERE datname = %s"
    catalog_query = (
        "SELECT a.privilege_type FROM pg_database d, aclexplode(d.datacl) a "
        "WHERE d.datname = %s AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = %s) ORDER BY 1"
    )
    allowed = DATABASE_PRIVILEGES
    identity = ("database", "role")


class PostgresSchemaGrant(Resource):
    privileges: pulumi.Output[list[str]]

    def __init__(
        self,
        resource_name: str,
        args: SchemaGrantArgs,
        connection: pulumi.Input[PostgresConnection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(*_resource(SchemaGrantProvider(), resource_name, args, connection, opts))


class PostgresDatabaseGrant(Resource):
    """Privileges on a database itself (CONNECT: databases we create refuse PUBLIC)."""

    privileges: pulumi.Output[list[str]]

    def __init__(
        self,
        resource_name: str,
        args: DatabaseGrantArgs,
        connection: pulumi.Input[PostgresConnection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(*_resource(DatabaseGrantProvider(), resource_name, args, connection, opts))


# --- default privileges (what future tables give whom) ------------------------------------------------------


@dataclass(frozen=True)
class DefaultPrivilegesArgs:
    database: str
    schema: str
    owner: str  # the role whose future objects this applies to (the workspace's migrator)
    role: str  # the grantee
    object_type: str = "tables"
    privileges: list[str] = field(default_factory=list)


class DefaultPrivilegesProvider(Provider):
    def _live(self, props: dict[str, Any]) -> list[str]:
        kind, _ = DEFAULT_OBJECT_TYPES[props["object_type"]]
        with connect(props, props["database"]) as connection:
            rows = connection.execute(
                "SELECT a.privilege_type FROM pg_default_acl d, aclexplode(d.defaclacl) a "
                "WHERE d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = %s) "
                "AND d.defaclnamespace = (SELECT oid FROM pg_namespace WHERE nspname = %s) "
                "AND d.defaclobjtype = %s AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = %s) ORDER BY 1",
                (props["owner"], props["schema"], kind, props["role"]),
            ).fetchall()
        return [row[0] for row in rows]

    def _apply(self, props: dict[str, Any]) -> None:
        _, allowed = DEFAULT_OBJECT_TYPES[props["object_type"]]
        wanted = set(_privileges(props["privileges"], allowed))
        current = set(self._live(props))
        prefix = sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {}").format(
            sql.Identifier(_identifier(props["owner"])), sql.Identifier(_identifier(props["schema"]))
        )
        objects = sql.SQL(props["object_type"].upper())
        role = sql.Identifier(_identifier(props["role"]))
        with connect(props, props["database"]) as connection, serialized(connection, f"acl:{props['schema']}"):
            if wanted - current:
                connection.execute(
                    sql.SQL("{} GRANT {} ON {} TO {}").format(
                        prefix, sql.SQL(", ").join(sql.SQL(p) for p in sorted(wanted - current)), objects, role
                    )
                )
            if current - wanted:
                connection.execute(
                    sql.SQL("{} REVOKE {} ON {} FROM {}").format(
                        prefix, sql.SQL(", ").join(sql.SQL(p) for p in sorted(current - wanted)), objects, role
                    )
                )

    def create(self, props: dict[str, Any]) -> CreateResult:
        self._apply(props)
        key = "/".join(props[k] for k in ("database", "schema", "owner", "role", "object_type"))
        return CreateResult(id_=key, outs=props)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id_, outs={**props, "privileges": self._live(props)})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        olds = {**olds, "privileges": [p.upper() for p in olds.get("privileges", [])]}
        news = {**news, "privileges": [p.upper() for p in news.get("privileges", [])]}
        return diff_properties(
            olds, news, updatable=["privileges"], replace_on=["database", "schema", "owner", "role", "object_type"]
        )

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self._apply(news)
        return UpdateResult(outs=news)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        with connect(props, props["database"]) as connection:
            present = connection.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s AND EXISTS "
                "(SELECT 1 FROM pg_roles WHERE rolname = %s) AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %s)",
                (props["schema"], props["owner"], props["role"]),
            ).fetchone()
        if present:
            self._apply({**props, "privileges": []})


class PostgresDefaultPrivileges(Resource):
    privileges: pulumi.Output[list[str]]

    def __init__(
        self,
        resource_name: str,
        args: DefaultPrivilegesArgs,
        connection: pulumi.Input[PostgresConnection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(*_resource(DefaultPrivilegesProvider(), resource_name, args, connection, opts))


# --- functions ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionArgs:
    database: str
    schema: str
    name: str
    returns: str
    body: str
    # "name type, …" as pg_get_function_identity_arguments spells it (the read-back compares it verbatim)
    arguments: str = ""
    language: str = "sql"
    volatility: str = "STABLE"  # IMMUTABLE | STABLE | VOLATILE
    owner: str | None = None
    execute_roles: list[str] = field(default_factory=list)
    security_definer: bool = False
    # Set on the function (`SET search_path = …`): a SECURITY DEFINER function must not resolve names through its
    # caller's search_path. None: not set.
    search_path: str | None = None
    # Deleting drops what depends on it too (a trigger function's triggers on tables no stack declares).
    drop_cascade: bool = False


_VOLATILITY = {"i": "IMMUTABLE", "s": "STABLE", "v": "VOLATILE"}
# A function by schema, name and identity arguments (multi-argument signatures as PostgreSQL spells them): what
# drift compares, and the roles holding EXECUTE on it (its owner aside).
_FUNCTION_STATE = """
SELECT p.prosrc, p.provolatile, pg_get_userbyid(p.proowner), p.prosecdef,
       (SELECT substr(c, length('search_path=') + 1) FROM unnest(p.proconfig) AS c WHERE c LIKE 'search\\_path=%%'),
       ARRAY(SELECT r.rolname FROM aclexplode(p.proacl) AS a JOIN pg_roles r ON r.oid = a.grantee
             WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner ORDER BY 1)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = %s AND p.proname = %s AND pg_get_function_identity_arguments(p.oid) = %s
"""
_SEARCH_PATH = re.compile(r"^[a-z_][a-z0-9_]*(, [a-z_][a-z0-9_]*)*$")


def _key(props: dict[str, Any]) -> tuple[str, str, str]:
    return props["schema"], props["name"], props["arguments"]


class FunctionProvider(Provider):
    def _signature(self, props: dict[str, Any]) -> sql.Composable:
        return sql.SQL("{}.{}({})").format(
            sql.Identifier(_identifier(props["schema"])),
            sql.Identifier(_identifier(props["name"])),
            sql.SQL(props["arguments"]),
        )

    def _apply(self, props: dict[str, Any]) -> None:
        if props["volatility"] not in _VOLATILITY.values() or props["language"] not in {"sql", "plpgsql"}:
            raise ValueError("volatility must be IMMUTABLE|STABLE|VOLATILE and language sql|plpgsql")
        search_path = props.get("search_path")
        if search_path is not None and not _SEARCH_PATH.fullmatch(search_path):
            raise ValueError(f"search_path must be schema names separated by ', ': {search_path!r}")
        signature = self._signature(props)
        options: sql.Composable = sql.SQL("SECURITY DEFINER" if props.get("security_definer") else "SECURITY INVOKER")
        if search_path is not None:
            options = sql.SQL("{} SET search_path = {}").format(options, sql.SQL(search_path))
        with connect(props, props["database"]) as connection, serialized(connection, f"acl:{props['schema']}"):
            connection.execute(
                sql.SQL("CREATE OR REPLACE FUNCTION {} RETURNS {} LANGUAGE {} {} {} AS {}").format(
                    signature,
                    sql.SQL(props["returns"]),
                    sql.SQL(props["language"]),
                    sql.SQL(props["volatility"]),
                    options,
                    sql.Literal(props["body"]),
                )
            )
            if props.get("owner"):
                connection.execute(
                    sql.SQL("ALTER FUNCTION {} OWNER TO {}").format(
                        signature, sql.Identifier(_identifier(props["owner"]))
                    )
                )
            connection.execute(sql.SQL("REVOKE ALL ON FUNCTION {} FROM PUBLIC").format(signature))
            wanted = set(props.get("execute_roles") or [])
            found = connection.execute(_FUNCTION_STATE, _key(props)).fetchone()
            granted = set(found[5]) if found else set()
            for role in sorted(granted - wanted):  # granted out of band: drift, taken back
                connection.execute(
                    sql.SQL("REVOKE EXECUTE ON FUNCTION {} FROM {}").format(signature, sql.Identifier(role))
                )
            for role in sorted(wanted):
                connection.execute(
                    sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(signature, sql.Identifier(_identifier(role)))
                )

    def create(self, props: dict[str, Any]) -> CreateResult:
        self._apply(props)
        return CreateResult(
            id_=f"{props['database']}/{props['schema']}.{props['name']}({props['arguments']})", outs=props
        )

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with connect(props, props["database"]) as connection:
            row = connection.execute(_FUNCTION_STATE, _key(props)).fetchone()
        if row is None:
            return ReadResult(id_="", outs={})
        live: dict[str, Any] = {
            "body": row[0],
            "volatility": _VOLATILITY[row[1]],
            "security_definer": row[3],
            "search_path": row[4],
            "execute_roles": list(row[5]),
        }
        if props.get("owner"):
            live["owner"] = row[2]
        return ReadResult(id_=id_, outs={**props, **live})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # State written before these properties existed lacks them: read as the defaults they had.
        olds = {"security_definer": False, "search_path": None, **olds}
        return diff_properties(
            olds,
            news,
            updatable=["body", "volatility", "owner", "execute_roles", "language", "security_definer", "search_path"],
            replace_on=["database", "schema", "name", "arguments", "returns"],
        )

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self._apply(news)
        return UpdateResult(outs=news)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        with connect(props, props["database"]) as connection:
            if connection.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (props["schema"],)).fetchone():
                cascade = sql.SQL(" CASCADE" if props.get("drop_cascade") else "")
                connection.execute(sql.SQL("DROP FUNCTION IF EXISTS {}{}").format(self._signature(props), cascade))


class PostgresFunction(Resource):
    def __init__(
        self,
        resource_name: str,
        args: FunctionArgs,
        connection: pulumi.Input[PostgresConnection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(*_resource(FunctionProvider(), resource_name, args, connection, opts))


# --- tables, row-level security and policies ----------------------------------------------------------------


@dataclass(frozen=True)
class TableArgs:
    database: str
    schema: str
    name: str
    # "column type [constraints]" lines, e.g. "tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id')"
    columns: list[str]
    owner: str | None = None
    # FORCE: even the owner is subject to the policies (fail closed).
    row_level_security: bool = True


class TableProvider(Provider):
    def _name(self, props: dict[str, Any]) -> sql.Composable:
        return sql.SQL("{}.{}").format(
            sql.Identifier(_identifier(props["schema"])), sql.Identifier(_identifier(props["name"]))
        )

    def _apply_security(self, props: dict[str, Any]) -> None:
        table = self._name(props)
        with connect(props, props["database"]) as connection:
            if props.get("owner"):
                connection.execute(
                    sql.SQL("ALTER TABLE {} OWNER TO {}").format(table, sql.Identifier(_identifier(props["owner"])))
                )
            mode = "ENABLE" if props["row_level_security"] else "DISABLE"
            force = "FORCE" if props["row_level_security"] else "NO FORCE"
            connection.execute(sql.SQL("ALTER TABLE {} {} ROW LEVEL SECURITY").format(table, sql.SQL(mode)))
            connection.execute(sql.SQL("ALTER TABLE {} {} ROW LEVEL SECURITY").format(table, sql.SQL(force)))

    def create(self, props: dict[str, Any]) -> CreateResult:
        columns = sql.SQL(", ").join(sql.SQL(column) for column in props["columns"])
        with connect(props, props["database"]) as connection, connection.transaction():
            # Created as its owner (the workspace's migrator), so the schema's default privileges apply to it
            # exactly as to the tables the workspace creates later.
            if props.get("owner"):
                connection.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(_identifier(props["owner"]))))
            # An existing table is adopted (base.py): its columns and rows stay, owner and RLS are set below.
            connection.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(self._name(props), columns))
        self._apply_security(props)
        return CreateResult(id_=f"{props['database']}/{props['schema']}.{props['name']}", outs=props)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with connect(props, props["database"]) as connection:
            row = connection.execute(
                "SELECT c.relrowsecurity AND c.relforcerowsecurity, pg_get_userbyid(c.relowner) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
                (props["schema"], props["name"]),
            ).fetchone()
        if row is None:
            return ReadResult(id_="", outs={})
        live: dict[str, Any] = {"row_level_security": row[0]}
        if props.get("owner"):
            live["owner"] = row[1]
        return ReadResult(id_=id_, outs={**props, **live})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return diff_properties(
            olds, news, updatable=["row_level_security", "owner"], replace_on=["database", "schema", "name", "columns"]
        )

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self._apply_security(news)
        return UpdateResult(outs=news)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        with connect(props, props["database"]) as connection:
            connection.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self._name(props)))


class PostgresTable(Resource):
    def __init__(
        self,
        resource_name: str,
        args: TableArgs,
        connection: pulumi.Input[PostgresConnection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(*_resource(TableProvider(), resource_name, args, connection, opts))


class _OnTableProvider(Provider):
    """An object named on a table (a policy, a trigger), replaced by dropping and creating it in one transaction:
    PostgreSQL has no CREATE OR REPLACE POLICY, and the table is never without it in between. Subclasses read it
    back (`_live`: `live_*` keys, None when gone) and apply it (`_apply`, through `_replace`)."""

    keyword: str  # POLICY | TRIGGER

    def _live(self, props: dict[str, Any]) -> dict[str, Any] | None:
        raise NotImplementedError

    def _apply(self, props: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _drop(self, props: dict[str, Any]) -> sql.Composed:
        return sql.SQL("DROP {} IF EXISTS {} ON {}").format(
            sql.SQL(self.keyword), sql.Identifier(_identifier(props["name"])), _table_name(props)
        )

    def _replace(self, props: dict[str, Any], statement: sql.Composed) -> dict[str, Any]:
        """Drop and create; what is live afterwards."""
        with connect(props, props["database"]) as connection, serialized(connection, _table_lock(props)):
            connection.execute(self._drop(props))
            connection.execute(statement)
        return self._live(props) or {}

    def create(self, props: dict[str, Any]) -> CreateResult:
        # One of this name left by an interrupted run is replaced by the declared one (adoption, base.py).
        outs = self._apply(props)
        return CreateResult(id_=f"{props['database']}/{props['schema']}.{props['table']}/{props['name']}", outs=outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        live = self._live(props)
        return ReadResult(id_="", outs={}) if live is None else ReadResult(id_=id_, outs={**props, **live})

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._apply(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        with connect(props, props["database"]) as connection, serialized(connection, _table_lock(props)):
            exists = connection.execute(
                "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = %s", (props["schema"], props["table"])
            ).fetchone()
            if exists:
                connection.execute(self._drop(props))


@dataclass(frozen=True)
class PolicyArgs:
    database: str
    schema: str
    table: str
    name: str
    roles: list[str]
    using: str
    with_check: str | None = None
    command: str = "ALL"  # ALL | SELECT | INSERT | UPDATE | DELETE


class PolicyProvider(_OnTableProvider):
    """An RLS policy. PostgreSQL stores expressions deparsed, so we keep the server's form of what we applied
    (`applied_*`) and compare it with the live form (`live_*`): any out-of-band edit or drop is drift."""

    keyword = "POLICY"

    def _live(self, props: dict[str, Any]) -> dict[str, Any] | None:
        with connect(props, props["database"]) as connection:
            row = connection.execute(
                "SELECT qual, with_check, cmd, roles::text[] FROM pg_policies "
                "WHERE schemaname = %s AND tablename = %s AND policyname = %s",
                (props["schema"], props["table"], props["name"]),
            ).fetchone()
        if row is None:
            return None
        return {"live_using": row[0], "live_with_check": row[1], "live_command": row[2], "live_roles": sorted(row[3])}

    def _apply(self, props: dict[str, Any]) -> dict[str, Any]:
        if props["command"] not in {"ALL", "SELECT", "INSERT", "UPDATE", "DELETE"}:
            raise ValueError(f"unknown policy command {props['command']!r}")
        statement = sql.SQL("CREATE POLICY {} ON {} AS PERMISSIVE FOR {} TO {} USING ({})").format(
            sql.Identifier(_identifier(props["name"])),
            _table_name(props),
            sql.SQL(props["command"]),
            sql.SQL(", ").join(sql.Identifier(_identifier(role)) for role in props["roles"]),
            sql.SQL(props["using"]),
        )
        if props.get("with_check"):
            statement = sql.SQL("{} WITH CHECK ({})").format(statement, sql.SQL(props["with_check"]))
        live = self._replace(props, statement)
        applied = {key.replace("live_", "applied_"): value for key, value in live.items()}
        return {**props, **live, **applied}

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        result = diff_properties(
            olds,
            news,
            updatable=["roles", "using", "with_check", "command"],
            replace_on=["database", "schema", "table", "name"],
        )
        edited = any(
            olds.get(f"live_{key}") != olds.get(f"applied_{key}") for key in ("using", "with_check", "command", "roles")
        )
        return _with_drift(result, edited)


class PostgresPolicy(Resource):
    def __init__(
        self,
        resource_name: str,
        args: PolicyArgs,
        connection: pulumi.Input[PostgresConnection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(*_resource(PolicyProvider(), resource_name, args, connection, opts))


@dataclass(frozen=True)
class TableGrantArgs:
    """Exactly `privileges` for `role` on one table (what default privileges do not give, e.g. anon's SELECT)."""

    database: str
    schema: str
    table: str
    role: str
    privileges: list[str] = field(default_factory=lambda: ["SELECT"])


class TableGrantProvider(_AclGrantProvider):
    keyword = "TABLE"
    exists_query = "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = %s"
    catalog_query = (
        "SELECT a.privilege_type FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, "
        "aclexplode(c.relacl) a WHERE n.nspname = %s AND c.relname = %s "
        "AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = %s) ORDER BY 1"
    )
    allowed = frozenset(TABLE_PRIVILEGES)
    identity = ("database", "schema", "table", "role")

    def _object_key(self, props: dict[str, Any]) -> tuple[str, ...]:
        return props["schema"], props["table"]

    def _lock(self, props: dict[str, Any]) -> str:
        return _table_lock(props)

    def _target(self, props: dict[str, Any]) -> sql.Composable:
        return sql.SQL("TABLE {}").format(_table_name(props))


class PostgresTableGrant(Resource):
    privileges: pulumi.Output[list[str]]

    def __init__(
        self,
        resource_name: str,
        args: TableGrantArgs,
        connection: pulumi.Input[PostgresConnection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(*_resource(TableGrantProvider(), resource_name, args, connection, opts))


# --- triggers -----------------------------------------------------------------------------------------------

TRIGGER_EVENTS = ("INSERT", "UPDATE", "DELETE", "TRUNCATE")


@dataclass(frozen=True)
class TriggerArgs:
    """`CREATE TRIGGER name {timing} {events} ON schema.table FOR EACH {level} EXECUTE FUNCTION
    function_schema.function('arguments', …)`."""

    database: str
    schema: str
    table: str
    name: str
    function_schema: str
    function: str
    events: list[str]
    arguments: list[str] = field(default_factory=list)
    timing: str = "AFTER"  # BEFORE | AFTER
    level: str = "ROW"  # ROW | STATEMENT


class TriggerProvider(_OnTableProvider):
    """A trigger, compared by the server's own rendering (`pg_get_triggerdef`) of what we applied with its live
    rendering, plus whether it fires: a dropped, replaced or disabled trigger is drift."""

    keyword = "TRIGGER"

    def _live(self, props: dict[str, Any]) -> dict[str, Any] | None:
        with connect(props, props["database"]) as connection:
            row = connection.execute(
                "SELECT pg_get_triggerdef(t.oid), t.tgenabled <> 'D' FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relname = %s AND t.tgname = %s AND NOT t.tgisinternal",
                (props["schema"], props["table"], props["name"]),
            ).fetchone()
        return None if row is None else {"live_definition": row[0], "live_enabled": row[1]}

    def _apply(self, props: dict[str, Any]) -> dict[str, Any]:
        events = [event.upper() for event in props["events"]]
        if not events or set(events) - set(TRIGGER_EVENTS):
            raise ValueError(f"events must be some of {list(TRIGGER_EVENTS)}")
        if props["timing"] not in {"BEFORE", "AFTER"} or props["level"] not in {"ROW", "STATEMENT"}:
            raise ValueError("timing must be BEFORE|AFTER and level ROW|STATEMENT")
        statement = sql.SQL("CREATE TRIGGER {} {} {} ON {} FOR EACH {} EXECUTE FUNCTION {}.{}({})").format(
            sql.Identifier(_identifier(props["name"])),
            sql.SQL(props["timing"]),
            sql.SQL(" OR ").join(sql.SQL(event) for event in events),
            _table_name(props),
            sql.SQL(props["level"]),
            sql.Identifier(_identifier(props["function_schema"])),
            sql.Identifier(_identifier(props["function"])),
            sql.SQL(", ").join(sql.Literal(argument) for argument in props.get("arguments") or []),
        )
        live = self._replace(props, statement)
        return {**props, **live, "applied_definition": live.get("live_definition")}

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        result = diff_properties(
            olds,
            news,
            updatable=["function_schema", "function", "events", "arguments", "timing", "level"],
            replace_on=["database", "schema", "table", "name"],
        )
        # The arguments' order matters (diff_properties compares string lists as sets).
        reordered = olds.get("arguments") != news.get("arguments")
        edited = olds.get("live_definition") != olds.get("applied_definition") or olds.get("live_enabled") is False
        return _with_drift(result, edited or reordered)


class PostgresTrigger(Resource):
    def __init__(
        self,
        resource_name: str,
        args: TriggerArgs,
        connection: pulumi.Input[PostgresConnection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(*_resource(TriggerProvider(), resource_name, args, connection, opts))
