"""Queueing operations for the lifecycle endpoints, and the 202 answer they all give."""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask
from uuid_utils.compat import uuid7

from automation.audit import service as audit
from automation.audit.publisher import AuditPublisher
from automation.audit.schemas import Outcome
from automation.auth import Principal
from automation.db import Connection
from automation.observability import Metrics
from automation.operations import repository
from automation.operations.dispatcher import FinishedHook
from automation.operations.schemas import Accepted, OperationOut
from falcone.http.middleware import correlation_id


async def enqueue(
    connection: Connection,
    request: Request,
    principal: Principal,
    *,
    kind: str,
    stack: str,
    tenant: str | None,
    workspace: str | None = None,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Store the operation and its audit event (in the request's transaction, so both exist iff the change they
    carry does); the dispatcher is woken when the transaction has committed (see `accepted`)."""
    operation = await repository.insert(
        connection,
        id_=f"op_{uuid7().hex}",
        kind=kind,
        stack=stack,
        tenant=tenant,
        workspace=workspace,
        requested_by=principal.audit_actor(),
        correlation_id=correlation_id(request),
        params=params or {},
    )
    await audit_operation(connection, operation, Outcome.ACCEPTED)
    return operation


async def audit_operation(connection: Connection, operation: dict[str, Any], outcome: Outcome) -> str:
    """The audit event of an operation's acceptance or end: the action is the operation's kind, the resource its
    tenant or workspace."""
    resource_type = operation["kind"].split(".", 1)[0]
    resource_id = (
        operation["tenant"] if resource_type == "tenant" else f"{operation['tenant']}/{operation['workspace']}"
    )
    metadata: dict[str, Any] = {"operation": operation["id"], "stack": operation["stack"]}
    if operation.get("error"):
        metadata["error"] = operation["error"][:1000]
    if operation.get("duration_seconds") is not None:
        metadata["duration_seconds"] = round(operation["duration_seconds"], 3)
    return await audit.record(
        connection,
        actor=operation["requested_by"],
        action=operation["kind"],
        resource_type=resource_type,
        resource_id=resource_id,
        tenant_id=operation["tenant"],
        outcome=outcome,
        correlation_id=operation["correlation_id"],
        metadata=metadata,
    )


def finished_hook(pool: asyncpg.Pool, metrics: Metrics, publisher: AuditPublisher | None) -> FinishedHook:
    """What happens when an operation ends: its audit event (success or failure) and its metrics."""

    async def finished(operation: dict[str, Any]) -> None:
        metrics.operation_finished(operation["kind"], operation["status"], operation["duration_seconds"])
        outcome = Outcome.SUCCESS if operation["status"] == "succeeded" else Outcome.FAILURE
        async with pool.acquire() as connection:
            await audit_operation(connection, operation, outcome)
        if publisher is not None:
            publisher.wake()

    return finished


def accepted(request: Request, operations: list[dict[str, Any]]) -> JSONResponse:
    """202 with the operations and a Location header on the (first) one to follow. The transaction has committed
    before the response is sent (automation.db), and the dispatcher is woken after it is."""
    body = Accepted(operations=[OperationOut.of(op) for op in operations])
    response = JSONResponse(body.model_dump(mode="json"), status_code=202)
    response.headers["Location"] = f"/v1/operations/{operations[0]['id']}"
    response.background = BackgroundTask(request.app.state.dispatcher.wake)
    return response
