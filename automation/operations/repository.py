"""All SQL of durable operations: the queue, its per-stack serialization, events and recovery."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from automation.db import Connection

# An operation may start when nothing earlier is unfinished on its stack, and, for tenant-level stacks, nothing
# earlier is unfinished in the whole tenant (a workspace waits for its tenant's create; a tenant's delete waits for
# its workspaces'). Different stacks otherwise run in parallel.
_CLAIM = """
    UPDATE operations
    SET status = 'running', started_at = now(), heartbeat_at = now(), attempts = attempts + 1, worker = $1
    WHERE id = (
    SELECT o.id FROM operations o
    WHERE o.status = 'queued'
      AND NOT EXISTS (
        SELECT 1 FROM operations e
        WHERE e.status IN ('queued', 'running') AND e.id < o.id
          AND (e.stack = o.stack
               OR (e.tenant = o.tenant AND (e.workspace IS NULL OR o.workspace IS NULL))))
      AND NOT EXISTS (SELECT 1 FROM operations r WHERE r.status = 'running' AND r.stack = o.stack)
    ORDER BY o.id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
    )
    RETURNING *
"""


async def insert(
    connection: Connection,
    *,
    id_: str,
    kind: str,
    stack: str,
    tenant: str | None,
    workspace: str | None,
    requested_by: dict[str, Any],
    correlation_id: str,
    params: dict[str, Any],
) -> dict[str, Any]:
    row = await connection.fetchrow(
        """
        INSERT INTO operations (id, kind, stack, tenant, workspace, status, requested_by, correlation_id, params)
        VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7, $8)
        RETURNING *
        """,
        id_,
        kind,
        stack,
        tenant,
        workspace,
        requested_by,
        correlation_id,
        params,
    )
    assert row is not None
    return dict(row)


async def get(connection: Connection, id_: str) -> dict[str, Any] | None:
    row = await connection.fetchrow("SELECT * FROM operations WHERE id = $1", id_)
    return dict(row) if row else None


async def page(
    connection: Connection,
    *,
    tenants: frozenset[str] | None,
    workspaces: frozenset[str] | None,
    tenant: str | None,
    workspace: str | None,
    status: str | None,
    kind: str | None,
    before: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    rows = await connection.fetch(
        """
        SELECT * FROM operations
        WHERE ($1::text[] IS NULL OR tenant = ANY($1))
          AND ($2::text IS NULL OR tenant = $2)
          AND ($3::text IS NULL OR workspace = $3)
          AND ($4::text IS NULL OR status = $4)
          AND ($5::text IS NULL OR kind = $5)
          AND ($6::text IS NULL OR id < $6)
          AND ($8::text[] IS NULL OR workspace = ANY($8))
        ORDER BY id DESC
        LIMIT $7
        """,
        sorted(tenants) if tenants is not None else None,
        tenant,
        workspace,
        status,
        kind,
        before,
        limit,
        sorted(workspaces) if workspaces is not None else None,
    )
    return [dict(row) for row in rows]


async def claim(connection: Connection, worker: str) -> dict[str, Any] | None:
    row = await connection.fetchrow(_CLAIM, worker)
    return dict(row) if row else None


async def heartbeat(connection: Connection, ids: list[str]) -> None:
    await connection.execute("UPDATE operations SET heartbeat_at = now() WHERE id = ANY($1)", ids)


async def finish(
    connection: Connection, id_: str, *, status: str, outputs: dict[str, Any] | None, error: str | None
) -> dict[str, Any]:
    row = await connection.fetchrow(
        """
        UPDATE operations SET status = $2, outputs = $3, error = $4, finished_at = now()
        WHERE id = $1 RETURNING *
        """,
        id_,
        status,
        outputs,
        error,
    )
    assert row is not None
    return dict(row)


async def requeue(connection: Connection, id_: str) -> None:
    await connection.execute("UPDATE operations SET status = 'queued', worker = NULL WHERE id = $1", id_)


async def interrupted(connection: Connection, worker: str, stale_before: datetime) -> list[dict[str, Any]]:
    """Running operations whose worker is gone: this worker's own (it restarted), or any whose heartbeat stopped."""
    rows = await connection.fetch(
        """
        SELECT * FROM operations
        WHERE status = 'running' AND (worker = $1 OR heartbeat_at < $2)
        ORDER BY id
        FOR UPDATE SKIP LOCKED
        """,
        worker,
        stale_before,
    )
    return [dict(row) for row in rows]


async def unfinished_in_tenant(connection: Connection, tenant: str) -> int:
    count = await connection.fetchval(
        "SELECT count(*) FROM operations WHERE tenant = $1 AND status IN ('queued', 'running')", tenant
    )
    return int(count or 0)


async def append_events(connection: Connection, id_: str, events: list[tuple[str, dict[str, Any]]]) -> None:
    await connection.executemany(
        """
        INSERT INTO operation_events (operation_id, sequence, type, payload)
        VALUES ($1, (SELECT coalesce(max(sequence), 0) + 1 FROM operation_events WHERE operation_id = $1), $2, $3)
        """,
        [(id_, type_, payload) for type_, payload in events],
    )


async def events_after(connection: Connection, id_: str, sequence: int, limit: int = 500) -> list[dict[str, Any]]:
    rows = await connection.fetch(
        """
        SELECT sequence, at, type, payload FROM operation_events
        WHERE operation_id = $1 AND sequence > $2 ORDER BY sequence LIMIT $3
        """,
        id_,
        sequence,
        limit,
    )
    return [dict(row) for row in rows]
