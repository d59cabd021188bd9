"""All SQL of applications and service accounts (rows of `applications`, told apart by `kind`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from automation.db import Connection


async def lock_workspace(connection: Connection, tenant: str, workspace: str) -> dict[str, Any] | None:
    """The workspace row, locked: concurrent creates in one workspace count each other (quotas hold)."""
    row = await connection.fetchrow(
        "SELECT * FROM workspaces WHERE tenant = $1 AND slug = $2 FOR UPDATE", tenant, workspace
    )
    return dict(row) if row else None


async def count(connection: Connection, tenant: str, workspace: str, kind: str) -> int:
    value = await connection.fetchval(
        "SELECT count(*) FROM applications WHERE tenant = $1 AND workspace = $2 AND kind = $3", tenant, workspace, kind
    )
    return int(value or 0)


async def get(connection: Connection, tenant: str, workspace: str, name: str) -> dict[str, Any] | None:
    """By name, whatever its kind: names are unique in a workspace across both kinds."""
    row = await connection.fetchrow(
        "SELECT * FROM applications WHERE tenant = $1 AND workspace = $2 AND name = $3", tenant, workspace, name
    )
    return dict(row) if row else None


async def by_client_id(connection: Connection, tenant: str, client_id: str) -> dict[str, Any] | None:
    row = await connection.fetchrow(
        "SELECT * FROM applications WHERE tenant = $1 AND client_id = $2", tenant, client_id
    )
    return dict(row) if row else None


async def insert(
    connection: Connection,
    *,
    id_: str,
    tenant: str,
    workspace: str,
    name: str,
    kind: str,
    client_id: str,
    generation: int,
) -> dict[str, Any]:
    """The new row, or {} when the name or the client id is taken (a concurrent create won)."""
    row = await connection.fetchrow(
        """
        INSERT INTO applications (id, tenant, workspace, name, kind, client_id, generation)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT DO NOTHING
        RETURNING *
        """,
        id_,
        tenant,
        workspace,
        name,
        kind,
        client_id,
        generation,
    )
    return dict(row) if row else {}


async def page(
    connection: Connection, *, tenant: str, workspace: str, kind: str, after: str | None, limit: int
) -> list[dict[str, Any]]:
    rows = await connection.fetch(
        """
        SELECT * FROM applications
        WHERE tenant = $1 AND workspace = $2 AND kind = $3 AND ($4::text IS NULL OR name > $4)
        ORDER BY name LIMIT $5
        """,
        tenant,
        workspace,
        kind,
        after,
        limit,
    )
    return [dict(row) for row in rows]


async def delete(connection: Connection, id_: str) -> None:
    await connection.execute("DELETE FROM applications WHERE id = $1", id_)


async def mark_revealed(connection: Connection, id_: str) -> datetime | None:
    """Claim the one showing of a service account's credentials; None if it was shown already (or concurrently:
    the row lock makes the second claim wait for the first transaction and then find it taken)."""
    value = await connection.fetchval(
        """
        UPDATE applications SET credentials_revealed_at = now()
        WHERE id = $1 AND credentials_revealed_at IS NULL
        RETURNING credentials_revealed_at
        """,
        id_,
    )
    return value if isinstance(value, datetime) else None


async def unfinished_operations(connection: Connection, stack: str) -> list[str]:
    """Operations of the stack that are queued or running, oldest first."""
    rows = await connection.fetch(
        "SELECT id FROM operations WHERE stack = $1 AND status IN ('queued', 'running') ORDER BY created_at", stack
    )
    return [row["id"] for row in rows]
