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

    def _object(self, props: dict[str, Any]) -> str:
        return str(props["schema"] if self.keyword == "SCHEMA" else props["database"])

    def _live(self, props: dict[str, Any]) -> list[str] | None:
        with connect(props, props["database"]) as connection:
            if connection.execute(self.exists_query, (self._object(props),)).fetchone() is None:
                return None
            rows = connection.execute(self.catalog_query, (self._object(props), props["role"])).fetchall()
        return [row[0] for row in rows]

    def _apply(self, props: dict[str, Any]) -> None:
        wanted = set(_privileges(props["privileges"], self.allowed))
        current = set(self._live(props) or [])
        target = sql.SQL("{} {}").format(sql.SQL(self.keyword), sql.Identifier(_identifier(self._object(props))))
        role = sql.Identifier(_identifier(props["role"]))
        with connect(props, props["database"]) as connection, serialized(connection, f"acl:{self._object(props)}"):
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
    arguments: str = ""
    language: str = "sql"
    volatility: str = "STABLE"  # IMMUTABLE | STABLE | VOLATILE
    owner: str | None = None
    execute_roles: list[str] = field(default_factory=list)


_VOLATILITY = {"i": "IMMUTABLE", "s": "STABLE", "v": "VOLATILE"}


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
        signature = self._signature(props)
        with connect(props, props["database"]) as connection, serialized(connection, f"acl:{props['schema']}"):
            connection.execute(
                sql.SQL("CREATE OR REPLACE FUNCTION {} RETURNS {} LANGUAGE {} {} AS {}").format(
                    signature,
                    sql.SQL(props["returns"]),
                    sql.SQL(props["language"]),
                    sql.SQL(props["volatility"]),
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
            for role in props.get("execute_roles") or []:
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
            row = connection.execute(
                "SELECT p.prosrc, p.provolatile, pg_get_userbyid(p.proowner) FROM pg_proc p "
                "JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = %s AND p.proname = %s AND pg_get_function_identity_arguments(p.oid) = %s",
                (props["schema"], props["name"], props["arguments"]),
            ).fetchone()
        if row is None:
            return ReadResult(id_="", outs={})
        live = {"body": row[0], "volatility": _VOLATILITY[row[1]]}
        if props.get("owner"):
            live["owner"] = row[2]
        return ReadResult(id_=id_, outs={**props, **live})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return diff_properties(
            olds,
            news,
            updatable=["body", "volatility", "owner", "execute_roles", "language"],
            replace_on=["database", "schema", "name", "arguments", "returns"],
        )

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self._apply(news)
        return UpdateResult(outs=news)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        with connect(props, props["database"]) as connection:
            if connection.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (props["schema"],)).fetchone():
                connection.execute(sql.SQL("DROP FUNCTION IF EXISTS {}").format(self._signature(props)))


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


class PolicyProvider(Provider):
    """An RLS policy. PostgreSQL stores expressions deparsed, so we keep the server's form of what we applied
    (`applied_*`) and compare it with the live form (`live_*`): any out-of-band edit or drop is drift."""

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
        """Drop and create in one transaction: PostgreSQL has no CREATE OR REPLACE POLICY."""
        if props["command"] not in {"ALL", "SELECT", "INSERT", "UPDATE", "DELETE"}:
            raise ValueError(f"unknown policy command {props['command']!r}")
        name = sql.Identifier(_identifier(props["name"]))
        table = sql.SQL("{}.{}").format(
            sql.Identifier(_identifier(props["schema"])), sql.Identifier(_identifier(props["table"]))
        )
        statement = sql.SQL("CREATE POLICY {} ON {} AS PERMISSIVE FOR {} TO {} USING ({})").format(
            name,
            table,
            sql.SQL(props["command"]),
            sql.SQL(", ").join(sql.Identifier(_identifier(role)) for role in props["roles"]),
            sql.SQL(props["using"]),
        )
        if props.get("with_check"):
            statement = sql.SQL("{} WITH CHECK ({})").format(statement, sql.SQL(props["with_check"]))
        with connect(props, props["database"]) as connection, connection.transaction():
            connection.execute(sql.SQL("DROP POLICY IF EXISTS {} ON {}").format(name, table))
            connection.execute(statement)
        live = self._live(props) or {}
        applied = {key.replace("live_", "applied_"): value for key, value in live.items()}
        return {**props, **live, **applied}

    def create(self, props: dict[str, Any]) -> CreateResult:
        # Replacing: a policy of this name left by an interrupted run is adopted (base.py) with the declared rule.
        outs = self._apply(props)
        return CreateResult(id_=f"{props['database']}/{props['schema']}.{props['table']}/{props['name']}", outs=outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        live = self._live(props)
        return ReadResult(id_="", outs={}) if live is None else ReadResult(id_=id_, outs={**props, **live})

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
        if edited and not result.changes:
            return DiffResult(changes=True, replaces=[], delete_before_replace=False)
        return result

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._apply(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        with connect(props, props["database"]) as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = %s", (props["schema"], props["table"])
            ).fetchone()
            if exists:
                connection.execute(
                    sql.SQL("DROP POLICY IF EXISTS {} ON {}.{}").format(
                        sql.Identifier(props["name"]), sql.Identifier(props["schema"]), sql.Identifier(props["table"])
                    )
                )


class PostgresPolicy(Resource):
    def __init__(
        self,
        resource_name: str,
        args: PolicyArgs,
        connection: pulumi.Input[PostgresConnection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(*_resource(PolicyProvider(), resource_name, args, connection, opts))
