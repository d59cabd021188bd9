"""`authorize` over every action and role, in reach and out of it; the documented matrix is the one enforced."""

from __future__ import annotations

import pytest

from automation import authorization
from automation.auth import Principal
from automation.authorization import (
    GRANTS,
    Action,
    Reach,
    Role,
    authorize,
    not_found,
    visible_tenants,
    visible_workspaces,
)
from components.identity import PLATFORM_ROLES
from falcone.http.problems import Problem

COLUMNS = {
    "SA": Role.SUPERADMIN,
    "PA": Role.PLATFORM_ADMIN,
    "PO": Role.PLATFORM_OPERATOR,
    "TA": Role.TENANT_ADMIN,
    "TO": Role.TENANT_OPERATOR,
    "WA": Role.WORKSPACE_ADMIN,
    "WO": Role.WORKSPACE_OPERATOR,
}
# What each target needs for the call to be well formed (mutations name what they act on).
TARGET_ARGS: dict[Reach, tuple[str | None, str | None]] = {
    Reach.PLATFORM: (None, None),
    Reach.TENANT: ("acme", None),
    Reach.WORKSPACE: ("acme", "web"),
}


def principal(*roles: str, tenant: str | None = "acme", workspace: str | None = "web") -> Principal:
    return Principal(
        subject="sub-1", username="someone", roles=frozenset(roles), tenant_id=tenant, workspace_id=workspace
    )


def documented_matrix() -> dict[Role, set[Action]]:
    """The table of the module docstring, read back."""
    doc = authorization.__doc__ or ""
    lines = [line for line in doc.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header[0] == "action"
    matrix: dict[Role, set[Action]] = {COLUMNS[name]: set() for name in header[1:]}
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    assert sorted(row[0] for row in rows) == sorted(Action), "every action has exactly one row"
    for cells in rows:
        line = " | ".join(cells)
        for name, cell in zip(header[1:], cells[1:], strict=True):
            assert cell in {"✓", ""}, line
            if cell:
                matrix[COLUMNS[name]].add(Action(cells[0]))
    return matrix


def outcome(who: Principal, action: Action, tenant: str | None, workspace: str | None) -> int:
    try:
        authorize(who, action, tenant, workspace)
    except Problem as problem:
        return problem.status
    return 200


def test_documented_matrix_is_the_enforced_one() -> None:
    documented = documented_matrix()
    assert set(documented) == set(Role)
    assert {role: set(grant.actions) for role, grant in GRANTS.items()} == documented


def test_roles_are_the_platform_realms() -> None:
    assert {str(role) for role in Role} == set(PLATFORM_ROLES)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", list(Action))
def test_each_role_may_do_exactly_its_actions_in_reach(role: Role, action: Action) -> None:
    tenant, workspace = TARGET_ARGS[authorization.TARGETS.get(action, Reach.WORKSPACE)]
    expected = 200 if action in documented_matrix()[role] else 403
    assert outcome(principal(role), action, tenant, workspace) == expected


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", list(Action))
def test_another_tenant_is_invisible_to_tenant_and_workspace_roles(role: Role, action: Action) -> None:
    """Out of reach is a 404 whatever the action; platform roles reach every tenant."""
    got = outcome(principal(role), action, "globex", "web")
    if GRANTS[role].reach is Reach.PLATFORM:
        assert got == (200 if action in GRANTS[role].actions else 403)
    else:
        assert got == 404


@pytest.mark.parametrize("role", [Role.WORKSPACE_ADMIN, Role.WORKSPACE_OPERATOR])
@pytest.mark.parametrize("action", list(Action))
def test_another_workspace_of_the_same_tenant_is_invisible_to_workspace_roles(role: Role, action: Action) -> None:
    assert outcome(principal(role), action, "acme", "api") == 404


def test_out_of_reach_answers_like_a_missing_tenant() -> None:
    with pytest.raises(Problem) as hidden:
        authorize(principal("tenant_admin", tenant="globex"), Action.TENANT_READ, "acme")
    assert hidden.value.detail == not_found("acme").detail
    with pytest.raises(Problem) as hidden_workspace:
        authorize(principal("workspace_admin"), Action.WORKSPACE_READ, "acme", "api")
    assert hidden_workspace.value.detail == not_found("acme", "api").detail
    with pytest.raises(Problem) as other_tenant:  # its workspace is not named: the tenant itself is hidden
        authorize(principal("workspace_admin"), Action.WORKSPACE_READ, "globex", "web")
    assert other_tenant.value.detail == not_found("globex").detail


@pytest.mark.parametrize(
    "who",
    [
        principal(),
        principal("offline_access", "uma_authorization", "default-roles-in-falcone-platform", "admin"),
        principal("tenant_admin", tenant=None),  # a tenant role without its tenant claim
        principal("workspace_admin", workspace=None),
    ],
    ids=["no-role", "foreign-roles", "tenant-role-without-tenant", "workspace-role-without-workspace"],
)
@pytest.mark.parametrize("action", list(Action))
def test_principal_without_a_usable_role_is_forbidden_everywhere(who: Principal, action: Action) -> None:
    tenant, workspace = TARGET_ARGS[authorization.TARGETS.get(action, Reach.WORKSPACE)]
    assert outcome(who, action, tenant, workspace) == 403
    assert visible_tenants(who) == frozenset()
    assert visible_workspaces(who, "acme") == frozenset()


@pytest.mark.parametrize(
    ("action", "tenant", "workspace"),
    [
        (Action.TENANT_UPDATE, None, None),
        (Action.TENANT_DELETE, None, None),
        (Action.QUOTA_OVERRIDE, None, None),
        (Action.WORKSPACE_CREATE, None, None),
        (Action.WORKSPACE_DELETE, "acme", None),
        (Action.WORKSPACE_UPDATE, "acme", None),
        (Action.API_KEY_MANAGE, "acme", None),
        (Action.APPLICATION_MANAGE, "acme", None),
        (Action.STACK_PREVIEW, None, None),
        (Action.WORKSPACE_READ, None, "web"),
    ],
)
def test_a_mutation_that_names_no_target_is_a_programming_error(
    action: Action, tenant: str | None, workspace: str | None
) -> None:
    """Never a silent "any tenant": a tenant admin of acme must not delete globex's workspace because the
    caller forgot to pass the tenant."""
    with pytest.raises(ValueError, match=r"needs|within"):
        authorize(principal("tenant_admin"), action, tenant, workspace)


def test_listings_are_filtered_to_what_the_principal_may_see() -> None:
    platform, tenant, workspace = (
        principal("platform_operator"),
        principal("tenant_operator"),
        principal("workspace_operator"),
    )
    for who in (platform, tenant, workspace):
        authorize(who, Action.OPERATION_READ)  # a listing without a tenant is allowed …
    assert visible_tenants(platform) is None  # … and filtered
    assert visible_tenants(tenant) == visible_tenants(workspace) == frozenset({"acme"})
    assert visible_workspaces(platform, "globex") is None
    assert visible_workspaces(tenant, "acme") is None
    assert visible_workspaces(tenant, "globex") == frozenset()
    assert visible_workspaces(workspace, "acme") == frozenset({"web"})
    assert visible_workspaces(workspace, "globex") == frozenset()


def test_roles_add_up_within_their_reach() -> None:
    both = principal("tenant_operator", "workspace_admin")
    authorize(both, Action.API_KEY_MANAGE, "acme", "web")  # from workspace_admin
    authorize(both, Action.API_KEY_READ, "acme", "api")  # from tenant_operator
    with pytest.raises(Problem) as refused:
        authorize(both, Action.API_KEY_MANAGE, "acme", "api")
    assert refused.value.status == 403  # acme/api is in reach (tenant_operator), the action is not granted there
    with pytest.raises(Problem) as hidden:
        authorize(both, Action.API_KEY_READ, "globex", "web")
    assert hidden.value.status == 404


def test_forbidden_names_the_roles_and_the_action() -> None:
    with pytest.raises(Problem) as refused:
        authorize(principal("platform_operator"), Action.TENANT_UPDATE, "acme")
    assert refused.value.status == 403
    assert "platform_operator" in refused.value.detail
    assert refused.value.extensions == {"action": "tenant.update"}


def test_audit_actor_tells_users_from_service_accounts() -> None:
    user = principal("tenant_admin", "platform_admin")
    assert user.audit_actor() == {"type": "user", "id": "sub-1", "roles": ["platform_admin", "tenant_admin"]}
    service = Principal("sub-2", "service-account-in-falcone-operator", frozenset({"platform_admin"}), None, None)
    assert service.audit_actor() == {"type": "service", "id": "sub-2", "roles": ["platform_admin"]}
