"""All SQL of API keys. The executor reads the same rows by `secret_hash` (as the `keys` login): a key works
while `revoked_at` and `expires_at` are unset or in the future."""

from __future__ import annotations

from typing import Any

from automation.db import Connection


async def insert(
    connection: Connection,
    *,
    id_: str,
    tenant: str,
    workspace: str,
    kind: str,
    name: str,
    prefix: str,
    secret_hash: bytes,
    db_role: str,
    created_by: str,
    expires_in_days: int | None,
) -> dict[str, Any]:
    row = await connection.fetchrow(
        """
        INSERT INTO api_keys (id, tenant, workspace, kind, name, prefix, secret_hash, db_role, created_by, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now() + make_interval(days => $10::int))
        RETURNING *
        """,
        id_,
        tenant,
        workspace,
        kind,
        name,
        prefix,
        secret_hash,
        db_role,
        created_by,
        expires_in_days,
    )
    assert row is not None
    return dict(row)


async def get(
    connection: Connection, tenant: str, workspace: str, id_: str, *, for_update: bool = False
) -> dict[str, Any] | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await connection.fetchrow(
        f"SELECT * FROM api_keys WHERE tenant = $1 AND workspace = $2 AND id = $3{lock}",  # noqa: S608 (constant)
        tenant,
        workspace,
        id_,
    )
    return dict(row) if row else None


async def page(
    connection: Connection,
    *,
    tenant: str,
    workspace: str,
    kind: str | None,
    status: str | None,
    after: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Oldest first (ids are uuid7: they sort by creation)."""
    rows = await connection.fetch(
        """
        SELECT * FROM api_keys
        WHERE tenant = $1 AND workspace = $2 AND ($3::text IS NULL OR kind = $3) AND ($5::text IS NULL OR id > $5)
          AND CASE $4::text
                WHEN 'revoked' THEN revoked_at <= now()
                WHEN 'expired' THEN (revoked_at IS NULL OR revoked_at > now()) AND expires_at <= now()
                WHEN 'active' THEN (revoked_at IS NULL OR revoked_at > now())
                                   AND (expires_at IS NULL OR expires_at > now())
                ELSE true
              END
        ORDER BY id LIMIT $6
        """,
        tenant,
        workspace,
        kind,
        status,
        after,
        limit,
    )
    return [dict(row) for row in rows]


async def revoke(connection: Connection, id_: str) -> dict[str, Any]:
    row = await connection.fetchrow(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING *", id_
    )
    assert row is not None
    return dict(row)


async def replace(connection: Connection, id_: str, *, replaced_by: str, grace_seconds: int) -> None:
    """The old key of a rotation works for the grace period at most (never longer than it would have)."""
    await connection.execute(
        """
        UPDATE api_keys SET replaced_by = $2,
            expires_at = least(coalesce(expires_at, 'infinity'), now() + make_interval(secs => $3::int))
        WHERE id = $1
        """,
        id_,
        replaced_by,
        grace_seconds,
    )
