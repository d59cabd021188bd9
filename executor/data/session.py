"""One transaction per request, under the caller's role, with its tenant and workspace set in the same round trip
as the role (PostgREST's pattern): `set_config(..., true)` is transaction-local, so nothing outlives the request
and RLS filters every statement of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
import asyncpg.pool

from executor.identity.schemas import Identity

if TYPE_CHECKING:
    Connection: TypeAlias = asyncpg.pool.PoolConnectionProxy[asyncpg.Record]
else:
    Connection = Any

CONTEXT = (
    "SELECT set_config('role', $1, true), set_config('app.tenant_id', $2, true), "
    "set_config('app.workspace_id', $3, true), set_config('statement_timeout', $4, true)"
)


@asynccontextmanager
async def transaction(
    pool: asyncpg.Pool, identity: Identity, *, readonly: bool, statement_timeout_ms: int
) -> AsyncIterator[Connection]:
    async with pool.acquire() as connection, connection.transaction(readonly=readonly):
        await connection.execute(CONTEXT, identity.role, identity.tenant, identity.workspace, str(statement_timeout_ms))
        yield connection


async def keep_session(_connection: asyncpg.Connection) -> None:
    """The pool's reset: asyncpg rolls back an unfinished transaction before calling it, and every setting we
    make is transaction-local, so the default `RESET ALL; UNLISTEN *; …` round trip per request buys nothing."""
