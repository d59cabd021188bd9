"""The PostgreSQL dynamic provider, run by the real engine against the local platform's server."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import psycopg
import pulumi
import pytest
from pulumi.automation import OpType

from components.connections import PostgresConnection
from components.providers.postgres import PostgresRole, PostgresSchema, RoleArgs, SchemaArgs
from falcone import pulumi_runner
from falcone.toolchain import Toolchain
from localplatform.endpoints import PostgresEndpoint

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
