"""Tenants: create, list, get, change (display name, plan), suspend/resume, delete, quota overrides,
preview, drift check and repair. Every change answers 202 with the operations it queued."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from automation.auth import CurrentPrincipal
from automation.authorization import Action, authorize, visible_tenants
from automation.db import Transaction
from automation.operations.schemas import Accepted
from automation.operations.service import accepted
from automation.tenants import repository, service
from automation.tenants.schemas import (
    QuotaOverrides,
    TenantCreate,
    TenantList,
    TenantOut,
    TenantPreview,
    TenantState,
    TenantUpdate,
)
from falcone.http.problems import Responses

router = APIRouter(prefix="/v1/tenants", tags=["tenants"])
TenantSlug = Annotated[str, Path(max_length=64)]
ACCEPTED: Responses = {202: {"model": Accepted, "description": "queued; follow the operation at the Location header"}}
NOT_FOUND: Responses = {404: {"description": "no such tenant (or not yours)"}}
CONFLICT: Responses = {409: {"description": "the tenant's state does not allow this now"}}


@router.post("", status_code=202, response_model=Accepted, responses={409: {"description": "slug taken"}})
async def create_tenant(
    body: TenantCreate, request: Request, connection: Transaction, principal: CurrentPrincipal
) -> JSONResponse:
    authorize(principal, Action.TENANT_CREATE)
    return accepted(request, await service.create(connection, request, principal, body))


@router.get("", response_model=TenantList)
async def list_tenants(
    connection: Transaction,
    principal: CurrentPrincipal,
    state: TenantState | None = None,
    plan: Annotated[str | None, Query(max_length=64)] = None,
    q: Annotated[str | None, Query(max_length=100, description="slug prefix or part of the display name")] = None,
    cursor: Annotated[str | None, Query(max_length=64, description="`next_cursor` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TenantList:
    visible = visible_tenants(principal)
    # A listing within the principal's reach: platform roles list all, others must be allowed to read their own.
    authorize(principal, Action.TENANT_READ, None if visible is None else principal.tenant_id)
    rows = await repository.page(
        connection, visible=visible, state=state, plan=plan, search=q, after=cursor, limit=limit + 1
    )
    items = [TenantOut.of(row) for row in rows[:limit]]
    return TenantList(items=items, next_cursor=items[-1].slug if len(rows) > limit else None)


@router.get("/{tenant}", response_model=TenantOut, responses=NOT_FOUND)
async def get_tenant(tenant: TenantSlug, connection: Transaction, principal: CurrentPrincipal) -> TenantOut:
    authorize(principal, Action.TENANT_READ, tenant)
    return TenantOut.of(await service.get(connection, tenant))


@router.patch("/{tenant}", status_code=202, response_model=Accepted, responses={**NOT_FOUND, **CONFLICT})
async def update_tenant(
    tenant: TenantSlug, body: TenantUpdate, request: Request, connection: Transaction, principal: CurrentPrincipal
) -> JSONResponse:
    authorize(principal, Action.TENANT_UPDATE, tenant)
    return accepted(request, await service.update(connection, request, principal, tenant, body))


@router.post("/{tenant}/suspend", status_code=202, response_model=Accepted, responses={**NOT_FOUND, **CONFLICT})
async def suspend_tenant(
    tenant: TenantSlug, request: Request, connection: Transaction, principal: CurrentPrincipal
) -> JSONResponse:
    authorize(principal, Action.TENANT_UPDATE, tenant)
    return accepted(request, await service.change_state(connection, request, principal, tenant, "tenant.suspend"))


@router.post("/{tenant}/resume", status_code=202, response_model=Accepted, responses={**NOT_FOUND, **CONFLICT})
async def resume_tenant(
    tenant: TenantSlug, request: Request, connection: Transaction, principal: CurrentPrincipal
) -> JSONResponse:
    authorize(principal, Action.TENANT_UPDATE, tenant)
    return accepted(request, await service.change_state(connection, request, principal, tenant, "tenant.resume"))


@router.delete("/{tenant}", status_code=202, response_model=Accepted, responses={**NOT_FOUND, **CONFLICT})
async def delete_tenant(
    tenant: TenantSlug, request: Request, connection: Transaction, principal: CurrentPrincipal
) -> JSONResponse:
    authorize(principal, Action.TENANT_DELETE, tenant)
    return accepted(request, await service.delete(connection, request, principal, tenant))


@router.put("/{tenant}/quotas", response_model=TenantOut, responses=NOT_FOUND)
async def override_quotas(
    tenant: TenantSlug, body: QuotaOverrides, connection: Transaction, principal: CurrentPrincipal
) -> TenantOut:
    """Replace the tenant's quota overrides (omitted dimensions fall back to the plan). Lowering a limit below
    what the tenant already uses is refused, naming the dimension."""
    authorize(principal, Action.QUOTA_OVERRIDE, tenant)
    return TenantOut.of(await service.set_quotas(connection, tenant, body))


@router.post("/{tenant}/preview", status_code=202, response_model=Accepted, responses={**NOT_FOUND, **CONFLICT})
async def preview_tenant(
    tenant: TenantSlug, body: TenantPreview, request: Request, connection: Transaction, principal: CurrentPrincipal
) -> JSONResponse:
    """What an apply would change (optionally with another plan); the operation's outputs hold the report."""
    authorize(principal, Action.STACK_PREVIEW, tenant)
    params = {"config": {"plan": body.plan}} if body.plan else {}
    return accepted(
        request, await service.queue_check(connection, request, principal, tenant, "tenant.preview", params)
    )


@router.post("/{tenant}/drift", status_code=202, response_model=Accepted, responses={**NOT_FOUND, **CONFLICT})
async def check_tenant_drift(
    tenant: TenantSlug, request: Request, connection: Transaction, principal: CurrentPrincipal
) -> JSONResponse:
    """Compare the servers with the stack (nothing is changed); sets the Drifted condition."""
    authorize(principal, Action.STACK_DRIFT, tenant)
    return accepted(request, await service.queue_check(connection, request, principal, tenant, "tenant.drift", {}))


@router.post("/{tenant}/repair", status_code=202, response_model=Accepted, responses={**NOT_FOUND, **CONFLICT})
async def repair_tenant(
    tenant: TenantSlug, request: Request, connection: Transaction, principal: CurrentPrincipal
) -> JSONResponse:
    """Refresh from the servers, then apply: out-of-band changes are reverted."""
    authorize(principal, Action.TENANT_UPDATE, tenant)
    return accepted(request, await service.queue_check(connection, request, principal, tenant, "tenant.repair", {}))
