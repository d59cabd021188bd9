"""One asyncpg pool per workspace, logged in as the workspace's executor login, opened on first use.

The executor login holds no privilege of its own (NOINHERIT) and may only become the workspace's request roles,
so a pool cannot reach another workspace's schema whatever a request asks. Pools are bounded: beyond `max_pools`
the least recently used one is closed (gracefully: requests holding its connections finish first).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

import asyncpg

from executor.data.credentials import VaultCredentials
from executor.data.session import keep_session
from falcone.naming import WorkspaceNames

# Credentials stored in Vault changed (rotation) or were never valid: read them again once.
_STALE_CREDENTIALS = (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError)


class WorkspacePools:
    def __init__(self, credentials: VaultCredentials, host: str, port: int, pool_size: int, max_pools: int) -> None:
        self.credentials, self.host, self.port = credentials, host, port
        self.pool_size, self.max_pools = pool_size, max_pools
        self._pools: OrderedDict[str, asyncpg.Pool] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self._closing: set[asyncio.Task[None]] = set()

    async def get(self, names: WorkspaceNames) -> asyncpg.Pool:
        key = names.schema
        pool = self._pools.get(key)
        if pool is not None:
            self._pools.move_to_end(key)
            return pool
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = await self._open(names)
                self._pools[key] = pool
                self._evict()
        return pool

    def discard(self, names: WorkspaceNames) -> None:
        pool = self._pools.pop(names.schema, None)
        if pool is not None:
            self._close_later(pool)

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

    def _evict(self) -> None:
        while len(self._pools) > self.max_pools:
            _, pool = self._pools.popitem(last=False)
            self._close_later(pool)

    def _close_later(self, pool: asyncpg.Pool) -> None:
        task = asyncio.get_running_loop().create_task(pool.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def open_pools(self) -> list[asyncpg.Pool]:
        return list(self._pools.values())

    async def close(self) -> None:
        pools, self._pools = list(self._pools.values()), OrderedDict()
        await asyncio.gather(*(pool.close() for pool in pools), *self._closing, return_exceptions=True)
