"""WorkspaceDatabase under mocks: the properties that carry isolation, resource by resource."""

from __future__ import annotations

import pulumi
import pytest

from components.connections import PostgresConnection
from components.workspace_database import TableSpec, WorkspaceDatabase, WorkspaceDatabaseArgs
from falcone import rls
from falcone.naming import WorkspaceNames
from tests.components.mocks import RecordingMocks, is_secret, run

NAMES = WorkspaceNames(tenant="acme", slug="prod")


@pytest.fixture(scope="module")
def registered() -> RecordingMocks:
    def program() -> pulumi.Output[str]:
        database = WorkspaceDatabase(
            "db",
            WorkspaceDatabaseArgs(
                names=NAMES,
                tenant_id="acme",
                executor_password="pw",
                connection=PostgresConnection(dsn="postgresql://x"),
                tables=[TableSpec(name="todos", columns=["id bigserial PRIMARY KEY", "title text"])],
            ),
        )
        return database.schema

    return run(program)


def test_request_roles_cannot_log_in_or_bypass_rls(registered: RecordingMocks) -> None:
    for purpose in ("migrator", "runtime", "anon", "service", "audit"):
        role = registered.named(f"db-{purpose}").inputs
        assert role["name"] == f"ws_acme__prod_{purpose}"
        assert role["login"] is False
        assert role["bypass_rls"] is False


def test_executor_logs_in_but_only_becomes_request_roles(registered: RecordingMocks) -> None:
    executor = registered.named("db-executor").inputs
    assert executor["login"] is True
    assert executor["inherit"] is False  # holds no privilege of its own
    assert executor["bypass_rls"] is False
    assert sorted(executor["member_of"]) == ["ws_acme__prod_anon", "ws_acme__prod_runtime", "ws_acme__prod_service"]


def test_schema_belongs_to_the_migrator(registered: RecordingMocks) -> None:
    schema = registered.named("db-schema").inputs
    assert schema == {**schema, "name": "ws_acme__prod", "owner": "ws_acme__prod_migrator"}


def test_anon_gets_no_default_privileges(registered: RecordingMocks) -> None:
    # Falcone bug #490: every new table readable by anon.
    defaults = registered.matching(lambda r: r.name.startswith("db-defaults-"))
    assert defaults
    assert all(d.inputs["role"] != "ws_acme__prod_anon" for d in defaults)
    runtime = registered.named("db-defaults-runtime-tables").inputs
    assert runtime["owner"] == "ws_acme__prod_migrator"
    assert sorted(runtime["privileges"]) == ["DELETE", "INSERT", "SELECT", "UPDATE"]


def test_declared_tables_force_rls_with_a_fail_closed_tenant_and_workspace_policy(registered: RecordingMocks) -> None:
    table = registered.named("db-table-todos").inputs
    assert table["row_level_security"] is True
    assert "tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true)" in table["columns"]
    assert "workspace_id text NOT NULL DEFAULT current_setting('app.workspace_id', true)" in table["columns"]
    assert "CHECK (tenant_id = 'acme')" in table["columns"]
    assert "CHECK (workspace_id = 'prod')" in table["columns"]
    policy = registered.named("db-policy-todos").inputs
    assert policy["using"] == (
        "tenant_id = current_setting('app.tenant_id', true) "
        "AND workspace_id = current_setting('app.workspace_id', true)"
    )  # NULL when unset: no row matches
    assert policy["with_check"] == policy["using"]
    assert sorted(policy["roles"]) == ["ws_acme__prod_anon", "ws_acme__prod_runtime", "ws_acme__prod_service"]


def test_declared_tables_give_anon_select_only_as_api_created_tables_do(registered: RecordingMocks) -> None:
    grant = registered.named("db-anon-todos").inputs
    assert (grant["role"], grant["privileges"]) == ("ws_acme__prod_anon", ["SELECT"])


def test_declared_tables_carry_the_change_trigger_with_their_key(registered: RecordingMocks) -> None:
    trigger = registered.named("db-changes-todos").inputs
    assert trigger["name"] == rls.CHANGE_TRIGGER
    assert (trigger["function_schema"], trigger["function"]) == ("ws_acme__prod", rls.NOTIFY_FUNCTION)
    assert sorted(trigger["events"]) == ["DELETE", "INSERT", "UPDATE"]
    assert (trigger["timing"], trigger["level"], trigger["arguments"]) == ("AFTER", "ROW", ["id"])


def test_the_stack_installs_the_one_create_table_definition(registered: RecordingMocks) -> None:
    definition = rls.create_table_function(NAMES)
    function = registered.named("db-fn-create-table").inputs
    assert function["body"] == definition.body
    assert function["arguments"] == "table_name text, columns jsonb"
    assert function["security_definer"] is True
    assert function["search_path"] == "pg_catalog, pg_temp"
    assert function["owner"] == "ws_acme__prod_migrator"
    assert function["execute_roles"] == ["ws_acme__prod_service"]  # anon and runtime may not define tables
    notify = registered.named("db-fn-notify-change").inputs
    assert notify["body"] == rls.notify_change_function(NAMES).body
    assert (notify["returns"], notify["security_definer"], notify["execute_roles"]) == ("trigger", False, [])


def test_a_tenant_id_other_than_the_workspaces_is_refused() -> None:
    def program() -> None:
        WorkspaceDatabase(
            "db",
            WorkspaceDatabaseArgs(
                names=NAMES, tenant_id="globex", executor_password="pw", connection=PostgresConnection(dsn="x")
            ),
        )

    with pytest.raises(Exception, match="not the workspace's tenant"):
        run(program)


def test_credentials_are_secret_in_inputs(registered: RecordingMocks) -> None:
    assert is_secret(registered.named("db-schema").inputs["connection"], {"dsn": "postgresql://x"})
    assert is_secret(registered.named("db-executor").inputs["password"], "pw")
