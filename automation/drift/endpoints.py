"""Drift across the platform: the status conditions of every tenant and workspace, and a sweep that queues a
drift check of every stack (each check runs in its stack's queue, so it never races an apply)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from automation.auth import CurrentPrincipal
from automation.authorization import Action, authorize, visible_tenants
from automation.db import Transaction
from automation.operations.schemas import Accepted
from automation.operations.service import accepted, enqueue
from automation.tenants import repository as tenants
from automation.tenants.schemas import Condition
from automation.workspaces import repository as workspaces
from falcone.naming import TenantNames

router = APIRouter(prefix="/v1/drift", tags=["drift"])


class StackStatus(BaseModel):
    stack: str
    tenant: str
    workspace: str | None
    state: str
    conditions: dict[str, Condition]


class DriftStatus(BaseModel):
    items: list[StackStatus]


async def _stacks(connection: Any, visible: frozenset[str] | None) -> list[StackStatus]:
    statuses = []
    for tenant in await tenants.every(connection):
        slug = tenant["slug"]
        if visible is not None and slug not in visible:
            continue
        names = TenantNames(slug)
        statuses.append(StackStatus(stack=names.stack, tenant=slug, workspace=None, **_status(tenant)))
        for workspace in await workspaces.of_tenant(connection, slug):
            statuses.append(
                StackStatus(
                    stack=names.workspace(workspace["slug"]).stack,
                    tenant=slug,
                    workspace=workspace["slug"],
                    **_status(workspace),
                )
            )
    return statuses


def _status(row: dict[str, Any]) -> dict[str, Any]:
    return {"state": row["state"], "conditions": row["conditions"]}


@router.get("", response_model=DriftStatus)
async def drift_status(connection: Transaction, principal: CurrentPrincipal) -> DriftStatus:
    """Ready / Synced / Drifted of every stack the caller may see, with when each was last established."""
    visible = visible_tenants(principal)
    authorize(principal, Action.TENANT_READ, None if visible is None else principal.tenant_id)
    return DriftStatus(items=await _stacks(connection, visible))


@router.post("/sweep", status_code=202, response_model=Accepted, responses={204: {"description": "no stacks"}})
async def drift_sweep(request: Request, connection: Transaction, principal: CurrentPrincipal) -> JSONResponse:
    authorize(principal, Action.DRIFT_SWEEP)
    queued = []
    for stack in await _stacks(connection, None):
        if stack.state not in ("active", "suspended"):
            continue
        queued.append(
            await enqueue(
                connection,
                request,
                principal,
                kind="workspace.drift" if stack.workspace else "tenant.drift",
                stack=stack.stack,
                tenant=stack.tenant,
                workspace=stack.workspace,
            )
        )
    if not queued:
        return JSONResponse({"operations": []}, status_code=202)
    return accepted(request, queued)
