"""Two tenants' workspaces in one shared database, provisioned for real: what each executor can reach."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from uuid import uuid4

import psycopg
import pulumi
import pytest
from psycopg import sql
from pulumi.automation import OpType

from components.connections import PostgresConnection
from components.workspace_database import TableSpec, WorkspaceDatabase, WorkspaceDatabaseArgs
from falcone import pulumi_runner, rls
from falcone.naming import WorkspaceNames
from falcone.toolchain import Toolchain
from localplatform.endpoints import PostgresEndpoint

pytestmark = [pytest.mark.platform, pytest.mark.toolchain]


def _quiet(_line: str) -> None:
    """Engine output is kept in the CommandError if something fails."""


def _executor(endpoint: PostgresEndpoint, names: WorkspaceNames, role: str, tenant: str | None) -> psycopg.Connection:
    connection = psycopg.connect(
        host=endpoint.host,
        port=endpoint.port,
        dbname="postgres",
        user=names.db_role("executor"),
        password="pw-" + names.slug,
    )
    # One round trip, as the executor does it: role and tenant context (the workspace's own slug).
    connection.execute(
        "SELECT set_config('role', %s, false), set_config('app.tenant_id', %s, false), "
        "set_config('app.workspace_id', %s, false)",
        (names.db_role(role), tenant or "", names.slug),
    )
    if tenant is None:
        connection.execute("RESET app.tenant_id")
    return connection


def _denied() -> pytest.RaisesExc[psycopg.errors.InsufficientPrivilege]:
    return pytest.raises(psycopg.errors.InsufficientPrivilege)


def test_workspaces_of_two_tenants_are_isolated_and_drift_is_repaired(
    toolchain: Toolchain, postgres_endpoint: PostgresEndpoint, backend_dir: Path
) -> None:
    _ = toolchain
    run = uuid4().hex[:6]
    acme, globex = WorkspaceNames(f"acme{run}", "prod"), WorkspaceNames(f"globex{run}", "prod")

    def program() -> None:
        for names in (acme, globex):
            WorkspaceDatabase(
                names.tenant,
                WorkspaceDatabaseArgs(
                    names=names,
                    tenant_id=names.tenant,
                    executor_password="pw-" + names.slug,
                    connection=PostgresConnection(dsn=postgres_endpoint.dsn),
                    tables=[TableSpec(name="todos", columns=["id bigserial PRIMARY KEY", "title text NOT NULL"])],
                ),
            )

    stack = pulumi_runner.inline_stack("ws-db", program, backend_dir, "components-workspace-database")
    try:
        stack.up(on_output=_quiet)
        todos = sql.SQL("{}.todos").format(sql.Identifier(acme.schema))
        with _executor(postgres_endpoint, acme, "runtime", acme.tenant) as conn:
            conn.execute(sql.SQL("INSERT INTO {} (title) VALUES ('a1')").format(todos))  # tenant_id defaults
            conn.commit()
            assert conn.execute(sql.SQL("SELECT title, tenant_id FROM {}").format(todos)).fetchall() == [
                ("a1", acme.tenant)
            ]  # positive control
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(
                    sql.SQL("INSERT INTO {} (title, tenant_id) VALUES ('x', %s)").format(todos), (globex.tenant,)
                )
        with _executor(postgres_endpoint, acme, "runtime", globex.tenant) as conn:  # wrong tenant context
            assert conn.execute(sql.SQL("SELECT count(*) FROM {}").format(todos)).fetchone() == (0,)
        with _executor(postgres_endpoint, acme, "runtime", None) as conn:  # no tenant context: fail closed
            assert conn.execute(sql.SQL("SELECT count(*) FROM {}").format(todos)).fetchone() == (0,)
        with _executor(postgres_endpoint, globex, "runtime", globex.tenant) as conn, _denied():  # another tenant
            conn.execute(sql.SQL("SELECT count(*) FROM {}").format(todos))
        with _executor(postgres_endpoint, globex, "runtime", globex.tenant) as conn, _denied():
            conn.execute("SELECT set_config('role', %s, false)", (acme.db_role("service"),))
        with _executor(postgres_endpoint, acme, "anon", acme.tenant) as conn:  # anon reads, as on API tables
            assert conn.execute(sql.SQL("SELECT count(*) FROM {}").format(todos)).fetchone() == (1,)
            with _denied():
                conn.execute(sql.SQL("INSERT INTO {} (title) VALUES ('anon')").format(todos))
        with _executor(postgres_endpoint, acme, "anon", globex.tenant) as conn:  # and only its tenant's rows
            assert conn.execute(sql.SQL("SELECT count(*) FROM {}").format(todos)).fetchone() == (0,)

        # The same stack installs create_table: a table made through it is protected the same way.
        with _executor(postgres_endpoint, acme, "service", acme.tenant) as conn:
            conn.execute(
                sql.SQL("SELECT {}.create_table('notes', %s::jsonb)").format(sql.Identifier(acme.schema)),
                ('[{"name": "body", "type": "text"}]',),
            )
            conn.commit()
        with psycopg.connect(postgres_endpoint.dsn) as admin:
            rows = admin.execute(
                "SELECT c.relname, c.relrowsecurity AND c.relforcerowsecurity, "
                "has_table_privilege(%s, c.oid, 'SELECT'), has_table_privilege(%s, c.oid, 'INSERT'), "
                "(SELECT count(*) FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = %s), "
                "(SELECT pg_get_expr(p.polqual, p.polrelid) FROM pg_policy p WHERE p.polrelid = c.oid) "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind = 'r' ORDER BY 1",
                (acme.db_role("anon"), acme.db_role("anon"), rls.CHANGE_TRIGGER, acme.schema),
            ).fetchall()
        assert [row[:5] for row in rows] == [("notes", True, True, False, 1), ("todos", True, True, False, 1)]
        assert rows[0][5] == rows[1][5]  # one isolation predicate for both kinds of table

        # Both kinds of table announce their changes on the workspace's channel, with the row's context and key.
        with psycopg.connect(postgres_endpoint.dsn, autocommit=True) as listener:
            listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(rls.change_channel(acme))))
            with _executor(postgres_endpoint, acme, "service", acme.tenant) as conn:
                conn.execute(sql.SQL("INSERT INTO {} (title) VALUES ('a2')").format(todos))
                conn.execute(sql.SQL("DELETE FROM {}.notes").format(sql.Identifier(acme.schema)))
                conn.execute(sql.SQL("INSERT INTO {}.notes (body) VALUES ('n')").format(sql.Identifier(acme.schema)))
                conn.commit()
            payloads = [json.loads(n.payload) for n in itertools.islice(listener.notifies(timeout=30), 2)]
        context = {"tenant_id": acme.tenant, "workspace_id": acme.slug}
        # (the refused inserts above drew ids from the sequence too)
        assert payloads[0] == {"table": "todos", "op": "insert", "key": {"id": payloads[0]["key"]["id"]}, **context}
        assert isinstance(payloads[0]["key"]["id"], int)
        assert payloads[1] == {"table": "notes", "op": "insert", "key": {"id": 1}, **context}

        assert set(stack.preview_refresh(on_output=_quiet).change_summary) <= {OpType.SAME}
        with psycopg.connect(postgres_endpoint.dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP POLICY tenant_isolation ON {}").format(todos))
            admin.execute(sql.SQL("REVOKE SELECT ON {} FROM {}").format(todos, sql.Identifier(acme.db_role("anon"))))
            admin.execute(
                sql.SQL("ALTER TABLE {} DISABLE TRIGGER {}").format(todos, sql.Identifier(rls.CHANGE_TRIGGER))
            )
            admin.execute(
                sql.SQL("GRANT EXECUTE ON FUNCTION {}.create_table(text, jsonb) TO {}").format(
                    sql.Identifier(acme.schema), sql.Identifier(acme.db_role("anon"))
                )
            )
        drift = stack.preview_refresh(on_output=_quiet).change_summary
        assert drift.get(OpType.DELETE) == 1, drift  # the dropped policy
        assert drift.get(OpType.UPDATE) == 3, drift  # anon's grant, the disabled trigger, the widened function
        stack.refresh(on_output=_quiet)
        stack.up(on_output=_quiet)
        assert set(stack.preview_refresh(on_output=_quiet).change_summary) <= {OpType.SAME}
        with _executor(postgres_endpoint, acme, "runtime", globex.tenant) as conn:
            assert conn.execute(sql.SQL("SELECT count(*) FROM {}").format(todos)).fetchone() == (0,)
        with _executor(postgres_endpoint, acme, "anon", acme.tenant) as conn:
            assert conn.execute(sql.SQL("SELECT count(*) FROM {}").format(todos)).fetchone() == (2,)
        with psycopg.connect(postgres_endpoint.dsn) as admin:
            assert admin.execute(
                "SELECT t.tgenabled, has_function_privilege(%s, p.oid, 'EXECUTE') FROM pg_trigger t, pg_proc p "
                "WHERE t.tgrelid = %s::regclass AND t.tgname = %s AND p.oid = %s::regprocedure",
                (
                    acme.db_role("anon"),
                    f"{acme.schema}.todos",
                    rls.CHANGE_TRIGGER,
                    f"{acme.schema}.create_table(text, jsonb)",
                ),
            ).fetchone() == ("O", False)
    finally:
        stack.destroy(on_output=_quiet)
        stack.workspace.remove_stack("ws-db")
    with psycopg.connect(postgres_endpoint.dsn) as admin:
        for names in (acme, globex):
            assert admin.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (names.schema,)).fetchone() is None
            assert (
                admin.execute("SELECT 1 FROM pg_roles WHERE rolname LIKE %s", (names.schema + "%",)).fetchone() is None
            )


_ = pulumi  # the program registers resources through pulumi's runtime
