"""One `AsyncMongoClient` per workspace, logged in as the workspace's own Mongo user, opened on first use.

That user has readWrite on the workspace's database and nothing else, so a client cannot reach another
workspace's data whatever a request asks. Clients are bounded like the PostgreSQL pools (executor/data/pools.py):
beyond `max_clients` the least recently used one is closed.
"""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from executor.cache import ClientCache
from executor.data.credentials import SecretsUnavailableError, VaultCredentials
from falcone.naming import WorkspaceNames

Document = dict[str, Any]
_AUTHENTICATION_FAILED = 18


class WorkspaceClients:
    def __init__(
        self, credentials: VaultCredentials, url: str, pool_size: int, max_clients: int, timeout_ms: int
    ) -> None:
        self.credentials, self.url = credentials, url
        self.pool_size, self.timeout_ms = pool_size, timeout_ms
        self._clients: ClientCache[AsyncMongoClient[Document]] = ClientCache(max_clients, _close)

    async def database(self, names: WorkspaceNames) -> AsyncDatabase[Document]:
        """The workspace's database through its own client. Raises NoCapabilityError (the plan has no Mongo),
        SecretsUnavailableError, or a pymongo error if the server cannot be reached."""
        key = names.mongo_database
        client = await self._clients.get(key, lambda: self._open(names))
        return client[key]

    def discard(self, names: WorkspaceNames) -> None:
        self._clients.discard(names.mongo_database)

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

    def open_clients(self) -> int:
        return len(self._clients)

    async def close(self) -> None:
        await self._clients.close()


async def _close(client: AsyncMongoClient[Document]) -> None:
    await client.close()
