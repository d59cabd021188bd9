"""Two tenants' workspaces in one shared database, provisioned for real: what each executor can reach."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import psycopg
import pulumi
import pytest
from psycopg import sql
from pulumi.automation import OpType

from components.connections import PostgresConnection
from components.workspace_database import TableSpec, WorkspaceDatabase, WorkspaceDatabaseArgs
from falcone import pulumi_runner
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
    # One round trip, as the executor does it: role and tenant context, transaction-local.
    connection.execute(
        "SELECT set_config('role', %s, false), set_config('app.tenant_id', %s, false)",
        (names.db_role(role), tenant or ""),
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
        with _executor(postgres_endpoint, acme, "anon", acme.tenant) as conn, _denied():  # anon: no default DML
            conn.execute(sql.SQL("SELECT count(*) FROM {}").format(todos))

        assert set(stack.preview_refresh(on_output=_quiet).change_summary) <= {OpType.SAME}
        with psycopg.connect(postgres_endpoint.dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP POLICY tenant_isolation ON {}").format(todos))
            admin.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(todos, sql.Identifier(acme.db_role("anon"))))
        drift = stack.preview_refresh(on_output=_quiet).change_summary
        assert drift.get(OpType.DELETE) == 1, drift  # the dropped policy
        stack.refresh(on_output=_quiet)
        stack.up(on_output=_quiet)
        with _executor(postgres_endpoint, acme, "runtime", globex.tenant) as conn:
            assert conn.execute(sql.SQL("SELECT count(*) FROM {}").format(todos)).fetchone() == (0,)
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
