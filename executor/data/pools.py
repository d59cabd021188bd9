"""One asyncpg pool per workspace, logged in as the workspace's executor login, opened on first use.

The executor login holds no privilege of its own (NOINHERIT) and may only become the workspace's request roles,
so a pool cannot reach another workspace's schema whatever a request asks. Pools are bounded: beyond `max_pools`
the least recently used one is closed (gracefully: requests holding its connections finish first).
"""

from __future__ import annotations

import asyncpg

from executor.cache import ClientCache
from executor.data.credentials import VaultCredentials
from executor.data.session import keep_session
from falcone.naming import WorkspaceNames

# Credentials stored in Vault changed (rotation) or were never valid: read them again once.
_STALE_CREDENTIALS = (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError)


class WorkspacePools:
    def __init__(self, credentials: VaultCredentials, host: str, port: int, pool_size: int, max_pools: int) -> None:
        self.credentials, self.host, self.port = credentials, host, port
        self.pool_size = pool_size
        self._pools: ClientCache[asyncpg.Pool] = ClientCache(max_pools, _close)

    async def get(self, names: WorkspaceNames) -> asyncpg.Pool:
        return await self._pools.get(names.schema, lambda: self._open(names))

    def discard(self, names: WorkspaceNames) -> None:
        self._pools.discard(names.schema)

    async def _open(self, names: WorkspaceNames) -> asyncpg.Pool:
        for attempt in (1, 2):
            credentials = await self.credentials.database(names)
            try:
                pool = await asyncpg.create_pool(
                    host=self.host,
                    port=self.port,
                    user=credentials.user,
                    password=credentials.password,
                    database=credentials.database,
                    min_size=1,
                    max_size=self.pool_size,
                    max_inactive_connection_lifetime=120,
                    server_settings={"application_name": "falcone-executor"},
                    reset=keep_session,
                )
            except _STALE_CREDENTIALS:
                if attempt == 2:
                    raise
                continue
            assert pool is not None
            return pool
        raise AssertionError("unreachable")

    def open_pools(self) -> list[asyncpg.Pool]:
        return self._pools.entries()

    async def close(self) -> None:
        await self._pools.close()


async def _close(pool: asyncpg.Pool) -> None:
    await pool.close()
