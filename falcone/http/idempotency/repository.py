"""All SQL of idempotency records. A record is claimed (no status yet) before the request runs and completed with
the response after; `created_at` of the claim identifies it, so a late completion never touches a newer claim."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from automation.db import Connection


async def claim(
    connection: Connection,
    *,
    subject: str,
    key: str,
    method: str,
    path: str,
    body_hash: str,
    ttl: timedelta,
    lease: timedelta,
) -> datetime | None:
    """Claim the key for this request; the claim's `created_at`, or None when a live record holds the key."""
    # An expired record, or a claim whose request died without answering, frees the key.
    await connection.execute(
        """
        DELETE FROM idempotency_records
        WHERE subject = $1 AND key = $2
          AND (created_at < now() - $3::interval OR (status_code IS NULL AND created_at < now() - $4::interval))
        """,
        subject,
        key,
        ttl,
        lease,
    )
    claimed: datetime | None = await connection.fetchval(
        """
        INSERT INTO idempotency_records (subject, key, method, path, body_hash) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (subject, key) DO NOTHING
        RETURNING created_at
        """,
        subject,
        key,
        method,
        path,
        body_hash,
    )
    return claimed


async def get(connection: Connection, subject: str, key: str) -> dict[str, Any] | None:
    row = await connection.fetchrow(
        """
        SELECT method, path, body_hash, status_code, response_headers, response_body, created_at
        FROM idempotency_records WHERE subject = $1 AND key = $2
        """,
        subject,
        key,
    )
    return dict(row) if row is not None else None


async def complete(
    connection: Connection,
    *,
    subject: str,
    key: str,
    claimed_at: datetime,
    status_code: int,
    headers: list[list[str]],
    body: bytes,
) -> None:
    await connection.execute(
        """
        UPDATE idempotency_records SET status_code = $4, response_headers = $5, response_body = $6
        WHERE subject = $1 AND key = $2 AND created_at = $3 AND status_code IS NULL
        """,
        subject,
        key,
        claimed_at,
        status_code,
        headers,
        body,
    )


async def release(connection: Connection, *, subject: str, key: str, claimed_at: datetime) -> None:
    await connection.execute(
        "DELETE FROM idempotency_records WHERE subject = $1 AND key = $2 AND created_at = $3 AND status_code IS NULL",
        subject,
        key,
        claimed_at,
    )


async def purge(connection: Connection, ttl: timedelta) -> int:
    deleted: str = await connection.execute(
        "DELETE FROM idempotency_records WHERE created_at < now() - $1::interval", ttl
    )
    return int(deleted.split()[-1])
