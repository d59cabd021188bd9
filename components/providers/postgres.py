"""PostgreSQL roles and schemas (RLS policies, grants and functions join them with the IaC generator)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pulumi
from psycopg import errors, sql
from psycopg.conninfo import make_conninfo
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from components.connections import PostgresConnection
from components.providers.base import (
    Provider,
    diff_properties,
    resource_props,
    secret_options,
)


@contextmanager
def connect(props: dict[str, Any], database: str | None = None) -> Iterator[psycopg.Connection[Any]]:
    dsn = props["connection"]["dsn"]
    if database:
        dsn = make_conninfo(dsn, dbname=database)
    with psycopg.connect(dsn, autocommit=True) as connection:
        yield connection


@contextmanager
def serialized(connection: psycopg.Connection[Any], key: str) -> Iterator[None]:
    """One writer at a time for `key` (e.g. a schema's ACL): PostgreSQL refuses concurrent updates of one catalog
    row ("tuple concurrently updated"), and the engine runs sibling resources in parallel."""
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (key,))
        yield


# --- roles --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoleArgs:
    name: str
    login: bool = False
    password: pulumi.Input[str] | None = None
    bypass_rls: bool = False
    inherit: bool = True
    member_of: list[str] = field(default_factory=list)


def _role_options(props: dict[str, Any]) -> sql.Composable:
    parts: list[sql.Composable] = [
        sql.SQL("LOGIN" if props.get("login") else "NOLOGIN"),
        sql.SQL("BYPASSRLS" if props.get("bypass_rls") else "NOBYPASSRLS"),
        sql.SQL("INHERIT" if props.get("inherit", True) else "NOINHERIT"),
        sql.SQL("NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION"),
    ]
    if props.get("password"):
        parts.append(sql.SQL("PASSWORD {}").format(sql.Literal(props["password"])))
    else:
        parts.append(sql.SQL("PASSWORD NULL"))
    return sql.SQL(" ").join(parts)


def _memberships(connection: psycopg.Connection[Any], role: str) -> list[str]:
    rows = connection.execute(
        "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
        "JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = %s ORDER BY 1",
        (role,),
    ).fetchall()
    return [row[0] for row in rows]


def _sync_memberships(connection: psycopg.Connection[Any], role: str, wanted: list[str]) -> None:
    current = set(_memberships(connection, role))
    for group in sorted(set(wanted) - current):
        connection.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(role)))
    for group in sorted(current - set(wanted)):
        connection.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(group), sql.Identifier(role)))


class RoleProvider(Provider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        with connect(props) as connection:
            try:
                connection.execute(
                    sql.SQL("CREATE ROLE {} WITH {}").format(sql.Identifier(props["name"]), _role_options(props))
                )
            except errors.DuplicateObject:
                return self.adopt(props["name"], props)  # options, password and memberships set as declared
            _sync_memberships(connection, props["name"], list(props.get("member_of") or []))
        return CreateResult(id_=props["name"], outs=props)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with connect(props) as connection:
            row = connection.execute(
                "SELECT rolcanlogin, rolbypassrls, rolinherit FROM pg_roles WHERE rolname = %s", (id_,)
            ).fetchone()
            if row is None:
                return ReadResult(id_="", outs={})
            live = {
                "login": row[0],
                "bypass_rls": row[1],
                "inherit": row[2],
                "member_of": _memberships(connection, id_),
            }
        # The password hash cannot be compared with the input; everything else is the server's truth.
        return ReadResult(id_=id_, outs={**props, **live, "name": id_})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return diff_properties(
            olds, news, updatable=["login", "password", "bypass_rls", "inherit", "member_of"], replace_on=["name"]
        )

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        with connect(news) as connection:
            connection.execute(sql.SQL("ALTER ROLE {} WITH {}").format(sql.Identifier(id_), _role_options(news)))
            _sync_memberships(connection, id_, list(news.get("member_of") or []))
        return UpdateResult(outs=news)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with connect(props) as connection:
            connection.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(id_)))


class PostgresRole(Resource):
    """A cluster role. Runtime roles are NOLOGIN NOBYPASSRLS; only the executor's login role may log in."""

    name: pulumi.Output[str]
    login: pulumi.Output[bool]
    bypass_rls: pulumi.Output[bool]

    def __init__(
        self,
        resource_name: str,
        args: RoleArgs,
        connection: pulumi.Input[PostgresConnection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = resource_props(args, connection)
        super().__init__(RoleProvider(), resource_name, props, secret_options(opts))


# --- schemas ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SchemaArgs:
    name: str
    owner: str
    database: str = "postgres"
    # Dropping a workspace drops its tables; without this, delete refuses while the schema holds objects.
    drop_cascade: bool = False


class SchemaProvider(Provider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        id_ = f"{props['database']}/{props['name']}"
        with connect(props, props["database"]) as connection:
            try:
                connection.execute(
                    sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(
                        sql.Identifier(props["name"]), sql.Identifier(props["owner"])
                    )
                )
            except errors.DuplicateSchema:
                return self.adopt(id_, props)  # owner set as declared; its contents are left as they are
        return CreateResult(id_=id_, outs=props)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with connect(props, props["database"]) as connection:
            row = connection.execute(
                "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = %s", (props["name"],)
            ).fetchone()
        if row is None:
            return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs={**props, "owner": row[0]})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return diff_properties(olds, news, updatable=["owner", "drop_cascade"], replace_on=["name", "database"])

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        with connect(news, news["database"]) as connection:
            connection.execute(
                sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(
                    sql.Identifier(news["name"]), sql.Identifier(news["owner"])
                )
            )
        return UpdateResult(outs=news)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        mode = sql.SQL("CASCADE" if props.get("drop_cascade") else "RESTRICT")
        with connect(props, props["database"]) as connection:
            connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} {}").format(sql.Identifier(props["name"]), mode))


class PostgresSchema(Resource):
    name: pulumi.Output[str]
    owner: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        args: SchemaArgs,
        connection: pulumi.Input[PostgresConnection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = resource_props(args, connection)
        super().__init__(SchemaProvider(), resource_name, props, secret_options(opts))
