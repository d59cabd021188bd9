"""All SQL of tenants."""

from __future__ import annotations

from typing import Any

from automation.db import Connection


async def insert(
    connection: Connection,
    *,
    slug: str,
    id_: str,
    display_name: str,
    plan: str,
    iam_topology: str,
    conditions: dict[str, Any],
) -> dict[str, Any]:
    row = await connection.fetchrow(
        """
        INSERT INTO tenants (slug, id, display_name, plan, iam_topology, state, conditions)
        VALUES ($1, $2, $3, $4, $5, 'provisioning', $6)
        ON CONFLICT (slug) DO NOTHING
        RETURNING *
        """,
        slug,
        id_,
        display_name,
        plan,
        iam_topology,
        conditions,
    )
    return dict(row) if row else {}


async def get(connection: Connection, slug: str, *, for_update: bool = False) -> dict[str, Any] | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await connection.fetchrow(f"SELECT * FROM tenants WHERE slug = $1{lock}", slug)  # noqa: S608 (constant)
    return dict(row) if row else None


async def page(
    connection: Connection,
    *,
    visible: frozenset[str] | None,
    state: str | None,
    plan: str | None,
    search: str | None,
    after: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    rows = await connection.fetch(
        """
        SELECT * FROM tenants
        WHERE ($1::text[] IS NULL OR slug = ANY($1))
          AND ($2::text IS NULL OR state = $2)
          AND ($3::text IS NULL OR plan = $3)
          AND ($4::text IS NULL OR slug LIKE $4 || '%' OR display_name ILIKE '%' || $4 || '%')
          AND ($5::text IS NULL OR slug > $5)
        ORDER BY slug
        LIMIT $6
        """,
        sorted(visible) if visible is not None else None,
        state,
        plan,
        search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") if search else None,
        after,
        limit,
    )
    return [dict(row) for row in rows]


async def update_spec(connection: Connection, slug: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Change desired state (display name, plan): a new generation that an apply will observe."""
    row = await connection.fetchrow(
        """
        UPDATE tenants SET display_name = coalesce($2, display_name), plan = coalesce($3, plan),
            generation = generation + 1, updated_at = now(), conditions = conditions || $4
        WHERE slug = $1 RETURNING *
        """,
        slug,
        changes.get("display_name"),
        changes.get("plan"),
        changes.get("conditions", {}),
    )
    assert row is not None
    return dict(row)


async def set_state(connection: Connection, slug: str, state: str) -> None:
    await connection.execute("UPDATE tenants SET state = $2, updated_at = now() WHERE slug = $1", slug, state)


async def set_quota_overrides(connection: Connection, slug: str, overrides: dict[str, int]) -> dict[str, Any]:
    row = await connection.fetchrow(
        "UPDATE tenants SET quota_overrides = $2, updated_at = now() WHERE slug = $1 RETURNING *", slug, overrides
    )
    assert row is not None
    return dict(row)


async def applied(
    connection: Connection, slug: str, *, generation: int, outputs: dict[str, Any], conditions: dict[str, Any]
) -> None:
    await connection.execute(
        """
        UPDATE tenants SET outputs = $3, observed_generation = greatest(observed_generation, $2),
            state = CASE WHEN state IN ('provisioning', 'failed', 'updating') THEN 'active' ELSE state END,
            conditions = conditions || $4, updated_at = now()
        WHERE slug = $1
        """,
        slug,
        generation,
        outputs,
        conditions,
    )


async def merge_conditions(
    connection: Connection, slug: str, conditions: dict[str, Any], state: str | None = None
) -> None:
    await connection.execute(
        """
        UPDATE tenants SET conditions = conditions || $2, state = coalesce($3, state), updated_at = now()
        WHERE slug = $1
        """,
        slug,
        conditions,
        state,
    )


async def delete(connection: Connection, slug: str) -> None:
    await connection.execute("DELETE FROM tenants WHERE slug = $1", slug)


async def every(connection: Connection) -> list[dict[str, Any]]:
    return [dict(row) for row in await connection.fetch("SELECT * FROM tenants ORDER BY slug")]
