"""Tenant lifecycle: validation, quota checks and the operations each change queues."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from uuid_utils.compat import uuid7

from automation import conditions, quotas
from automation.auth import Principal
from automation.db import Connection
from automation.operations import service as operations
from automation.tenants import repository
from automation.tenants.schemas import QuotaOverrides, TenantCreate, TenantUpdate
from automation.workspaces import repository as workspaces
from falcone.http.problems import Problem
from falcone.naming import InvalidSlugError, TenantNames
from falcone.plans import Plan, UnknownPlanError, catalog

TOPOLOGY = {"shared": "shared-realm", "dedicated": "dedicated-realm"}


def _plan(name: str, field: str = "plan") -> Plan:
    try:
        return catalog().plan(name)
    except UnknownPlanError as error:
        raise Problem(422, str(error), errors=[{"location": ["body", field], "message": str(error)}]) from None


async def get(connection: Connection, slug: str) -> dict[str, Any]:
    tenant = await repository.get(connection, slug)
    if tenant is None:
        raise Problem(404, f"no tenant {slug!r}")
    return tenant


async def create(
    connection: Connection, request: Request, principal: Principal, body: TenantCreate
) -> list[dict[str, Any]]:
    try:
        names = TenantNames(body.slug)
    except InvalidSlugError as error:
        raise Problem(422, str(error)) from None
    plan = _plan(body.plan)
    topology = TOPOLOGY[plan.profile.identity]
    if body.iam_topology is not None and body.iam_topology != topology:
        raise Problem(422, f"iam_topology: plan {plan.name!r} (profile {plan.profile.name}) uses a {topology}")
    tenant = await repository.insert(
        connection,
        slug=names.slug,
        id_=f"tnt_{uuid7().hex}",
        display_name=body.display_name,
        plan=plan.name,
        iam_topology=topology,
        conditions=conditions.initial(),
    )
    if not tenant:
        raise Problem(409, f"tenant {names.slug!r} already exists", type_="https://falcone.dev/problems/exists")
    operation = await operations.enqueue(
        connection, request, principal, kind="tenant.create", stack=names.stack, tenant=names.slug
    )
    return [operation]


async def _refuse_downgrade(connection: Connection, tenant: dict[str, Any], plan: Plan) -> None:
    """A plan whose limits the tenant already exceeds is refused, naming the dimension (never silently applied)."""
    limits = quotas.effective(tenant, plan)
    existing = await workspaces.of_tenant(connection, tenant["slug"])
    quotas.refuse_beyond("max_workspaces", len(existing), limits.max_workspaces, plan=plan.name)
    for workspace in existing:
        topics = len(workspace["settings"].get("topics", ["events"] if plan.quotas.max_topics else []))
        quotas.refuse_beyond("max_topics", topics, limits.max_topics, plan=plan.name)
        named = await workspaces.application_names(connection, tenant["slug"], workspace["slug"])
        quotas.refuse_beyond("max_applications", len(named["application"]), limits.max_applications, plan=plan.name)
        quotas.refuse_beyond(
            "max_service_accounts", len(named["service_account"]), limits.max_service_accounts, plan=plan.name
        )


def _require_state(tenant: dict[str, Any], *allowed: str) -> None:
    if tenant["state"] not in allowed:
        raise Problem(
            409, f"tenant {tenant['slug']!r} is {tenant['state']}; this needs it to be {' or '.join(allowed)}"
        )


async def update(
    connection: Connection, request: Request, principal: Principal, slug: str, body: TenantUpdate
) -> list[dict[str, Any]]:
    tenant = await repository.get(connection, slug, for_update=True)
    if tenant is None:
        raise Problem(404, f"no tenant {slug!r}")
    _require_state(tenant, "active", "suspended", "failed")
    changes: dict[str, Any] = {"display_name": body.display_name, "conditions": conditions.pending_update()}
    plan_changed = body.plan is not None and body.plan != tenant["plan"]
    if plan_changed:
        assert body.plan is not None
        plan = _plan(body.plan)
        await _refuse_downgrade(connection, tenant, plan)
        changes["plan"] = plan.name
    await repository.update_spec(connection, slug, changes)
    names = TenantNames(slug)
    queued = [
        await operations.enqueue(connection, request, principal, kind="tenant.update", stack=names.stack, tenant=slug)
    ]
    if plan_changed:
        # The plan decides each workspace's components: they follow the tenant (after it, see the queue rules).
        await workspaces.touch_generation(connection, slug, conditions.pending_update())
        for workspace in await workspaces.of_tenant(connection, slug):
            queued.append(
                await operations.enqueue(
                    connection,
                    request,
                    principal,
                    kind="workspace.update",
                    stack=names.workspace(workspace["slug"]).stack,
                    tenant=slug,
                    workspace=workspace["slug"],
                )
            )
    return queued


async def change_state(
    connection: Connection, request: Request, principal: Principal, slug: str, kind: str
) -> list[dict[str, Any]]:
    tenant = await get(connection, slug)
    _require_state(tenant, "active" if kind == "tenant.suspend" else "suspended")
    return [
        await operations.enqueue(connection, request, principal, kind=kind, stack=TenantNames(slug).stack, tenant=slug)
    ]


async def delete(connection: Connection, request: Request, principal: Principal, slug: str) -> list[dict[str, Any]]:
    """Deletes the workspaces first (queued before the tenant's own delete, which waits for them)."""
    tenant = await repository.get(connection, slug, for_update=True)
    if tenant is None:
        raise Problem(404, f"no tenant {slug!r}")
    if tenant["state"] == "deleting":
        raise Problem(409, f"tenant {slug!r} is already being deleted")
    names = TenantNames(slug)
    queued = []
    for workspace in await workspaces.of_tenant(connection, slug):
        if workspace["state"] == "deleting":
            continue
        await workspaces.set_state(connection, slug, workspace["slug"], "deleting")
        queued.append(
            await operations.enqueue(
                connection,
                request,
                principal,
                kind="workspace.delete",
                stack=names.workspace(workspace["slug"]).stack,
                tenant=slug,
                workspace=workspace["slug"],
            )
        )
    await repository.set_state(connection, slug, "deleting")
    own = await operations.enqueue(connection, request, principal, kind="tenant.delete", stack=names.stack, tenant=slug)
    return [own, *queued]


async def set_quotas(connection: Connection, slug: str, body: QuotaOverrides) -> dict[str, Any]:
    tenant = await repository.get(connection, slug, for_update=True)
    if tenant is None:
        raise Problem(404, f"no tenant {slug!r}")
    overrides = body.model_dump(exclude_none=True)
    await _refuse_downgrade(connection, {**tenant, "quota_overrides": overrides}, catalog().plan(tenant["plan"]))
    return await repository.set_quota_overrides(connection, slug, overrides)


async def queue_check(
    connection: Connection, request: Request, principal: Principal, slug: str, kind: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """tenant.preview / tenant.drift / tenant.repair: queued like any change, so they never race an apply."""
    tenant = await get(connection, slug)
    if tenant["state"] in ("provisioning", "deleting") and kind != "tenant.repair":
        raise Problem(409, f"tenant {slug!r} is {tenant['state']}")
    if "plan" in params.get("config", {}):
        _plan(params["config"]["plan"])
    return [
        await operations.enqueue(
            connection, request, principal, kind=kind, stack=TenantNames(slug).stack, tenant=slug, params=params
        )
    ]
