"""All SQL of idempotency records. A record is claimed (no status yet) before the request runs and completed with
the response after; `created_at` of the claim identifies it, so a late completion never touches a newer claim."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
import asyncpg.pool

# One table per service: the automation service's principals and the executor's credentials never share records
# (and the executor's login is granted its table only).
TABLES = ("idempotency_records", "data_idempotency_records")

if TYPE_CHECKING:
    Connection: TypeAlias = asyncpg.pool.PoolConnectionProxy[asyncpg.Record]
else:
    Connection = Any


class Records:
    """The records of one table (`TABLES`); its name is a constant of ours, never input."""

    def __init__(self, table: str) -> None:
        if table not in TABLES:
            raise ValueError(f"unknown idempotency table {table!r}")
        self.table = table

    async def claim(
        self,
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
            f"""
            DELETE FROM {self.table}
            WHERE subject = $1 AND key = $2
              AND (created_at < now() - $3::interval OR (status_code IS NULL AND created_at < now() - $4::interval))
            """,  # noqa: S608 (a constant table name)
            subject,
            key,
            ttl,
            lease,
        )
        claimed: datetime | None = await connection.fetchval(
            f"""
            INSERT INTO {self.table} (subject, key, method, path, body_hash) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (subject, key) DO NOTHING
            RETURNING created_at
            """,  # noqa: S608 (a constant table name)
            subject,
            key,
            method,
            path,
            body_hash,
        )
        return claimed

    async def get(self, connection: Connection, subject: str, key: str) -> dict[str, Any] | None:
        row = await connection.fetchrow(
            f"""
            SELECT method, path, body_hash, status_code, response_headers::text AS headers_json, response_body,
                   created_at
            FROM {self.table} WHERE subject = $1 AND key = $2
            """,  # noqa: S608 (a constant table name)
            subject,
            key,
        )
        if row is None:
            return None
        # JSON as text both ways: the services' pools differ in their jsonb codecs (the executor's has none).
        record = dict(row)
        headers = record.pop("headers_json")
        record["response_headers"] = json.loads(headers) if headers is not None else None
        return record

    async def complete(
        self,
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
            f"""
            UPDATE {self.table} SET status_code = $4, response_headers = $5::text::jsonb, response_body = $6
            WHERE subject = $1 AND key = $2 AND created_at = $3 AND status_code IS NULL
            """,  # noqa: S608 (a constant table name)
            subject,
            key,
            claimed_at,
            status_code,
            json.dumps(headers),
            body,
        )

    async def release(self, connection: Connection, *, subject: str, key: str, claimed_at: datetime) -> None:
        await connection.execute(
            f"DELETE FROM {self.table} WHERE subject = $1 AND key = $2 AND created_at = $3 AND status_code IS NULL",  # noqa: S608
            subject,
            key,
            claimed_at,
        )

    async def purge(self, connection: Connection, ttl: timedelta) -> int:
        deleted: str = await connection.execute(
            f"DELETE FROM {self.table} WHERE created_at < now() - $1::interval",  # noqa: S608
            ttl,
        )
        return int(deleted.split()[-1])
