"""Workspace lifecycle: capability and quota checks, then the operations each change queues."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from uuid_utils.compat import uuid7

from automation import conditions, quotas
from automation.auth import Principal
from automation.db import Connection
from automation.operations import service as operations
from automation.tenants import repository as tenants
from automation.workspaces import repository
from automation.workspaces.schemas import WorkspaceCreate, WorkspacePreview, WorkspaceUpdate
from falcone.http.problems import Problem
from falcone.naming import InvalidSlugError, WorkspaceNames
from falcone.plans import Capability, catalog


async def _tenant(connection: Connection, slug: str, *, for_update: bool = False) -> dict[str, Any]:
    tenant = await tenants.get(connection, slug, for_update=for_update)
    if tenant is None:
        raise Problem(404, f"no tenant {slug!r}")
    return tenant


async def get(connection: Connection, tenant: str, slug: str) -> dict[str, Any]:
    workspace = await repository.get(connection, tenant, slug)
    if workspace is None:
        raise Problem(404, f"no workspace {slug!r} in tenant {tenant!r}")
    return workspace


def _check_topics(tenant: dict[str, Any], topics: list[str] | None) -> None:
    if topics is None:
        return
    plan = catalog().plan(tenant["plan"])
    if topics and not plan.allows(Capability.KAFKA):
        raise Problem(422, f"topics: plan {plan.name!r} has no kafka capability", dimension="capabilities")
    quotas.refuse_beyond("max_topics", len(topics), quotas.effective(tenant, plan).max_topics, plan=plan.name)


async def create(
    connection: Connection, request: Request, principal: Principal, tenant_slug: str, body: WorkspaceCreate
) -> list[dict[str, Any]]:
    # The tenant row is locked so that concurrent creates count each other (the quota holds under races).
    tenant = await _tenant(connection, tenant_slug, for_update=True)
    if tenant["state"] in ("deleting", "failed"):
        raise Problem(409, f"tenant {tenant_slug!r} is {tenant['state']}; no new workspaces")
    try:
        names = WorkspaceNames(tenant_slug, body.slug)
    except InvalidSlugError as error:
        raise Problem(422, str(error)) from None
    limit = quotas.effective(tenant).max_workspaces
    quotas.refuse_beyond(
        "max_workspaces", await repository.count(connection, tenant_slug) + 1, limit, plan=tenant["plan"]
    )
    _check_topics(tenant, body.topics)
    settings: dict[str, Any] = {"tables": body.tables}
    if body.topics is not None:
        settings["topics"] = body.topics
    workspace = await repository.insert(
        connection,
        tenant=tenant_slug,
        slug=body.slug,
        id_=f"wks_{uuid7().hex}",
        display_name=body.display_name,
        settings=settings,
        conditions=conditions.initial(),
    )
    if not workspace:
        raise Problem(409, f"workspace {body.slug!r} already exists in tenant {tenant_slug!r}")
    return [
        await operations.enqueue(
            connection,
            request,
            principal,
            kind="workspace.create",
            stack=names.stack,
            tenant=tenant_slug,
            workspace=body.slug,
        )
    ]


async def update(
    connection: Connection,
    request: Request,
    principal: Principal,
    tenant_slug: str,
    slug: str,
    body: WorkspaceUpdate,
) -> list[dict[str, Any]]:
    tenant = await _tenant(connection, tenant_slug)
    workspace = await get(connection, tenant_slug, slug)
    if workspace["state"] == "deleting":
        raise Problem(409, f"workspace {slug!r} is being deleted")
    _check_topics(tenant, body.topics)
    settings = {key: value for key, value in (("tables", body.tables), ("topics", body.topics)) if value is not None}
    await repository.update_spec(
        connection,
        tenant_slug,
        slug,
        {"display_name": body.display_name, "settings": settings, "conditions": conditions.pending_update()},
    )
    return [await queue(connection, request, principal, tenant_slug, slug, "workspace.update")]


async def queue(
    connection: Connection,
    request: Request,
    principal: Principal,
    tenant: str,
    slug: str,
    kind: str,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return await operations.enqueue(
        connection,
        request,
        principal,
        kind=kind,
        stack=WorkspaceNames(tenant, slug).stack,
        tenant=tenant,
        workspace=slug,
        params=params,
    )


async def delete(
    connection: Connection, request: Request, principal: Principal, tenant: str, slug: str
) -> list[dict[str, Any]]:
    workspace = await get(connection, tenant, slug)
    if workspace["state"] == "deleting":
        raise Problem(409, f"workspace {slug!r} is already being deleted")
    await repository.set_state(connection, tenant, slug, "deleting")
    return [await queue(connection, request, principal, tenant, slug, "workspace.delete")]


async def queue_check(
    connection: Connection,
    request: Request,
    principal: Principal,
    tenant_slug: str,
    slug: str,
    kind: str,
    body: WorkspacePreview | None = None,
) -> list[dict[str, Any]]:
    tenant = await _tenant(connection, tenant_slug)
    workspace = await get(connection, tenant_slug, slug)
    if workspace["state"] in ("provisioning", "deleting") and kind != "workspace.repair":
        raise Problem(409, f"workspace {slug!r} is {workspace['state']}")
    config: dict[str, str] = {}
    if body is not None:
        _check_topics(tenant, body.topics)
        config = {key: json.dumps(value) for key, value in (("tables", body.tables), ("topics", body.topics)) if value}
    return [await queue(connection, request, principal, tenant_slug, slug, kind, {"config": config} if config else {})]
