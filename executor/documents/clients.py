"""One `AsyncMongoClient` per workspace, logged in as the workspace's own Mongo user, opened on first use.

That user has readWrite on the workspace's database and nothing else, so a client cannot reach another
workspace's data whatever a request asks. Clients are bounded like the PostgreSQL pools (executor/data/pools.py):
beyond `max_clients` the least recently used one is closed.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from executor.data.credentials import SecretsUnavailableError, VaultCredentials
from falcone.naming import WorkspaceNames

Document = dict[str, Any]
_AUTHENTICATION_FAILED = 18


class WorkspaceClients:
    def __init__(
        self, credentials: VaultCredentials, url: str, pool_size: int, max_clients: int, timeout_ms: int
    ) -> None:
        self.credentials, self.url = credentials, url
        self.pool_size, self.max_clients, self.timeout_ms = pool_size, max_clients, timeout_ms
        self._clients: OrderedDict[str, AsyncMongoClient[Document]] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self._closing: set[asyncio.Task[None]] = set()

    async def database(self, names: WorkspaceNames) -> AsyncDatabase[Document]:
        """The workspace's database through its own client. Raises NoCapabilityError (the plan has no Mongo),
        SecretsUnavailableError, or a pymongo error if the server cannot be reached."""
        key = names.mongo_database
        client = self._clients.get(key)
        if client is None:
            async with self._locks.setdefault(key, asyncio.Lock()):
                client = self._clients.get(key)
                if client is None:
                    client = await self._open(names)
                    self._clients[key] = client
                    self._evict()
        self._clients.move_to_end(key)
        return client[key]

    def discard(self, names: WorkspaceNames) -> None:
        client = self._clients.pop(names.mongo_database, None)
        if client is not None:
            self._close_later(client)

    async def _open(self, names: WorkspaceNames) -> AsyncMongoClient[Document]:
        for attempt in (1, 2):
            secret = await self.credentials.secret(names, "documents")
            # The secret must describe this very workspace: a mix-up in the store must not hand out another database.
            if secret.get("database") != names.mongo_database or not secret.get("user"):
                raise SecretsUnavailableError("the workspace's stored Mongo credentials name another database")
            client: AsyncMongoClient[Document] = AsyncMongoClient(
                self.url,
                username=secret["user"],
                password=secret.get("password", ""),
                # The workspace stack creates the user in the workspace database itself.
                authSource=names.mongo_database,
                maxPoolSize=self.pool_size,
                timeoutMS=self.timeout_ms,
                serverSelectionTimeoutMS=min(self.timeout_ms, 5000),
                uuidRepresentation="standard",
                appname="falcone-executor",
            )
            try:
                # Authenticates a first connection: bad credentials show here, not in a client's request.
                await client[names.mongo_database].command("ping")
            except OperationFailure as error:
                await client.close()
                # Credentials rotated since they were read: read them again once.
                if error.code == _AUTHENTICATION_FAILED and attempt == 1:
                    continue
                raise
            except BaseException:
                await client.close()
                raise
            return client
        raise AssertionError("unreachable")

    def _evict(self) -> None:
        while len(self._clients) > self.max_clients:
            _, client = self._clients.popitem(last=False)
            self._close_later(client)

    def _close_later(self, client: AsyncMongoClient[Document]) -> None:
        task = asyncio.get_running_loop().create_task(client.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def open_clients(self) -> int:
        return len(self._clients)

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), OrderedDict()
        await asyncio.gather(*(client.close() for client in clients), *self._closing, return_exceptions=True)
