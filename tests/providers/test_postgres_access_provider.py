"""Grants, default privileges, functions and RLS, run by the real engine on the local PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
import pulumi
import pytest
from psycopg import sql
from pulumi.automation import OpType

from components.connections import PostgresConnection
from components.providers.postgres import PostgresRole, PostgresSchema, RoleArgs, SchemaArgs
from components.providers.postgres_access import (
    DatabaseArgs,
    DatabaseGrantArgs,
    DatabaseGrantProvider,
    DatabaseProvider,
    DefaultPrivilegesArgs,
    DefaultPrivilegesProvider,
    FunctionArgs,
    FunctionProvider,
    PolicyArgs,
    PolicyProvider,
    PostgresDefaultPrivileges,
    PostgresFunction,
    PostgresPolicy,
    PostgresSchemaGrant,
    PostgresTable,
    SchemaGrantArgs,
    SchemaGrantProvider,
    TableArgs,
    TableGrantArgs,
    TableGrantProvider,
    TableProvider,
    TriggerArgs,
    TriggerProvider,
)
from falcone import pulumi_runner
from falcone.toolchain import Toolchain
from localplatform.endpoints import PostgresEndpoint
from tests.providers.direct import provider_props

pytestmark = [pytest.mark.platform, pytest.mark.toolchain]

TENANT_PREDICATE = "tenant_id = current_setting('app.tenant_id', true)"


def _quiet(_line: str) -> None:
    """Engine output is kept in the CommandError if something fails."""


def _program(p: str, dsn: str) -> pulumi.automation.PulumiFn:
    def program() -> None:
        connection = PostgresConnection(dsn=dsn)

        def after(*resources: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(depends_on=list(resources))

        migrator = PostgresRole("migrator", RoleArgs(name=f"{p}_migrator"), connection)
        runtime = PostgresRole("runtime", RoleArgs(name=f"{p}_runtime"), connection)
        anon = PostgresRole("anon", RoleArgs(name=f"{p}_anon"), connection)
        executor = PostgresRole(
            "executor",
            RoleArgs(
                name=f"{p}_executor",
                login=True,
                password="exec-pw",
                inherit=False,
                member_of=[f"{p}_runtime", f"{p}_anon"],
            ),
            connection,
            opts=after(runtime, anon),
        )
        schema = PostgresSchema(
            "schema", SchemaArgs(name=p, owner=f"{p}_migrator", drop_cascade=True), connection, opts=after(migrator)
        )
        roles = [migrator, runtime, anon, executor, schema]
        for who in ("runtime", "anon"):
            PostgresSchemaGrant(
                f"usage-{who}",
                SchemaGrantArgs(database="postgres", schema=p, role=f"{p}_{who}"),
                connection,
                opts=after(*roles),
            )
        defaults = PostgresDefaultPrivileges(
            "defaults-runtime",
            DefaultPrivilegesArgs(
                database="postgres",
                schema=p,
                owner=f"{p}_migrator",
                role=f"{p}_runtime",
                privileges=["SELECT", "INSERT", "UPDATE", "DELETE"],
            ),
            connection,
            opts=after(*roles),
        )
        PostgresFunction(
            "current-tenant",
            FunctionArgs(
                database="postgres",
                schema=p,
                name="current_tenant_id",
                returns="text",
                body="SELECT current_setting('app.tenant_id', true)",
                owner=f"{p}_migrator",
                execute_roles=[f"{p}_runtime"],
            ),
            connection,
            opts=after(*roles),
        )
        table = PostgresTable(
            "items",
            TableArgs(
                database="postgres",
                schema=p,
                name="items",
                owner=f"{p}_migrator",
                columns=["id serial PRIMARY KEY", "tenant_id text NOT NULL", "body text"],
            ),
            # after the default privileges: they decide what the new table grants
            connection,
            opts=after(*roles, defaults),
        )
        PostgresPolicy(
            "tenant-isolation",
            PolicyArgs(
                database="postgres",
                schema=p,
                table="items",
                name="tenant_isolation",
                roles=[f"{p}_runtime"],
                using=TENANT_PREDICATE,
                with_check=TENANT_PREDICATE,
            ),
            connection,
            opts=after(table),
        )

    return program


def _as_runtime(endpoint: PostgresEndpoint, p: str, tenant: str | None) -> psycopg.Connection[tuple[object, ...]]:
    connection = psycopg.connect(
        host=endpoint.host, port=endpoint.port, dbname="postgres", user=f"{p}_executor", password="exec-pw"
    )
    connection.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(f"{p}_runtime")))
    if tenant is not None:
        connection.execute("SELECT set_config('app.tenant_id', %s, false)", (tenant,))
    return connection


def test_rls_grants_and_defaults_isolate_tenants_and_drift_is_repaired(
    toolchain: Toolchain, postgres_endpoint: PostgresEndpoint, backend_dir: Path
) -> None:
    _ = toolchain
    dsn = postgres_endpoint.dsn
    p = f"t{uuid4().hex[:8]}"
    stack = pulumi_runner.inline_stack("pg-access", _program(p, dsn), backend_dir, "foundation-postgres-access")
    try:
        stack.up(on_output=_quiet)
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(
                sql.SQL(
                    "INSERT INTO {}.items (tenant_id, body) VALUES ('acme', 'a1'), ('acme', 'a2'), ('globex', 'g1')"
                ).format(sql.Identifier(p))
            )
            # Falcone bug #490: a table the migrator creates later must give anon nothing.
            admin.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(f"{p}_migrator")))
            admin.execute(sql.SQL("CREATE TABLE {}.later (id int)").format(sql.Identifier(p)))
            admin.execute("RESET ROLE")

        with _as_runtime(postgres_endpoint, p, "acme") as acme:
            rows = acme.execute(sql.SQL("SELECT body FROM {}.items ORDER BY body").format(sql.Identifier(p))).fetchall()
            assert rows == [("a1",), ("a2",)]  # positive control: the owner's rows, and only them
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                acme.execute(
                    sql.SQL("INSERT INTO {}.items (tenant_id, body) VALUES ('globex', 'x')").format(sql.Identifier(p))
                )
        with _as_runtime(postgres_endpoint, p, None) as nobody:  # no tenant context: fail closed
            assert nobody.execute(sql.SQL("SELECT count(*) FROM {}.items").format(sql.Identifier(p))).fetchone() == (0,)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                # the executor's login can only become its workspace roles, never the provisioning superuser
                nobody.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(postgres_endpoint.admin_user)))
        with _as_runtime(postgres_endpoint, p, "acme") as runtime:
            runtime.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(f"{p}_anon")))
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                runtime.execute(sql.SQL("SELECT * FROM {}.later").format(sql.Identifier(p)))
        with psycopg.connect(dsn) as admin:
            row = admin.execute("SELECT rolbypassrls FROM pg_roles WHERE rolname = %s", (f"{p}_runtime",)).fetchone()
            assert row == (False,)

        assert set(stack.preview_refresh(on_output=_quiet).change_summary) <= {OpType.SAME}

        # Out of band: the policy is dropped and the function body edited. Both are drift; `up` repairs them.
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP POLICY tenant_isolation ON {}.items").format(sql.Identifier(p)))
            admin.execute(
                sql.SQL(
                    "CREATE OR REPLACE FUNCTION {}.current_tenant_id() RETURNS text LANGUAGE sql "
                    "STABLE AS $$ SELECT 'acme' $$"
                ).format(sql.Identifier(p))
            )
        drift = stack.preview_refresh(on_output=_quiet).change_summary
        assert drift.get(OpType.DELETE) == 1, drift  # the policy is gone
        assert drift.get(OpType.UPDATE) == 1, drift  # the function changed
        stack.refresh(on_output=_quiet)
        stack.up(on_output=_quiet)
        assert set(stack.preview_refresh(on_output=_quiet).change_summary) <= {OpType.SAME}
        with _as_runtime(postgres_endpoint, p, "globex") as globex:
            rows = globex.execute(sql.SQL("SELECT body FROM {}.items").format(sql.Identifier(p))).fetchall()
            assert rows == [("g1",)]
    finally:
        stack.destroy(on_output=_quiet)
        stack.workspace.remove_stack("pg-access")
    with psycopg.connect(dsn) as admin:
        assert admin.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (p,)).fetchone() is None
        assert admin.execute("SELECT 1 FROM pg_roles WHERE rolname LIKE %s", (f"{p}%",)).fetchone() is None


# --- adoption: a create that reached the server but not the state runs again (components/providers/base.py) ---


@pytest.fixture
def workspace(postgres_endpoint: PostgresEndpoint) -> Iterator[str]:
    """A prefix with roles `{p}_migrator`, `{p}_runtime`, `{p}_anon` and a schema `{p}` owned by the migrator."""
    dsn, p = postgres_endpoint.dsn, f"t{uuid4().hex[:8]}"
    roles = [f"{p}_{role}" for role in ("migrator", "runtime", "anon")]
    with psycopg.connect(dsn, autocommit=True) as admin:
        for role in roles:
            admin.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
        admin.execute(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(sql.Identifier(p), sql.Identifier(roles[0])))
    yield p
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(f"{p}_db")))
        admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(p)))
        for role in roles:  # default privileges and grants first, then the roles
            admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def _connection(endpoint: PostgresEndpoint) -> PostgresConnection:
    return PostgresConnection(dsn=endpoint.dsn)


def test_create_adopts_a_database_left_by_an_interrupted_run(
    postgres_endpoint: PostgresEndpoint, workspace: str
) -> None:
    p = workspace
    props = provider_props(DatabaseArgs(name=f"{p}_db", owner=f"{p}_migrator"), _connection(postgres_endpoint))
    with psycopg.connect(postgres_endpoint.dsn, autocommit=True) as admin:
        # Interrupted between CREATE and REVOKE: the admin's database, PUBLIC may still connect.
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(f"{p}_db")))

    result = DatabaseProvider().create(props)

    assert (result.id, result.outs) == (f"{p}_db", props)
    with psycopg.connect(postgres_endpoint.dsn) as admin:
        row = admin.execute(
            "SELECT pg_get_userbyid(datdba), has_database_privilege(%s, datname, 'CONNECT') FROM pg_database "
            "WHERE datname = %s",
            (f"{p}_anon", f"{p}_db"),
        ).fetchone()
    assert row == (f"{p}_migrator", False)  # declared owner; PUBLIC (hence anon) cannot connect
    with pytest.raises(psycopg.errors.UndefinedObject):  # positive control: an unknown owner still fails
        DatabaseProvider().create({**props, "name": f"{p}_db2", "owner": f"{p}_nobody"})


def test_create_adopts_a_table_left_by_an_interrupted_run(postgres_endpoint: PostgresEndpoint, workspace: str) -> None:
    p = workspace
    args = TableArgs(database="postgres", schema=p, name="items", owner=f"{p}_migrator", columns=["id int"])
    props = provider_props(args, _connection(postgres_endpoint))
    with psycopg.connect(postgres_endpoint.dsn, autocommit=True) as admin:
        # Created, not yet given to its owner nor put under RLS; a row arrived meanwhile.
        admin.execute(sql.SQL("CREATE TABLE {}.items (id int)").format(sql.Identifier(p)))
        admin.execute(sql.SQL("INSERT INTO {}.items VALUES (1)").format(sql.Identifier(p)))

    result = TableProvider().create(props)

    assert (result.id, result.outs) == (f"postgres/{p}.items", props)
    with psycopg.connect(postgres_endpoint.dsn) as admin:
        row = admin.execute(
            "SELECT pg_get_userbyid(relowner), relrowsecurity, relforcerowsecurity FROM pg_class "
            "WHERE oid = %s::regclass",
            (f"{p}.items",),
        ).fetchone()
        assert row == (f"{p}_migrator", True, True)
        assert admin.execute(sql.SQL("SELECT id FROM {}.items").format(sql.Identifier(p))).fetchall() == [(1,)]
    with pytest.raises(psycopg.errors.InvalidSchemaName):  # positive control: a missing schema still fails
        TableProvider().create({**props, "schema": f"{p}_missing"})


def test_create_adopts_a_policy_left_by_an_interrupted_run(postgres_endpoint: PostgresEndpoint, workspace: str) -> None:
    p = workspace
    connection = _connection(postgres_endpoint)
    TableProvider().create(
        provider_props(TableArgs(database="postgres", schema=p, name="items", columns=["tenant_id text"]), connection)
    )
    args = PolicyArgs(
        database="postgres",
        schema=p,
        table="items",
        name="tenant_isolation",
        roles=[f"{p}_runtime"],
        using=TENANT_PREDICATE,
        with_check=TENANT_PREDICATE,
    )
    props = provider_props(args, connection)
    with psycopg.connect(postgres_endpoint.dsn, autocommit=True) as admin:
        # The leftover lets everything through, to another role.
        admin.execute(
            sql.SQL("CREATE POLICY tenant_isolation ON {}.items TO {} USING (true)").format(
                sql.Identifier(p), sql.Identifier(f"{p}_anon")
            )
        )

    result = PolicyProvider().create(props)

    assert result.id == f"postgres/{p}.items/tenant_isolation"
    assert result.outs is not None
    assert result.outs["live_roles"] == [f"{p}_runtime"]
    assert "current_setting" in result.outs["live_using"]
    assert all(result.outs[f"live_{key}"] == result.outs[f"applied_{key}"] for key in ("using", "roles"))
    with psycopg.connect(postgres_endpoint.dsn) as admin:
        row = admin.execute(
            "SELECT roles::text[], qual FROM pg_policies WHERE schemaname = %s AND policyname = 'tenant_isolation'",
            (p,),
        ).fetchone()
    assert row == ([f"{p}_runtime"], result.outs["live_using"])
    with pytest.raises(psycopg.errors.UndefinedObject):  # positive control: an unknown role still fails
        PolicyProvider().create({**props, "roles": [f"{p}_nobody"]})


def test_upserting_creates_converge_when_run_again_after_an_interrupted_run(
    postgres_endpoint: PostgresEndpoint, workspace: str
) -> None:
    """Grants, default privileges and functions are written as "make it so": a second create just converges."""
    p = workspace
    connection = _connection(postgres_endpoint)
    grant = SchemaGrantArgs(database="postgres", schema=p, role=f"{p}_runtime", privileges=["USAGE"])
    defaults = DefaultPrivilegesArgs(
        database="postgres", schema=p, owner=f"{p}_migrator", role=f"{p}_runtime", privileges=["SELECT"]
    )
    function = FunctionArgs(
        database="postgres", schema=p, name="answer", returns="int", body="SELECT 42", execute_roles=[f"{p}_runtime"]
    )
    cases: list[tuple[Any, Any, dict[str, Any]]] = [
        (SchemaGrantProvider(), grant, {"privileges": ["USAGE", "CREATE"]}),
        (DatabaseGrantProvider(), DatabaseGrantArgs("postgres", f"{p}_runtime"), {"privileges": ["TEMPORARY"]}),
        (DefaultPrivilegesProvider(), defaults, {"privileges": ["SELECT", "DELETE"]}),
        (FunctionProvider(), function, {"body": "SELECT 7"}),
    ]
    for provider, args, leftover in cases:
        props = provider_props(args, connection)
        first = provider.create({**props, **leftover})  # the interrupted run's, with other values

        result = provider.create(props)

        assert (result.id, result.outs) == (first.id, props)
        live = provider.read(result.id, props).outs
        assert {key: live[key] for key in leftover} == {key: props[key] for key in leftover}  # as declared again
        provider.delete(result.id, props)


# --- SECURITY DEFINER functions, table grants and triggers (the workspace's realtime and DDL baseline) ----------


def _read(provider: Any, id_: str, outs: dict[str, Any]) -> dict[str, Any]:
    """What a refresh reads (the provider's `read`), as the engine would keep it."""
    live = provider.read(id_, outs).outs
    assert live is not None
    return dict(live)


def _has(endpoint: PostgresEndpoint, query: str, *params: Any) -> Any:
    with psycopg.connect(endpoint.dsn) as admin:
        row = admin.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def test_a_security_definer_function_with_arguments_is_read_back_and_its_drift_repaired(
    postgres_endpoint: PostgresEndpoint, workspace: str
) -> None:
    p = workspace
    args = FunctionArgs(
        database="postgres",
        schema=p,
        name="define",
        arguments="table_name text, columns jsonb",
        returns="text",
        body="SELECT current_user::text || ':' || table_name || ':' || jsonb_array_length(columns)",
        owner=f"{p}_migrator",
        execute_roles=[f"{p}_runtime"],
        security_definer=True,
        search_path="pg_catalog, pg_temp",
    )
    props = provider_props(args, _connection(postgres_endpoint))
    provider = FunctionProvider()
    created = provider.create(props)
    assert created.outs is not None
    with psycopg.connect(postgres_endpoint.dsn) as runtime:
        runtime.execute(
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(p), sql.Identifier(f"{p}_runtime"))
        )
        runtime.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(f"{p}_runtime")))
        called = runtime.execute(sql.SQL("SELECT {}.define('t', '[1, 2]')").format(sql.Identifier(p))).fetchone()
    assert called == (f"{p}_migrator:t:2",)  # runs as its owner, whoever calls it
    live = _read(provider, created.id, created.outs)
    assert provider.diff(created.id, live, props).changes is False  # read back exactly as declared

    signature = sql.SQL("{}.define(text, jsonb)").format(sql.Identifier(p))
    with psycopg.connect(postgres_endpoint.dsn, autocommit=True) as admin:  # out of band, three ways
        admin.execute(sql.SQL("ALTER FUNCTION {} SECURITY INVOKER RESET search_path").format(signature))
        admin.execute(sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(signature, sql.Identifier(f"{p}_anon")))
    drifted = _read(provider, created.id, created.outs)
    assert (drifted["security_definer"], drifted["search_path"]) == (False, None)
    assert drifted["execute_roles"] == sorted([f"{p}_anon", f"{p}_runtime"])
    assert provider.diff(created.id, drifted, props).changes is True

    provider.update(created.id, drifted, props)

    repaired = _read(provider, created.id, created.outs)
    assert provider.diff(created.id, repaired, props).changes is False
    assert (
        _has(
            postgres_endpoint,
            "SELECT has_function_privilege(%s, %s, 'EXECUTE')",
            f"{p}_anon",
            f"{p}.define(text, jsonb)",
        )
        is False
    )
    provider.delete(created.id, props)
    assert (
        _has(
            postgres_endpoint,
            "SELECT count(*) FROM pg_proc WHERE proname = 'define' AND pronamespace = %s::regnamespace",
            p,
        )
        == 0
    )


def test_a_table_grant_holds_exactly_the_declared_privileges(
    postgres_endpoint: PostgresEndpoint, workspace: str
) -> None:
    p = workspace
    connection = _connection(postgres_endpoint)
    TableProvider().create(
        provider_props(TableArgs(database="postgres", schema=p, name="items", columns=["id int"]), connection)
    )
    props = provider_props(
        TableGrantArgs(database="postgres", schema=p, table="items", role=f"{p}_anon", privileges=["SELECT"]),
        connection,
    )
    provider = TableGrantProvider()
    created = provider.create(props)
    assert created.outs is not None
    privileges = "SELECT has_table_privilege(%s, %s, 'SELECT'), has_table_privilege(%s, %s, 'INSERT')"
    items = f"{p}.items"
    with psycopg.connect(postgres_endpoint.dsn) as admin:
        assert admin.execute(privileges, (f"{p}_anon", items) * 2).fetchone() == (True, False)
    with psycopg.connect(postgres_endpoint.dsn, autocommit=True) as admin:  # widened out of band
        admin.execute(sql.SQL("GRANT INSERT ON {}.items TO {}").format(sql.Identifier(p), sql.Identifier(f"{p}_anon")))
    drifted = _read(provider, created.id, created.outs)
    assert sorted(drifted["privileges"]) == ["INSERT", "SELECT"]
    assert provider.diff(created.id, drifted, props).changes is True

    provider.update(created.id, drifted, props)

    with psycopg.connect(postgres_endpoint.dsn) as admin:
        assert admin.execute(privileges, (f"{p}_anon", items) * 2).fetchone() == (True, False)
    provider.delete(created.id, props)
    with psycopg.connect(postgres_endpoint.dsn) as admin:
        assert admin.execute(privileges, (f"{p}_anon", items) * 2).fetchone() == (False, False)


def test_a_trigger_fires_and_a_dropped_disabled_or_replaced_one_is_drift(
    postgres_endpoint: PostgresEndpoint, workspace: str
) -> None:
    p = workspace
    connection = _connection(postgres_endpoint)
    TableProvider().create(
        provider_props(
            TableArgs(database="postgres", schema=p, name="items", columns=["id int PRIMARY KEY", "seen text"]),
            connection,
        )
    )
    FunctionProvider().create(
        provider_props(
            FunctionArgs(
                database="postgres",
                schema=p,
                name="stamp",
                returns="trigger",
                language="plpgsql",
                volatility="VOLATILE",
                body="BEGIN NEW.seen := TG_OP || ':' || TG_ARGV[0]; RETURN NEW; END",
            ),
            connection,
        )
    )
    args = TriggerArgs(
        database="postgres",
        schema=p,
        table="items",
        name="stamp_items",
        function_schema=p,
        function="stamp",
        events=["INSERT", "UPDATE"],
        arguments=["declared"],
        timing="BEFORE",
    )
    props = provider_props(args, connection)
    provider = TriggerProvider()
    with psycopg.connect(postgres_endpoint.dsn, autocommit=True) as admin:
        # Left by an interrupted run, with another argument: adopted as declared.
        admin.execute(
            sql.SQL(
                "CREATE TRIGGER stamp_items BEFORE INSERT ON {0}.items FOR EACH ROW EXECUTE FUNCTION {0}.stamp('x')"
            ).format(sql.Identifier(p))
        )

    created = provider.create(props)

    assert created.outs is not None
    assert "stamp('declared')" in created.outs["live_definition"]
    items = sql.SQL("{}.items").format(sql.Identifier(p))
    with psycopg.connect(postgres_endpoint.dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("INSERT INTO {} (id) VALUES (1)").format(items))
        assert admin.execute(sql.SQL("SELECT seen FROM {}").format(items)).fetchone() == ("INSERT:declared",)
    live = _read(provider, created.id, created.outs)
    assert provider.diff(created.id, live, props).changes is False

    for out_of_band in (
        "ALTER TABLE {0}.items DISABLE TRIGGER stamp_items",
        "CREATE OR REPLACE TRIGGER stamp_items BEFORE INSERT ON {0}.items FOR EACH ROW EXECUTE FUNCTION {0}.stamp('x')",
    ):
        with psycopg.connect(postgres_endpoint.dsn, autocommit=True) as admin:
            admin.execute(sql.SQL(out_of_band).format(sql.Identifier(p)))
        drifted = _read(provider, created.id, created.outs)
        assert provider.diff(created.id, drifted, props).changes is True, out_of_band

        repaired = provider.update(created.id, drifted, props).outs

        assert repaired is not None
        assert provider.diff(created.id, _read(provider, created.id, repaired), props).changes is False
    with psycopg.connect(postgres_endpoint.dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP TRIGGER stamp_items ON {}").format(items))
    assert provider.read(created.id, created.outs).id == ""  # gone: the engine plans a create
    assert provider.diff(created.id, created.outs, {**props, "arguments": ["other"]}).changes is True
    provider.create(props)
    provider.delete(created.id, props)
    with psycopg.connect(postgres_endpoint.dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("UPDATE {} SET seen = 'untouched'").format(items))
        assert admin.execute(sql.SQL("SELECT seen FROM {}").format(items)).fetchone() == ("untouched",)
