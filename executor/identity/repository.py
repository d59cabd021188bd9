"""The metadata the executor reads, as the `keys` login (which may read api_keys, workspaces and tenants only)."""

from __future__ import annotations

import asyncpg

from executor.identity.schemas import KeyRecord, WorkspaceRecord

_FIND_KEY = """
SELECT k.id, k.tenant, k.workspace, k.kind, k.db_role, k.expires_at, k.revoked_at,
       t.plan, t.state AS tenant_state, w.state AS workspace_state
FROM api_keys k
JOIN workspaces w ON w.tenant = k.tenant AND w.slug = k.workspace AND w.deleted_at IS NULL
JOIN tenants t ON t.slug = k.tenant AND t.deleted_at IS NULL
WHERE k.secret_hash = $1
"""


async def find_key(pool: asyncpg.Pool, secret_hash: bytes) -> KeyRecord | None:
    row = await pool.fetchrow(_FIND_KEY, secret_hash)
    return None if row is None else KeyRecord(**dict(row))


async def tenant_realm(pool: asyncpg.Pool, tenant: str) -> str | None:
    """The realm the tenant stack created (or the platform realm it shares), from the tenant registry."""
    value = await pool.fetchval("SELECT outputs->>'realm' FROM tenants WHERE slug = $1 AND deleted_at IS NULL", tenant)
    return None if value is None else str(value)


async def find_workspace(pool: asyncpg.Pool, tenant: str, workspace: str) -> WorkspaceRecord | None:
    row = await pool.fetchrow(
        "SELECT t.plan, t.state AS tenant_state, w.state AS workspace_state "
        "FROM workspaces w JOIN tenants t ON t.slug = w.tenant AND t.deleted_at IS NULL "
        "WHERE w.tenant = $1 AND w.slug = $2 AND w.deleted_at IS NULL",
        tenant,
        workspace,
    )
    return None if row is None else WorkspaceRecord(**dict(row))


async def ping(pool: asyncpg.Pool) -> None:
    await pool.fetchval("SELECT 1")
