"""Workspaces of a tenant: create, list, get, change, delete, preview, drift check and repair."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from automation.auth import CurrentPrincipal
from automation.authorization import Action, authorize, visible_workspaces
from automation.db import Transaction
from automation.operations.schemas import Accepted
from automation.operations.service import accepted
from automation.tenants import service as tenants
from automation.workspaces import repository, service
from automation.workspaces.schemas import (
    WorkspaceCreate,
    WorkspaceList,
    WorkspaceOut,
    WorkspacePreview,
    WorkspaceState,
    WorkspaceUpdate,
)
from falcone.http.problems import Responses

router = APIRouter(prefix="/v1/tenants/{tenant}/workspaces", tags=["workspaces"])
Segment = Annotated[str, Path(max_length=64)]
NOT_FOUND: Responses = {404: {"description": "no such tenant or workspace (or not yours)"}}
CONFLICT: Responses = {409: {"description": "the workspace's state does not allow this now"}}
QUOTA: Responses = {422: {"description": "invalid, or beyond a quota (the problem names the dimension)"}}


@router.post("", status_code=202, response_model=Accepted, responses={**NOT_FOUND, **CONFLICT, **QUOTA})
async def create_workspace(
    tenant: Segment, body: WorkspaceCreate, request: Request, connection: Transaction, principal: CurrentPrincipal
) -> JSONResponse:
    authorize(principal, Action.WORKSPACE_CREATE, tenant)
    return accepted(request, await service.create(connection, request, principal, tenant, body))


@router.get("", response_model=WorkspaceList, responses=NOT_FOUND)
async def list_workspaces(
    tenant: Segment,
    connection: Transaction,
    principal: CurrentPrincipal,
    state: WorkspaceState | None = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> WorkspaceList:
    authorize(principal, Action.WORKSPACE_READ, tenant)
    await tenants.get(connection, tenant)
    visible = visible_workspaces(principal, tenant)
    rows = await repository.page(connection, tenant=tenant, visible=visible, state=state, after=cursor, limit=limit + 1)
    items = [WorkspaceOut.of(row) for row in rows[:limit]]
    return WorkspaceList(items=items, next_cursor=items[-1].slug if len(rows) > limit else None)


@router.get("/{workspace}", response_model=WorkspaceOut, responses=NOT_FOUND)
async def get_workspace(
    tenant: Segment, workspace: Segment, connection: Transaction, principal: CurrentPrincipal
) -> WorkspaceOut:
    authorize(principal, Action.WORKSPACE_READ, tenant, workspace)
    return WorkspaceOut.of(await service.get(connection, tenant, workspace))


@router.patch("/{workspace}", status_code=202, response_model=Accepted, responses={**NOT_FOUND, **CONFLICT, **QUOTA})
async def update_workspace(
    tenant: Segment,
    workspace: Segment,
    body: WorkspaceUpdate,
    request: Request,
    connection: Transaction,
    principal: CurrentPrincipal,
) -> JSONResponse:
    authorize(principal, Action.WORKSPACE_UPDATE, tenant, workspace)
    return accepted(request, await service.update(connection, request, principal, tenant, workspace, body))


@router.delete("/{workspace}", status_code=202, response_model=Accepted, responses={**NOT_FOUND, **CONFLICT})
async def delete_workspace(
    tenant: Segment, workspace: Segment, request: Request, connection: Transaction, principal: CurrentPrincipal
) -> JSONResponse:
    authorize(principal, Action.WORKSPACE_DELETE, tenant, workspace)
    return accepted(request, await service.delete(connection, request, principal, tenant, workspace))


@router.post("/{workspace}/preview", status_code=202, response_model=Accepted, responses={**NOT_FOUND, **CONFLICT})
async def preview_workspace(
    tenant: Segment,
    workspace: Segment,
    body: WorkspacePreview,
    request: Request,
    connection: Transaction,
    principal: CurrentPrincipal,
) -> JSONResponse:
    authorize(principal, Action.STACK_PREVIEW, tenant, workspace)
    return accepted(
        request,
        await service.queue_check(connection, request, principal, tenant, workspace, "workspace.preview", body),
    )


@router.post("/{workspace}/drift", status_code=202, response_model=Accepted, responses={**NOT_FOUND, **CONFLICT})
async def check_workspace_drift(
    tenant: Segment, workspace: Segment, request: Request, connection: Transaction, principal: CurrentPrincipal
) -> JSONResponse:
    authorize(principal, Action.STACK_DRIFT, tenant, workspace)
    return accepted(
        request, await service.queue_check(connection, request, principal, tenant, workspace, "workspace.drift")
    )


@router.post("/{workspace}/repair", status_code=202, response_model=Accepted, responses={**NOT_FOUND, **CONFLICT})
async def repair_workspace(
    tenant: Segment, workspace: Segment, request: Request, connection: Transaction, principal: CurrentPrincipal
) -> JSONResponse:
    authorize(principal, Action.WORKSPACE_UPDATE, tenant, workspace)
    return accepted(
        request, await service.queue_check(connection, request, principal, tenant, workspace, "workspace.repair")
    )
