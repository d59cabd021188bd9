"""Operations: list, get, follow (Server-Sent Events of the engine's progress) and retry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent

from automation.auth import CurrentPrincipal, Principal
from automation.authorization import Action, authorize, visible_tenants, visible_workspaces
from automation.db import Connection, Transaction, pool
from automation.lifecycle import KIND_ACTIONS
from automation.operations import repository, service
from automation.operations.schemas import Accepted, OperationList, OperationOut, OperationStatus
from falcone.http.problems import Problem

router = APIRouter(prefix="/v1/operations", tags=["operations"])
FINISHED = ("succeeded", "failed", "cancelled")
POLL_SECONDS = 0.3


async def _visible(connection: Connection, principal: Principal, operation_id: str) -> dict[str, Any]:
    missing = Problem(404, f"no operation {operation_id!r}")
    operation = await repository.get(connection, operation_id)
    if operation is None:
        raise missing
    try:
        authorize(principal, Action.OPERATION_READ, operation["tenant"], operation["workspace"])
    except Problem as refused:
        # Out of reach reads exactly like absent: the answer must not name the operation's tenant.
        raise (missing if refused.status == 404 else refused) from None
    # A tenant-level operation is not a workspace's: workspace roles see only their workspace's.
    tenant_level = operation["tenant"] is not None and operation["workspace"] is None
    if tenant_level and visible_workspaces(principal, operation["tenant"]) is not None:
        raise missing
    return operation


async def visible_operation(
    operation_id: Annotated[str, Path(max_length=64)], request: Request, principal: CurrentPrincipal
) -> dict[str, Any]:
    """The operation, checked before any response starts (a stream's status line goes out with its first byte)."""
    async with pool(request).acquire() as connection:
        return await _visible(connection, principal, operation_id)


VisibleOperation = Annotated[dict[str, Any], Depends(visible_operation)]


@router.get("", response_model=OperationList)
async def list_operations(
    connection: Transaction,
    principal: CurrentPrincipal,
    tenant: Annotated[str | None, Query(max_length=64)] = None,
    workspace: Annotated[str | None, Query(max_length=64)] = None,
    status: OperationStatus | None = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=64, description="`next_cursor` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> OperationList:
    authorize(principal, Action.OPERATION_READ, tenant, workspace if tenant is not None else None)
    scoped = principal.tenant_id if tenant is None else tenant
    rows = await repository.page(
        connection,
        tenants=visible_tenants(principal),
        workspaces=visible_workspaces(principal, scoped) if scoped is not None else None,
        tenant=tenant,
        workspace=workspace,
        status=status,
        kind=kind,
        before=cursor,
        limit=limit + 1,
    )
    items = [OperationOut.of(row) for row in rows[:limit]]
    return OperationList(items=items, next_cursor=items[-1].id if len(rows) > limit else None)


@router.get("/{operation_id}", response_model=OperationOut, responses={404: {"description": "no such operation"}})
async def get_operation(
    operation_id: Annotated[str, Path(max_length=64)], connection: Transaction, principal: CurrentPrincipal
) -> OperationOut:
    return OperationOut.of(await _visible(connection, principal, operation_id))


@router.get(
    "/{operation_id}/events",
    response_class=EventSourceResponse,
    responses={404: {"description": "no such operation"}},
)
async def follow_operation(
    operation: VisibleOperation,
    request: Request,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
    follow: Annotated[bool, Query(description="false: send what is recorded now and end")] = True,
) -> AsyncIterator[ServerSentEvent]:
    """The engine's events, resource by resource, as they happen (replayed from the start, or after
    `Last-Event-ID`); the stream ends with the operation's final `status` event."""
    operation_id = operation["id"]
    sequence = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0
    while True:
        async with pool(request).acquire() as connection:
            events = await repository.events_after(connection, operation_id, sequence)
            current = await repository.get(connection, operation_id)
        for event in events:
            sequence = event["sequence"]
            payload = {**event["payload"], "at": event["at"].isoformat()}
            yield ServerSentEvent(id=str(sequence), event=event["type"], data=payload)
        if not events and (not follow or current is None or current["status"] in FINISHED):
            return
        if not events:
            await asyncio.sleep(POLL_SECONDS)


@router.post(
    "/{operation_id}/retry",
    status_code=202,
    response_model=Accepted,
    responses={404: {"description": "no such operation"}, 409: {"description": "the operation did not fail"}},
)
async def retry_operation(
    operation_id: str, request: Request, connection: Transaction, principal: CurrentPrincipal
) -> JSONResponse:
    """Queue a failed operation again, with the same kind and parameters, on the same stack."""
    operation = await _visible(connection, principal, operation_id)
    authorize(principal, KIND_ACTIONS[operation["kind"]], operation["tenant"], operation["workspace"])
    if operation["status"] != "failed":
        raise Problem(409, f"operation {operation_id} is {operation['status']}; only failed operations are retried")
    again = await service.enqueue(
        connection,
        request,
        principal,
        kind=operation["kind"],
        stack=operation["stack"],
        tenant=operation["tenant"],
        workspace=operation["workspace"],
        params={**operation["params"], "retry_of": operation_id},
    )
    return service.accepted(request, [again])
