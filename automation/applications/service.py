"""Applications (public clients, PKCE) and service accounts (confidential clients, client credentials) of a
workspace: rows of `applications` that the workspace stack turns into Keycloak clients of the tenant's realm.

A create or a delete changes the desired state (the row, and the workspace's generation with it) and queues a
`workspace.update`; a client exists once the workspace's observed generation has caught up with its row's. The
quotas count per workspace, as plan changes check them (automation.tenants.service).

A service account's secret is a secret output of the workspace stack. It is handed out once: the reveal is
claimed in the request's transaction, so a failed read leaves it unclaimed and two concurrent reveals cannot both
succeed. The stack has no way to regenerate one client's secret, so rotating means a new service account.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from fastapi import Request
from pulumi import automation as auto
from uuid_utils.compat import uuid7

from automation import conditions, quotas
from automation.applications import repository
from automation.applications.schemas import ApplicationCreate, Credentials, Kind
from automation.audit import service as audit
from automation.auth import Principal
from automation.db import Connection
from automation.operations.engine import StackEngine
from automation.tenants import repository as tenants
from automation.workspaces import repository as workspaces
from automation.workspaces import service as workspace_service
from falcone.http.middleware import correlation_id
from falcone.http.problems import Problem
from falcone.naming import InvalidSlugError, WorkspaceNames
from falcone.plans import Capability, catalog

log = structlog.get_logger("automation.applications")

LABELS: dict[Kind, str] = {"application": "application", "service_account": "service account"}
QUOTAS: dict[Kind, str] = {"application": "max_applications", "service_account": "max_service_accounts"}
ALREADY_REVEALED = "https://falcone.dev/problems/credentials-already-revealed"


def client_id(tenant: dict[str, Any], workspace: str, kind: Kind, name: str) -> str:
    """The client the stack creates: it decides shared vs dedicated realm by the plan's identity profile."""
    shared = catalog().plan(tenant["plan"]).profile.identity == "shared"
    names = WorkspaceNames(tenant["slug"], workspace)
    if kind == "application":
        return names.client(name, shared_realm=shared)
    return names.service_account(name, shared_realm=shared)


def _missing(kind: Kind, name: str, workspace: str) -> Problem:
    return Problem(404, f"no {LABELS[kind]} {name!r} in workspace {workspace!r}")


async def get(connection: Connection, tenant: str, workspace: str, kind: Kind, name: str) -> dict[str, Any]:
    row = await repository.get(connection, tenant, workspace, name)
    if row is None or row["kind"] != kind:
        raise _missing(kind, name, workspace)
    return row


async def _locked_workspace(connection: Connection, tenant: str, slug: str) -> dict[str, Any]:
    workspace = await repository.lock_workspace(connection, tenant, slug)
    if workspace is None:
        raise Problem(404, f"no workspace {slug!r} in tenant {tenant!r}")
    if workspace["state"] == "deleting":
        raise Problem(409, f"workspace {slug!r} is being deleted")
    return workspace


async def create(
    connection: Connection,
    request: Request,
    principal: Principal,
    tenant_slug: str,
    slug: str,
    kind: Kind,
    body: ApplicationCreate,
) -> list[dict[str, Any]]:
    await _locked_workspace(connection, tenant_slug, slug)
    tenant = await tenants.get(connection, tenant_slug)
    assert tenant is not None  # the workspace references it
    plan = catalog().plan(tenant["plan"])
    if not plan.allows(Capability.IDENTITY):
        raise Problem(422, f"plan {plan.name!r} has no identity capability", dimension="capabilities")
    if kind == "application" and body.name.startswith("svc-"):
        # `{ws}-svc-{x}` is the client id of service account x.
        raise Problem(422, "application names starting with 'svc-' are reserved for service accounts' clients")
    try:
        client = client_id(tenant, slug, kind, body.name)
    except InvalidSlugError as error:
        raise Problem(422, str(error)) from None
    if await repository.get(connection, tenant_slug, slug, body.name) is not None:
        raise Problem(409, f"{body.name!r} already names an application or service account of workspace {slug!r}")
    dimension = QUOTAS[kind]
    limit = getattr(quotas.effective(tenant, plan), dimension)
    quotas.refuse_beyond(
        dimension, await repository.count(connection, tenant_slug, slug, kind) + 1, limit, plan=plan.name
    )
    taken = await repository.by_client_id(connection, tenant_slug, client)
    if taken is not None:
        raise Problem(
            409, f"client id {client!r} is already the client of {taken['name']!r} in workspace {taken['workspace']!r}"
        )
    workspace = await workspaces.update_spec(connection, tenant_slug, slug, {"conditions": conditions.pending_update()})
    row = await repository.insert(
        connection,
        id_=f"app_{uuid7().hex}",
        tenant=tenant_slug,
        workspace=slug,
        name=body.name,
        kind=kind,
        client_id=client,
        generation=workspace["generation"],
    )
    if not row:
        raise Problem(409, f"{body.name!r} (client {client!r}) was just created by another request")
    change = {"change": f"{kind}.create", "name": body.name}
    return [
        await workspace_service.queue(connection, request, principal, tenant_slug, slug, "workspace.update", change)
    ]


async def delete(
    connection: Connection, request: Request, principal: Principal, tenant: str, slug: str, kind: Kind, name: str
) -> list[dict[str, Any]]:
    await _locked_workspace(connection, tenant, slug)
    row = await get(connection, tenant, slug, kind, name)
    await repository.delete(connection, row["id"])
    await workspaces.update_spec(connection, tenant, slug, {"conditions": conditions.pending_update()})
    change = {"change": f"{kind}.delete", "name": name}
    return [await workspace_service.queue(connection, request, principal, tenant, slug, "workspace.update", change)]


def already_revealed(name: str, row: dict[str, Any]) -> Problem:
    revealed = row["credentials_revealed_at"]
    return Problem(
        409,
        f"the credentials of service account {name!r} were shown at {revealed.isoformat() if revealed else 'once'} "
        "and are never shown again. To rotate them, create a new service account, move your clients to it, then "
        "delete this one.",
        type_=ALREADY_REVEALED,
        revealed_at=revealed.isoformat() if revealed else None,
    )


async def reveal(
    connection: Connection, request: Request, principal: Principal, tenant_slug: str, slug: str, name: str
) -> Credentials:
    workspace = await workspace_service.get(connection, tenant_slug, slug)
    row = await get(connection, tenant_slug, slug, "service_account", name)
    if row["credentials_revealed_at"] is not None:
        raise already_revealed(name, row)
    if workspace["state"] == "deleting":
        raise Problem(409, f"workspace {slug!r} is being deleted")
    if workspace["observed_generation"] < row["generation"]:
        raise Problem(
            409,
            f"service account {name!r} is not provisioned yet: ask again once its workspace update has succeeded "
            "(`provisioned: true`)",
        )
    stack = WorkspaceNames(tenant_slug, slug).stack
    # Reading the outputs while an operation applies the stack would race its Pulumi files.
    unfinished = await repository.unfinished_operations(connection, stack)
    if unfinished:
        raise Problem(
            409,
            f"operation {unfinished[0]} of workspace {slug!r} is queued or running; ask again when it has finished",
            operation=unfinished[0],
        )
    if await repository.mark_revealed(connection, row["id"]) is None:
        raise already_revealed(name, await get(connection, tenant_slug, slug, "service_account", name))
    engine: StackEngine = request.app.state.dispatcher.engine
    try:
        outputs = await asyncio.to_thread(engine.secret_outputs, stack)
    except auto.errors.CommandError as error:
        log.warning("secret_outputs_failed", stack=stack, error=str(error)[-500:])
        raise Problem(503, f"the outputs of stack {stack!r} cannot be read now; try again") from None
    secret = (outputs.get("serviceAccountSecrets") or {}).get(row["client_id"])
    if not isinstance(secret, str) or not secret:
        raise Problem(409, f"the workspace stack holds no secret for client {row['client_id']!r}; repair the workspace")
    tenant = await tenants.get(connection, tenant_slug)
    assert tenant is not None
    assert engine.backends.keycloak is not None
    realm = tenant["outputs"].get("realm")
    if not isinstance(realm, str):
        raise Problem(409, f"tenant {tenant_slug!r} has no realm yet; repair the tenant")
    await audit.record(
        connection,
        actor=principal.audit_actor(),
        action="service_account.reveal_credentials",
        resource_type="service_account",
        resource_id=row["id"],
        tenant_id=tenant_slug,
        outcome="success",
        correlation_id=correlation_id(request),
        metadata={"workspace": slug, "name": name, "client_id": row["client_id"]},
    )
    keycloak = engine.backends.keycloak.url.rstrip("/")
    return Credentials(
        client_id=row["client_id"],
        client_secret=secret,
        token_url=f"{keycloak}/realms/{realm}/protocol/openid-connect/token",
    )
