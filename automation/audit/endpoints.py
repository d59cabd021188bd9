"""`GET /v1/audit`: the audit trail, newest first; tenant administrators and operators see their tenant only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from automation.audit import repository, service
from automation.audit.schemas import AuditPage, AuditQuery
from automation.auth import CurrentPrincipal
from automation.authorization import Action, authorize, visible_tenants
from automation.db import Transaction
from falcone.http.problems import Problem

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get(
    "",
    response_model=AuditPage,
    responses={
        401: {"description": "no valid bearer token"},
        403: {"description": "the principal may not read the audit trail"},
        404: {"description": "the tenant is not one the principal may see"},
        422: {"description": "an invalid filter, limit or cursor"},
    },
)
async def list_audit_events(
    principal: CurrentPrincipal, connection: Transaction, query: Annotated[AuditQuery, Query()]
) -> AuditPage:
    authorize(principal, Action.AUDIT_READ, tenant=query.tenant)
    visible = visible_tenants(principal)
    if query.tenant is None:
        tenants = visible
    elif visible is None or query.tenant in visible:
        tenants = frozenset({query.tenant})
    else:  # authorize answers this already; the query must not rely on it
        raise Problem(404, f"no tenant {query.tenant!r}")
    filters = repository.Filters(
        tenants=tenants,
        action=query.action,
        outcome=query.outcome,
        resource_type=query.resource_type,
        since=query.since,
        until=query.until,
    )
    return await service.page(connection, filters, cursor=query.cursor, limit=query.limit)
