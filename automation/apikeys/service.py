"""API keys of a workspace (`flc_anon_…`, `flc_service_…`): metadata only, no Pulumi run.

A key is bound to the workspace named by the path and to that workspace's `anon` or `service` database role; the
path's tenant has been authorized against the caller's token before anything here runs, and the workspace is
looked up within that tenant, so a key is never minted for another tenant's workspace (Falcone bug #517). The
secret is returned once and only its SHA-256 is stored. Every create, revoke and rotation is audited in the same
transaction.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from automation.apikeys import repository
from automation.apikeys.schemas import ApiKeyCreate, ApiKeyRotate, status
from automation.audit import service as audit
from automation.auth import Principal
from automation.db import Connection
from automation.workspaces import service as workspaces
from falcone import apikeys
from falcone.apikeys import KeyKind
from falcone.http.middleware import correlation_id
from falcone.http.problems import Problem
from falcone.naming import WorkspaceNames


async def get(
    connection: Connection, tenant: str, workspace: str, id_: str, *, for_update: bool = False
) -> dict[str, Any]:
    await workspaces.get(connection, tenant, workspace)
    row = await repository.get(connection, tenant, workspace, id_, for_update=for_update)
    if row is None:
        raise Problem(404, f"no API key {id_!r} in workspace {workspace!r}")
    return row


async def _active_workspace(connection: Connection, tenant: str, slug: str) -> None:
    workspace = await workspaces.get(connection, tenant, slug)
    if workspace["state"] != "active":
        raise Problem(
            409, f"workspace {slug!r} is {workspace['state']}; API keys are minted for active workspaces only"
        )


async def _audit(
    connection: Connection, request: Request, principal: Principal, action: str, row: dict[str, Any], **metadata: Any
) -> None:
    await audit.record(
        connection,
        actor=principal.audit_actor(),
        action=action,
        resource_type="api_key",
        resource_id=row["id"],
        tenant_id=row["tenant"],
        outcome="success",
        correlation_id=correlation_id(request),
        metadata={"workspace": row["workspace"], "kind": row["kind"], "prefix": row["prefix"], **metadata},
    )


async def _mint(
    connection: Connection,
    principal: Principal,
    tenant: str,
    workspace: str,
    kind: KeyKind,
    name: str,
    expires_in_days: int | None,
) -> tuple[dict[str, Any], str]:
    key = apikeys.generate(kind)
    row = await repository.insert(
        connection,
        id_=key.id,
        tenant=tenant,
        workspace=workspace,
        kind=kind,
        name=name,
        prefix=key.prefix,
        secret_hash=key.secret_hash,
        db_role=WorkspaceNames(tenant, workspace).db_role(kind),
        created_by=principal.subject,
        expires_in_days=expires_in_days,
    )
    return row, key.secret


async def create(
    connection: Connection, request: Request, principal: Principal, tenant: str, workspace: str, body: ApiKeyCreate
) -> tuple[dict[str, Any], str]:
    """The new key's row and its secret (to be shown once)."""
    await _active_workspace(connection, tenant, workspace)
    row, secret = await _mint(connection, principal, tenant, workspace, body.kind, body.name, body.expires_in_days)
    await _audit(connection, request, principal, "api_key.create", row)
    return row, secret


async def revoke(
    connection: Connection, request: Request, principal: Principal, tenant: str, workspace: str, id_: str
) -> None:
    """Idempotent: revoking a revoked key changes nothing (and records nothing)."""
    row = await get(connection, tenant, workspace, id_, for_update=True)
    if row["revoked_at"] is not None:
        return
    await _audit(connection, request, principal, "api_key.revoke", await repository.revoke(connection, id_))


async def rotate(
    connection: Connection,
    request: Request,
    principal: Principal,
    tenant: str,
    workspace: str,
    id_: str,
    body: ApiKeyRotate,
) -> tuple[dict[str, Any], str]:
    """A new key of the same kind and name; the old one works for the grace period, then stops."""
    old = await get(connection, tenant, workspace, id_, for_update=True)
    if old["replaced_by"] is not None:
        raise Problem(409, f"API key {id_!r} was already rotated; rotate its replacement {old['replaced_by']!r}")
    if (state := status(old)) != "active":
        raise Problem(409, f"API key {id_!r} is {state}; create a new key instead")
    await _active_workspace(connection, tenant, workspace)
    new, secret = await _mint(connection, principal, tenant, workspace, old["kind"], old["name"], body.expires_in_days)
    await repository.replace(connection, id_, replaced_by=new["id"], grace_seconds=body.grace_period_seconds)
    await _audit(
        connection,
        request,
        principal,
        "api_key.rotate",
        old,
        replaced_by=new["id"],
        grace_period_seconds=body.grace_period_seconds,
    )
    await _audit(connection, request, principal, "api_key.create", new, replaces=id_)
    return new, secret
