"""What the gateway reads from the metadata database: which realm each tenant's tokens come from."""

from __future__ import annotations

import psycopg


def tenant_realms(dsn: str) -> list[tuple[str, str]]:
    """(tenant, realm) of every registered tenant whose stack has named its realm."""
    with psycopg.connect(dsn, connect_timeout=5, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT slug, outputs->>'realm' FROM tenants "
            "WHERE deleted_at IS NULL AND outputs->>'realm' IS NOT NULL ORDER BY slug"
        ).fetchall()
    return [(str(slug), str(realm)) for slug, realm in rows]
