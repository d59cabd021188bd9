"""The metadata database from a request's point of view: one pool per process, one transaction per request.

`Transaction` is the dependency every endpoint that touches metadata uses; the transaction commits when the
handler returns and rolls back when it raises, so a refused request leaves nothing behind.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

import asyncpg
import asyncpg.pool
from fastapi import Depends, Request

# What a pooled connection is; handlers use it like an asyncpg.Connection (the stubs' generic is not subscriptable
# at runtime, and FastAPI evaluates the annotation).
if TYPE_CHECKING:
    Connection: TypeAlias = asyncpg.pool.PoolConnectionProxy[asyncpg.Record]
else:
    Connection = asyncpg.pool.PoolConnectionProxy


async def _init_connection(connection: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await connection.set_type_codec(type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=max_size, init=_init_connection)
    assert pool is not None
    return pool


def pool(request: Request) -> asyncpg.Pool:
    return request.app.state.pool  # type: ignore[no-any-return]


async def transaction(request: Request) -> AsyncIterator[Connection]:
    async with pool(request).acquire() as connection, connection.transaction():
        yield connection


# scope="function": the transaction commits before the response is sent, so what a 2xx announces exists.
Transaction = Annotated[Connection, Depends(transaction, scope="function")]


def record(row: asyncpg.Record | None) -> dict[str, Any] | None:
    return dict(row) if row is not None else None
