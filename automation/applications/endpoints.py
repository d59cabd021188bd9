"""A workspace's applications (public Keycloak clients) and service accounts (client credentials): create, list,
get, delete; a service account's credentials are shown once. Creates and deletes answer 202 with the workspace
update they queued."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from automation.applications import repository, service
from automation.applications.schemas import (
    ApplicationCreate,
    ApplicationList,
    ApplicationOut,
    Credentials,
    Kind,
    ServiceAccountList,
    ServiceAccountOut,
)
from automation.auth import CurrentPrincipal
from automation.authorization import Action, authorize
from automation.db import Connection, Transaction
from automation.operations.schemas import Accepted
from automation.operations.service import accepted
from automation.workspaces import service as workspaces

router = APIRouter(prefix="/v1/tenants/{tenant}/workspaces/{workspace}", tags=["applications"])
# No NUL: PostgreSQL text cannot hold one, and a lookup with it would fail instead of finding nothing.
Text = r"^[^\x00]*$"
Segment = Annotated[str, Path(max_length=64, pattern=Text)]
Responses = dict[int | str, dict[str, Any]]
Cursor = Annotated[str | None, Query(max_length=64, pattern=Text, description="`next_cursor` of the previous page")]
Limit = Annotated[int, Query(ge=1, le=200)]
NOT_FOUND: Responses = {404: {"description": "no such tenant, workspace or client (or not yours)"}}
CONFLICT: Responses = {409: {"description": "the name is taken, or the workspace's state does not allow this now"}}
QUOTA: Responses = {422: {"description": "invalid, or beyond a quota (the problem names the dimension)"}}


async def _page(
    connection: Connection, tenant: str, workspace: str, kind: Kind, cursor: str | None, limit: int
) -> tuple[dict[str, Any], list[dict[str, Any]], str | None]:
    """The workspace (whose observed generation says what is provisioned), a page of rows and the next cursor."""
    row = await workspaces.get(connection, tenant, workspace)
    rows = await repository.page(
        connection, tenant=tenant, workspace=workspace, kind=kind, after=cursor, limit=limit + 1
    )
    return row, rows[:limit], rows[limit - 1]["name"] if len(rows) > limit else None


async def _one(
    connection: Connection, tenant: str, workspace: str, kind: Kind, name: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    row = await workspaces.get(connection, tenant, workspace)
    return row, await service.get(connection, tenant, workspace, kind, name)


# --- applications -----------------------------------------------------------------------------------------------


@router.post("/applications", status_code=202, response_model=Accepted, responses={**NOT_FOUND, **CONFLICT, **QUOTA})
async def create_application(
    tenant: Segment,
    workspace: Segment,
    body: ApplicationCreate,
    request: Request,
    connection: Transaction,
    principal: CurrentPrincipal,
) -> JSONResponse:
    authorize(principal, Action.APPLICATION_MANAGE, tenant, workspace)
    queued = await service.create(connection, request, principal, tenant, workspace, "application", body)
    return accepted(request, queued)


@router.get("/applications", response_model=ApplicationList, responses=NOT_FOUND)
async def list_applications(
    tenant: Segment,
    workspace: Segment,
    connection: Transaction,
    principal: CurrentPrincipal,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> ApplicationList:
    authorize(principal, Action.APPLICATION_READ, tenant, workspace)
    row, rows, next_cursor = await _page(connection, tenant, workspace, "application", cursor, limit)
    return ApplicationList(items=[ApplicationOut.of(item, row) for item in rows], next_cursor=next_cursor)


@router.get("/applications/{name}", response_model=ApplicationOut, responses=NOT_FOUND)
async def get_application(
    tenant: Segment, workspace: Segment, name: Segment, connection: Transaction, principal: CurrentPrincipal
) -> ApplicationOut:
    authorize(principal, Action.APPLICATION_READ, tenant, workspace)
    row, item = await _one(connection, tenant, workspace, "application", name)
    return ApplicationOut.of(item, row)


@router.delete("/applications/{name}", status_code=202, response_model=Accepted, responses={**NOT_FOUND, **CONFLICT})
async def delete_application(
    tenant: Segment,
    workspace: Segment,
    name: Segment,
    request: Request,
    connection: Transaction,
    principal: CurrentPrincipal,
) -> JSONResponse:
    authorize(principal, Action.APPLICATION_MANAGE, tenant, workspace)
    return accepted(
        request, await service.delete(connection, request, principal, tenant, workspace, "application", name)
    )


# --- service accounts -------------------------------------------------------------------------------------------


@router.post(
    "/service-accounts", status_code=202, response_model=Accepted, responses={**NOT_FOUND, **CONFLICT, **QUOTA}
)
async def create_service_account(
    tenant: Segment,
    workspace: Segment,
    body: ApplicationCreate,
    request: Request,
    connection: Transaction,
    principal: CurrentPrincipal,
) -> JSONResponse:
    authorize(principal, Action.APPLICATION_MANAGE, tenant, workspace)
    queued = await service.create(connection, request, principal, tenant, workspace, "service_account", body)
    return accepted(request, queued)


@router.get("/service-accounts", response_model=ServiceAccountList, responses=NOT_FOUND)
async def list_service_accounts(
    tenant: Segment,
    workspace: Segment,
    connection: Transaction,
    principal: CurrentPrincipal,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> ServiceAccountList:
    authorize(principal, Action.APPLICATION_READ, tenant, workspace)
    row, rows, next_cursor = await _page(connection, tenant, workspace, "service_account", cursor, limit)
    return ServiceAccountList(items=[ServiceAccountOut.of(item, row) for item in rows], next_cursor=next_cursor)


@router.get("/service-accounts/{name}", response_model=ServiceAccountOut, responses=NOT_FOUND)
async def get_service_account(
    tenant: Segment, workspace: Segment, name: Segment, connection: Transaction, principal: CurrentPrincipal
) -> ServiceAccountOut:
    authorize(principal, Action.APPLICATION_READ, tenant, workspace)
    row, item = await _one(connection, tenant, workspace, "service_account", name)
    return ServiceAccountOut.of(item, row)


@router.delete(
    "/service-accounts/{name}", status_code=202, response_model=Accepted, responses={**NOT_FOUND, **CONFLICT}
)
async def delete_service_account(
    tenant: Segment,
    workspace: Segment,
    name: Segment,
    request: Request,
    connection: Transaction,
    principal: CurrentPrincipal,
) -> JSONResponse:
    authorize(principal, Action.APPLICATION_MANAGE, tenant, workspace)
    queued = await service.delete(connection, request, principal, tenant, workspace, "service_account", name)
    return accepted(request, queued)


@router.post(
    "/service-accounts/{name}/credentials",
    response_model=Credentials,
    responses={
        **NOT_FOUND,
        409: {"description": "shown already (the problem says how to rotate), or not provisioned yet"},
        503: {"description": "the stack's outputs cannot be read now"},
    },
)
async def reveal_service_account_credentials(
    tenant: Segment,
    workspace: Segment,
    name: Segment,
    request: Request,
    response: Response,
    connection: Transaction,
    principal: CurrentPrincipal,
) -> Credentials:
    """The client id and secret, shown once: a second request answers 409."""
    authorize(principal, Action.APPLICATION_MANAGE, tenant, workspace)
    response.headers["Cache-Control"] = "no-store"
    return await service.reveal(connection, request, principal, tenant, workspace, name)
