"""All SQL of the audit trail: the outbox rows the lifecycle writes, the query, and the publisher's bookkeeping."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from automation.db import Connection

# Wakes the publisher of every service instance when a transaction that recorded events commits (NOTIFY is
# delivered at commit, and never for a rolled back transaction).
CHANNEL = "falcone_audit_outbox"
# One publisher at a time over a metadata database keeps the topic in the order of the rows.
_PUBLISHER_LOCK = 0x46414C43_41554454  # "FALCAUDT"

_COLUMNS = "event_id, correlation_id, at, actor, resource_type, resource_id, tenant_id, action, outcome, metadata"


async def insert(
    connection: Connection,
    *,
    event_id: str,
    correlation_id: str,
    actor: dict[str, Any],
    resource_type: str,
    resource_id: str,
    tenant_id: str | None,
    action: str,
    outcome: str,
    metadata: dict[str, Any],
) -> None:
    # clock_timestamp, not now(): events recorded in one transaction keep the order they happened in.
    await connection.execute(
        """
        INSERT INTO audit_events
            (event_id, correlation_id, at, actor, resource_type, resource_id, tenant_id, action, outcome, metadata)
        VALUES ($1, $2, clock_timestamp(), $3, $4, $5, $6, $7, $8, $9)
        """,
        event_id,
        correlation_id,
        actor,
        resource_type,
        resource_id,
        tenant_id,
        action,
        outcome,
        metadata,
    )
    await connection.execute("SELECT pg_notify($1, '')", CHANNEL)


@dataclass(frozen=True)
class Filters:
    tenants: frozenset[str] | None  # None: every tenant and the platform's own events
    action: str | None = None
    outcome: str | None = None
    resource_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def query(
    connection: Connection, filters: Filters, *, after: tuple[datetime, str] | None, limit: int
) -> list[dict[str, Any]]:
    """Newest first; `after` is the (at, event_id) of the last row of the previous page."""
    conditions: list[str] = []
    params: list[Any] = []

    def param(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    if filters.tenants is not None:
        conditions.append(f"tenant_id = ANY({param(sorted(filters.tenants))}::text[])")
    for column in ("action", "outcome", "resource_type"):
        value = getattr(filters, column)
        if value is not None:
            conditions.append(f"{column} = {param(value)}")
    if filters.since is not None:
        conditions.append(f"at >= {param(filters.since)}")
    if filters.until is not None:
        conditions.append(f"at < {param(filters.until)}")
    if after is not None:
        conditions.append(f"(at, event_id) < ({param(after[0])}, {param(after[1])})")
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    rows = await connection.fetch(
        f"SELECT {_COLUMNS} FROM audit_events {where} ORDER BY at DESC, event_id DESC LIMIT {param(limit)}",  # noqa: S608 (only placeholders are interpolated)
        *params,
    )
    return [dict(row) for row in rows]


async def get(connection: Connection, event_id: str) -> dict[str, Any] | None:
    row = await connection.fetchrow(
        f"SELECT {_COLUMNS}, published_at FROM audit_events WHERE event_id = $1",  # noqa: S608
        event_id,
    )
    return dict(row) if row is not None else None


async def lock_publisher(connection: Connection) -> bool:
    """Whether this transaction is now the only publisher (another instance may hold the lock)."""
    return bool(await connection.fetchval("SELECT pg_try_advisory_xact_lock($1)", _PUBLISHER_LOCK))


async def unpublished(connection: Connection, limit: int) -> list[dict[str, Any]]:
    rows = await connection.fetch(
        f"SELECT {_COLUMNS} FROM audit_events WHERE published_at IS NULL ORDER BY at, event_id LIMIT $1",  # noqa: S608
        limit,
    )
    return [dict(row) for row in rows]


async def mark_published(connection: Connection, event_ids: list[str]) -> None:
    await connection.execute(
        "UPDATE audit_events SET published_at = now() WHERE event_id = ANY($1::text[]) AND published_at IS NULL",
        event_ids,
    )
