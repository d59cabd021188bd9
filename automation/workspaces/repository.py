"""All SQL of workspaces."""

from __future__ import annotations

from typing import Any

from automation.db import Connection


async def insert(
    connection: Connection,
    *,
    tenant: str,
    slug: str,
    id_: str,
    display_name: str,
    settings: dict[str, Any],
    conditions: dict[str, Any],
) -> dict[str, Any]:
    row = await connection.fetchrow(
        """
        INSERT INTO workspaces (tenant, slug, id, display_name, state, settings, conditions)
        VALUES ($1, $2, $3, $4, 'provisioning', $5, $6)
        ON CONFLICT (tenant, slug) DO NOTHING
        RETURNING *
        """,
        tenant,
        slug,
        id_,
        display_name,
        settings,
        conditions,
    )
    return dict(row) if row else {}


async def get(connection: Connection, tenant: str, slug: str) -> dict[str, Any] | None:
    row = await connection.fetchrow("SELECT * FROM workspaces WHERE tenant = $1 AND slug = $2", tenant, slug)
    return dict(row) if row else None


async def count(connection: Connection, tenant: str) -> int:
    """Workspaces that hold (or will hold) resources: everything not being deleted."""
    value = await connection.fetchval(
        "SELECT count(*) FROM workspaces WHERE tenant = $1 AND state <> 'deleting'", tenant
    )
    return int(value or 0)


async def of_tenant(connection: Connection, tenant: str) -> list[dict[str, Any]]:
    rows = await connection.fetch("SELECT * FROM workspaces WHERE tenant = $1 ORDER BY slug", tenant)
    return [dict(row) for row in rows]


async def page(
    connection: Connection,
    *,
    tenant: str,
    visible: frozenset[str] | None,
    state: str | None,
    after: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    rows = await connection.fetch(
        """
        SELECT * FROM workspaces
        WHERE tenant = $1 AND ($2::text[] IS NULL OR slug = ANY($2))
          AND ($3::text IS NULL OR state = $3) AND ($4::text IS NULL OR slug > $4)
        ORDER BY slug LIMIT $5
        """,
        tenant,
        sorted(visible) if visible is not None else None,
        state,
        after,
        limit,
    )
    return [dict(row) for row in rows]


async def update_spec(connection: Connection, tenant: str, slug: str, changes: dict[str, Any]) -> dict[str, Any]:
    row = await connection.fetchrow(
        """
        UPDATE workspaces SET display_name = coalesce($3, display_name), settings = settings || $4,
            generation = generation + 1, updated_at = now(), conditions = conditions || $5
        WHERE tenant = $1 AND slug = $2 RETURNING *
        """,
        tenant,
        slug,
        changes.get("display_name"),
        changes.get("settings", {}),
        changes.get("conditions", {}),
    )
    assert row is not None
    return dict(row)


async def touch_generation(connection: Connection, tenant: str, conditions: dict[str, Any]) -> None:
    """The tenant's plan changed: every workspace's desired state changed with it."""
    await connection.execute(
        """
        UPDATE workspaces SET generation = generation + 1, conditions = conditions || $2, updated_at = now()
        WHERE tenant = $1 AND state <> 'deleting'
        """,
        tenant,
        conditions,
    )


async def set_state(connection: Connection, tenant: str, slug: str, state: str) -> None:
    await connection.execute(
        "UPDATE workspaces SET state = $3, updated_at = now() WHERE tenant = $1 AND slug = $2", tenant, slug, state
    )


async def applied(
    connection: Connection,
    tenant: str,
    slug: str,
    *,
    generation: int,
    outputs: dict[str, Any],
    conditions: dict[str, Any],
) -> None:
    await connection.execute(
        """
        UPDATE workspaces SET outputs = $4, observed_generation = greatest(observed_generation, $3),
            state = CASE WHEN state IN ('provisioning', 'failed', 'updating') THEN 'active' ELSE state END,
            conditions = conditions || $5, updated_at = now()
        WHERE tenant = $1 AND slug = $2
        """,
        tenant,
        slug,
        generation,
        outputs,
        conditions,
    )


async def merge_conditions(
    connection: Connection, tenant: str, slug: str, conditions: dict[str, Any], state: str | None = None
) -> None:
    await connection.execute(
        """
        UPDATE workspaces SET conditions = conditions || $3, state = coalesce($4, state), updated_at = now()
        WHERE tenant = $1 AND slug = $2
        """,
        tenant,
        slug,
        conditions,
        state,
    )


async def delete(connection: Connection, tenant: str, slug: str) -> None:
    """The workspace and what only it owned in the metadata (its API keys and applications)."""
    await connection.execute("DELETE FROM api_keys WHERE tenant = $1 AND workspace = $2", tenant, slug)
    await connection.execute("DELETE FROM applications WHERE tenant = $1 AND workspace = $2", tenant, slug)
    await connection.execute("DELETE FROM workspaces WHERE tenant = $1 AND slug = $2", tenant, slug)


async def application_names(connection: Connection, tenant: str, slug: str) -> dict[str, list[str]]:
    rows = await connection.fetch(
        "SELECT name, kind FROM applications WHERE tenant = $1 AND workspace = $2 ORDER BY name", tenant, slug
    )
    names: dict[str, list[str]] = {"application": [], "service_account": []}
    for row in rows:
        names[row["kind"]].append(row["name"])
    return names
