"""API keys of a workspace: create (the secret is shown once), list (prefixes, never secrets), get, revoke and
rotate. No Pulumi run: keys are metadata the executor resolves."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, Response

from automation.apikeys import repository, service
from automation.apikeys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyList, ApiKeyOut, ApiKeyRotate, KeyStatus
from automation.auth import CurrentPrincipal
from automation.authorization import Action, authorize
from automation.db import Transaction
from automation.workspaces import service as workspaces
from falcone.apikeys import KeyKind

router = APIRouter(prefix="/v1/tenants/{tenant}/workspaces/{workspace}/api-keys", tags=["api-keys"])
# No NUL: PostgreSQL text cannot hold one, and a lookup with it would fail instead of finding nothing.
Text = r"^[^\x00]*$"
Segment = Annotated[str, Path(max_length=64, pattern=Text)]
Responses = dict[int | str, dict[str, Any]]
NOT_FOUND: Responses = {404: {"description": "no such tenant, workspace or key (or not yours)"}}
CONFLICT: Responses = {409: {"description": "the workspace is not active, or the key cannot be rotated"}}


def _shown_once(request: Request, response: Response, row: dict[str, Any], secret: str) -> ApiKeyCreated:
    response.headers["Location"] = f"{request.url.path.rsplit('/api-keys', 1)[0]}/api-keys/{row['id']}"
    response.headers["Cache-Control"] = "no-store"
    return ApiKeyCreated.created(row, secret)


@router.post("", status_code=201, response_model=ApiKeyCreated, responses={**NOT_FOUND, **CONFLICT})
async def create_api_key(
    tenant: Segment,
    workspace: Segment,
    body: ApiKeyCreate,
    request: Request,
    response: Response,
    connection: Transaction,
    principal: CurrentPrincipal,
) -> ApiKeyCreated:
    authorize(principal, Action.API_KEY_MANAGE, tenant, workspace)
    row, secret = await service.create(connection, request, principal, tenant, workspace, body)
    return _shown_once(request, response, row, secret)


@router.get("", response_model=ApiKeyList, responses=NOT_FOUND)
async def list_api_keys(
    tenant: Segment,
    workspace: Segment,
    connection: Transaction,
    principal: CurrentPrincipal,
    kind: KeyKind | None = None,
    status: KeyStatus | None = None,
    cursor: Annotated[
        str | None, Query(max_length=64, pattern=Text, description="`next_cursor` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ApiKeyList:
    authorize(principal, Action.API_KEY_READ, tenant, workspace)
    await workspaces.get(connection, tenant, workspace)
    rows = await repository.page(
        connection, tenant=tenant, workspace=workspace, kind=kind, status=status, after=cursor, limit=limit + 1
    )
    items = [ApiKeyOut.of(row) for row in rows[:limit]]
    return ApiKeyList(items=items, next_cursor=items[-1].id if len(rows) > limit else None)


@router.get("/{key}", response_model=ApiKeyOut, responses=NOT_FOUND)
async def get_api_key(
    tenant: Segment, workspace: Segment, key: Segment, connection: Transaction, principal: CurrentPrincipal
) -> ApiKeyOut:
    authorize(principal, Action.API_KEY_READ, tenant, workspace)
    return ApiKeyOut.of(await service.get(connection, tenant, workspace, key))


@router.delete("/{key}", status_code=204, response_class=Response, responses=NOT_FOUND)
async def revoke_api_key(
    tenant: Segment,
    workspace: Segment,
    key: Segment,
    request: Request,
    connection: Transaction,
    principal: CurrentPrincipal,
) -> Response:
    """Revoke the key (at once; again: 204, nothing changes)."""
    authorize(principal, Action.API_KEY_MANAGE, tenant, workspace)
    await service.revoke(connection, request, principal, tenant, workspace, key)
    return Response(status_code=204)


@router.post("/{key}/rotate", status_code=201, response_model=ApiKeyCreated, responses={**NOT_FOUND, **CONFLICT})
async def rotate_api_key(
    tenant: Segment,
    workspace: Segment,
    key: Segment,
    request: Request,
    response: Response,
    connection: Transaction,
    principal: CurrentPrincipal,
    body: Annotated[ApiKeyRotate | None, Body()] = None,
) -> ApiKeyCreated:
    """A new key (shown once) replaces this one, which keeps working for `grace_period_seconds`."""
    authorize(principal, Action.API_KEY_MANAGE, tenant, workspace)
    row, secret = await service.rotate(connection, request, principal, tenant, workspace, key, body or ApiKeyRotate())
    return _shown_once(request, response, row, secret)
