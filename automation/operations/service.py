"""Queueing operations for the lifecycle endpoints, and the 202 answer they all give."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask
from uuid_utils.compat import uuid7

from automation.auth import Principal
from automation.db import Connection
from automation.operations import repository
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
    """Store the operation (in the request's transaction, so it exists iff the change it carries does); the
    dispatcher is woken when the transaction has committed (see `accepted`)."""
    return await repository.insert(
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


def accepted(request: Request, operations: list[dict[str, Any]]) -> JSONResponse:
    """202 with the operations and a Location header on the (first) one to follow. The transaction has committed
    before the response is sent (automation.db), and the dispatcher is woken after it is."""
    body = Accepted(operations=[OperationOut.of(op) for op in operations])
    response = JSONResponse(body.model_dump(mode="json"), status_code=202)
    response.headers["Location"] = f"/v1/operations/{operations[0]['id']}"
    response.background = BackgroundTask(request.app.state.dispatcher.wake)
    return response
