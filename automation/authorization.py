"""What a principal may do, and where (seed 003, contextual authorization).

Each platform-realm role reaches a context: platform roles every tenant; tenant roles the tenant of the token's
`tenant_id` claim; workspace roles the workspace of its `tenant_id` + `workspace_id` claims. A role whose claims
are missing reaches nothing. Within its reach a role allows the actions below (✓); GRANTS holds this table as
data and a unit test keeps the two equal.

| action             | SA | PA | PO | TA | TO | WA | WO |
|--------------------|----|----|----|----|----|----|----|
| tenant.create      | ✓  | ✓  |    |    |    |    |    |
| tenant.read        | ✓  | ✓  | ✓  | ✓  | ✓  |    |    |
| tenant.update      | ✓  | ✓  |    |    |    |    |    |
| tenant.delete      | ✓  | ✓  |    |    |    |    |    |
| quota.override     | ✓  | ✓  |    |    |    |    |    |
| workspace.create   | ✓  | ✓  |    | ✓  |    |    |    |
| workspace.read     | ✓  | ✓  | ✓  | ✓  | ✓  | ✓  | ✓  |
| workspace.update   | ✓  | ✓  |    | ✓  |    |    |    |
| workspace.delete   | ✓  | ✓  |    | ✓  |    |    |    |
| application.manage | ✓  | ✓  |    | ✓  |    | ✓  |    |
| application.read   | ✓  | ✓  | ✓  | ✓  | ✓  | ✓  | ✓  |
| api_key.manage     | ✓  | ✓  |    | ✓  |    | ✓  |    |
| api_key.read       | ✓  | ✓  | ✓  | ✓  | ✓  | ✓  | ✓  |
| operation.read     | ✓  | ✓  | ✓  | ✓  | ✓  | ✓  | ✓  |
| stack.preview      | ✓  | ✓  | ✓  | ✓  | ✓  |    |    |
| stack.drift        | ✓  | ✓  | ✓  | ✓  | ✓  |    |    |
| drift.sweep        | ✓  | ✓  | ✓  |    |    |    |    |
| audit.read         | ✓  | ✓  | ✓  | ✓  | ✓  |    |    |

SA superadmin, PA platform_admin, PO platform_operator (reach: platform); TA tenant_admin, TO tenant_operator
(reach: the `tenant_id` claim); WA workspace_admin, WO workspace_operator (reach: `tenant_id` + `workspace_id`).

`tenant.update` covers plan changes, suspend/resume and the display name: plans and suspension are the
platform's decisions, so tenant admins do not get it. Preview, drift checks and the drift sweep change nothing.

Answers: out of reach → 404, the same answer as for a tenant or workspace that does not exist (`not_found`), so
a principal learns nothing about other tenants; in reach but not allowed → 403; no usable role → 403.

A read that names fewer parts than the principal's reach (no tenant, or a tenant but no workspace) is a listing:
it is allowed, and the caller must filter what it lists with `visible_tenants` / `visible_workspaces`. Every
other action must name at least what TARGETS says; a call that does not is a programming error (ValueError),
never a silent widening to "any tenant".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from automation.auth import Principal
from falcone.http.problems import Problem


class Role(StrEnum):
    SUPERADMIN = "superadmin"
    PLATFORM_ADMIN = "platform_admin"
    PLATFORM_OPERATOR = "platform_operator"
    TENANT_ADMIN = "tenant_admin"
    TENANT_OPERATOR = "tenant_operator"
    WORKSPACE_ADMIN = "workspace_admin"
    WORKSPACE_OPERATOR = "workspace_operator"


class Reach(StrEnum):
    PLATFORM = "platform"
    TENANT = "tenant"
    WORKSPACE = "workspace"


class Action(StrEnum):
    TENANT_CREATE = "tenant.create"
    TENANT_READ = "tenant.read"
    TENANT_UPDATE = "tenant.update"
    TENANT_DELETE = "tenant.delete"
    QUOTA_OVERRIDE = "quota.override"
    WORKSPACE_CREATE = "workspace.create"
    WORKSPACE_READ = "workspace.read"
    WORKSPACE_UPDATE = "workspace.update"
    WORKSPACE_DELETE = "workspace.delete"
    APPLICATION_MANAGE = "application.manage"
    APPLICATION_READ = "application.read"
    API_KEY_MANAGE = "api_key.manage"
    API_KEY_READ = "api_key.read"
    OPERATION_READ = "operation.read"
    STACK_PREVIEW = "stack.preview"
    STACK_DRIFT = "stack.drift"
    DRIFT_SWEEP = "drift.sweep"
    AUDIT_READ = "audit.read"


@dataclass(frozen=True)
class Grant:
    reach: Reach
    actions: frozenset[Action]


A = Action
_READS = {A.TENANT_READ, A.WORKSPACE_READ, A.APPLICATION_READ, A.API_KEY_READ, A.OPERATION_READ, A.AUDIT_READ}
_CHECKS = {A.STACK_PREVIEW, A.STACK_DRIFT}
_WORKSPACE_READS = {A.WORKSPACE_READ, A.APPLICATION_READ, A.API_KEY_READ, A.OPERATION_READ}

GRANTS: dict[Role, Grant] = {
    Role.SUPERADMIN: Grant(Reach.PLATFORM, frozenset(Action)),
    Role.PLATFORM_ADMIN: Grant(Reach.PLATFORM, frozenset(Action)),
    Role.PLATFORM_OPERATOR: Grant(Reach.PLATFORM, frozenset({*_READS, *_CHECKS, A.DRIFT_SWEEP})),
    Role.TENANT_ADMIN: Grant(
        Reach.TENANT,
        frozenset(
            {
                *_READS,
                *_CHECKS,
                A.WORKSPACE_CREATE,
                A.WORKSPACE_UPDATE,
                A.WORKSPACE_DELETE,
                A.APPLICATION_MANAGE,
                A.API_KEY_MANAGE,
            }
        ),
    ),
    Role.TENANT_OPERATOR: Grant(Reach.TENANT, frozenset({*_READS, *_CHECKS})),
    Role.WORKSPACE_ADMIN: Grant(
        Reach.WORKSPACE, frozenset({*_WORKSPACE_READS, A.APPLICATION_MANAGE, A.API_KEY_MANAGE})
    ),
    Role.WORKSPACE_OPERATOR: Grant(Reach.WORKSPACE, frozenset(_WORKSPACE_READS)),
}

# The least a call must name for each action that is not a read (reads may name less: listings).
TARGETS: dict[Action, Reach] = {
    A.TENANT_CREATE: Reach.PLATFORM,
    A.TENANT_UPDATE: Reach.TENANT,
    A.TENANT_DELETE: Reach.TENANT,
    A.QUOTA_OVERRIDE: Reach.TENANT,
    A.WORKSPACE_CREATE: Reach.TENANT,
    A.WORKSPACE_UPDATE: Reach.WORKSPACE,
    A.WORKSPACE_DELETE: Reach.WORKSPACE,
    A.APPLICATION_MANAGE: Reach.WORKSPACE,
    A.API_KEY_MANAGE: Reach.WORKSPACE,
    A.STACK_PREVIEW: Reach.TENANT,
    A.STACK_DRIFT: Reach.TENANT,
    A.DRIFT_SWEEP: Reach.PLATFORM,
}


def _roles(principal: Principal) -> list[Role]:
    """The principal's roles that reach something: known roles whose context claims are present."""
    roles = []
    for role in Role:
        if role not in principal.roles:
            continue
        reach = GRANTS[role].reach
        if reach is Reach.TENANT and principal.tenant_id is None:
            continue
        if reach is Reach.WORKSPACE and (principal.tenant_id is None or principal.workspace_id is None):
            continue
        roles.append(role)
    return roles


def _reaches(role: Role, principal: Principal, tenant: str | None, workspace: str | None) -> bool:
    reach = GRANTS[role].reach
    if reach is Reach.PLATFORM:
        return True
    if tenant is not None and tenant != principal.tenant_id:
        return False
    return reach is Reach.TENANT or workspace is None or workspace == principal.workspace_id


def _check_target(action: Action, tenant: str | None, workspace: str | None) -> None:
    if workspace is not None and tenant is None:
        raise ValueError(f"authorize({action}): a workspace is named within its tenant")
    needed = TARGETS.get(action, Reach.PLATFORM)
    if (needed is Reach.TENANT and tenant is None) or (
        needed is Reach.WORKSPACE and (tenant is None or workspace is None)
    ):
        raise ValueError(f"authorize({action}) needs the {needed} it acts on")


def not_found(tenant: str | None, workspace: str | None = None) -> Problem:
    """The 404 for a tenant or workspace out of reach, and for one that does not exist: the same words."""
    if workspace is None:
        return Problem(404, f"no tenant {tenant!r}")
    return Problem(404, f"no workspace {workspace!r} in tenant {tenant!r}")


def authorize(principal: Principal, action: Action, tenant: str | None = None, workspace: str | None = None) -> None:
    """Return when `principal` may do `action` on `tenant` / `workspace`; raise the Problem to answer otherwise."""
    _check_target(action, tenant, workspace)
    roles = _roles(principal)
    if not roles:
        raise Problem(403, "the token carries no platform role (or not the tenant/workspace claims its role needs)")
    reaching = [role for role in roles if _reaches(role, principal, tenant, workspace)]
    if any(action in GRANTS[role].actions for role in reaching):
        return
    if not reaching:  # a tenant (or a workspace of its own tenant) the principal must not know of
        raise not_found(tenant, workspace if tenant == principal.tenant_id else None)
    names = ", ".join(str(role) for role in reaching)
    raise Problem(403, f"role {names} does not allow {action}", action=str(action))


def visible_tenants(principal: Principal) -> frozenset[str] | None:
    """The tenants a listing may show: None for all of them."""
    roles = _roles(principal)
    if any(GRANTS[role].reach is Reach.PLATFORM for role in roles):
        return None
    return frozenset({principal.tenant_id}) if roles and principal.tenant_id is not None else frozenset()


def visible_workspaces(principal: Principal, tenant: str) -> frozenset[str] | None:
    """The workspaces of `tenant` a listing may show: None for all of them."""
    roles = _roles(principal)
    reaches = {GRANTS[role].reach for role in roles}
    if Reach.PLATFORM in reaches:
        return None
    if tenant != principal.tenant_id or not roles:
        return frozenset()
    if Reach.TENANT in reaches:
        return None
    return frozenset({principal.workspace_id}) if principal.workspace_id is not None else frozenset()
