"""The PostgreSQL dynamic provider, run by the real engine against the local platform's server."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import psycopg
import pulumi
import pytest
from psycopg.conninfo import make_conninfo
from pulumi.automation import OpType

from components.connections import PostgresConnection
from components.providers.postgres import (
    PostgresRole,
    PostgresSchema,
    RoleArgs,
    RoleProvider,
    SchemaArgs,
    SchemaProvider,
)
from falcone import pulumi_runner
from falcone.toolchain import Toolchain
from localplatform.endpoints import PostgresEndpoint
from tests.providers.direct import provider_props

pytestmark = [pytest.mark.platform, pytest.mark.toolchain]


def _quiet(_line: str) -> None:
    """Engine output goes to the test log only on failure (the CommandError carries it)."""


def _program(prefix: str, dsn: str) -> pulumi.automation.PulumiFn:
    def program() -> None:
        connection = PostgresConnection(dsn=dsn)
        runtime = PostgresRole("runtime", RoleArgs(name=f"{prefix}_runtime"), connection)
        login = PostgresRole(
            "login",
            RoleArgs(name=f"{prefix}_login", login=True, password="s3cret-pw", member_of=[f"{prefix}_runtime"]),
            connection,
            opts=pulumi.ResourceOptions(depends_on=[runtime]),
        )
        PostgresSchema(
            "schema",
            SchemaArgs(name=f"{prefix}_data", owner=f"{prefix}_runtime"),
            connection,
            opts=pulumi.ResourceOptions(depends_on=[runtime, login]),
        )

    return program


def _role(dsn: str, name: str) -> tuple[bool, bool] | None:
    with psycopg.connect(dsn) as connection:
        row = connection.execute(
            "SELECT rolcanlogin, rolbypassrls FROM pg_roles WHERE rolname = %s", (name,)
        ).fetchone()
    return None if row is None else (row[0], row[1])


def _schema_owner(dsn: str, name: str) -> str | None:
    with psycopg.connect(dsn) as connection:
        row = connection.execute(
            "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = %s", (name,)
        ).fetchone()
    return None if row is None else str(row[0])


def test_role_and_schema_up_refresh_drift_destroy(
    toolchain: Toolchain, postgres_endpoint: PostgresEndpoint, backend_dir: Path
) -> None:
    _ = toolchain
    dsn = postgres_endpoint.dsn
    prefix = f"t{uuid4().hex[:8]}"
    stack = pulumi_runner.inline_stack("pg", _program(prefix, dsn), backend_dir, "foundation-postgres")
    try:
        assert stack.up(on_output=_quiet).summary.result == "succeeded"
        assert _role(dsn, f"{prefix}_runtime") == (False, False)  # NOLOGIN NOBYPASSRLS
        assert _role(dsn, f"{prefix}_login") == (True, False)
        assert _schema_owner(dsn, f"{prefix}_data") == f"{prefix}_runtime"
        with psycopg.connect(
            dsn.replace(postgres_endpoint.admin_user, f"{prefix}_login", 1).replace(
                postgres_endpoint.admin_password, "s3cret-pw", 1
            )
        ) as login:
            assert login.execute("SELECT current_user").fetchone() == (f"{prefix}_login",)

        clean = stack.preview_refresh(on_output=_quiet)
        assert set(clean.change_summary) <= {"same"}, clean.change_summary

        # Out-of-band change: somebody grants BYPASSRLS. Drift detection sees it; `up` repairs it.
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'ALTER ROLE "{prefix}_runtime" BYPASSRLS')
        drift = stack.preview_refresh(on_output=_quiet)
        assert drift.change_summary.get(OpType.UPDATE) == 1, drift.change_summary
        stack.refresh(on_output=_quiet)
        stack.up(on_output=_quiet)
        assert _role(dsn, f"{prefix}_runtime") == (False, False)
    finally:
        stack.destroy(on_output=_quiet)
    assert _role(dsn, f"{prefix}_runtime") is None
    assert _role(dsn, f"{prefix}_login") is None
    assert _schema_owner(dsn, f"{prefix}_data") is None
    stack.workspace.remove_stack("pg")


# --- adoption: a create that reached the server but not the state runs again (components/providers/base.py) ---


def _login_works(endpoint: PostgresEndpoint, user: str, password: str) -> bool:
    dsn = make_conninfo(endpoint.dsn, user=user, password=password)
    try:
        with psycopg.connect(dsn) as connection:
            return connection.execute("SELECT current_user").fetchone() == (user,)
    except psycopg.OperationalError:
        return False


def test_create_adopts_a_role_left_by_an_interrupted_run(postgres_endpoint: PostgresEndpoint) -> None:
    dsn, prefix = postgres_endpoint.dsn, f"t{uuid4().hex[:8]}"
    declared = RoleArgs(name=f"{prefix}_login", login=True, password="new-pw-1", member_of=[f"{prefix}_runtime"])
    props = provider_props(declared, PostgresConnection(dsn=dsn))
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{prefix}_runtime"')
        admin.execute(f'CREATE ROLE "{prefix}_other"')
        # The leftover: another password, BYPASSRLS, another membership.
        admin.execute(f'CREATE ROLE "{prefix}_login" LOGIN BYPASSRLS PASSWORD \'old-pw-1\' IN ROLE "{prefix}_other"')
    try:
        result = RoleProvider().create(props)

        assert (result.id, result.outs) == (f"{prefix}_login", props)  # what a fresh create answers
        assert _role(dsn, f"{prefix}_login") == (True, False)
        assert _login_works(postgres_endpoint, f"{prefix}_login", "new-pw-1")
        assert not _login_works(postgres_endpoint, f"{prefix}_login", "old-pw-1")
        with psycopg.connect(dsn) as admin:
            groups = admin.execute(
                "SELECT m.roleid::regrole::text FROM pg_auth_members m WHERE m.member = %s::regrole",
                (f"{prefix}_login",),
            ).fetchall()
        assert groups == [(f"{prefix}_runtime",)]
        # Positive control: a failure other than "exists" still fails.
        with pytest.raises(psycopg.errors.ReservedName):
            RoleProvider().create({**props, "name": "pg_falcone_reserved"})
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            for role in ("login", "runtime", "other"):
                admin.execute(f'DROP ROLE IF EXISTS "{prefix}_{role}"')


def test_create_adopts_a_schema_left_by_an_interrupted_run(postgres_endpoint: PostgresEndpoint) -> None:
    dsn, prefix = postgres_endpoint.dsn, f"t{uuid4().hex[:8]}"
    props = provider_props(SchemaArgs(name=f"{prefix}_data", owner=f"{prefix}_owner"), PostgresConnection(dsn=dsn))
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{prefix}_owner"')
        admin.execute(f'CREATE SCHEMA "{prefix}_data"')  # owned by the admin, holding a table
        admin.execute(f'CREATE TABLE "{prefix}_data".kept (id int)')
    try:
        result = SchemaProvider().create(props)

        assert (result.id, result.outs) == (f"postgres/{prefix}_data", props)
        assert _schema_owner(dsn, f"{prefix}_data") == f"{prefix}_owner"
        with psycopg.connect(dsn) as admin:
            assert admin.execute(f'SELECT count(*) FROM "{prefix}_data".kept').fetchone() == (0,)
        with pytest.raises(psycopg.errors.UndefinedObject):  # positive control: an unknown owner
            SchemaProvider().create({**props, "name": f"{prefix}_other", "owner": f"{prefix}_nobody"})
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{prefix}_data" CASCADE')
            admin.execute(f'DROP ROLE IF EXISTS "{prefix}_owner"')
