"""One S3 client per workspace, signed with the workspace's own MinIO access key, opened on first use.

The key's only policy is confined to the workspace's bucket (or its prefix of the shared bucket), so a client
cannot reach another workspace's objects whatever a request asks. Clients are bounded like the database pools:
beyond `max_clients` the least recently used one is closed, once the requests still using it (a download being
streamed) have finished.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# aiobotocore ships no type information.
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session

from executor.cache import ClientCache
from executor.data.credentials import SecretsUnavailableError, VaultCredentials
from falcone.naming import WorkspaceNames


@dataclass(frozen=True)
class StorageLocation:
    """Where a workspace's objects live (Vault `storage`, written by the workspace stack)."""

    bucket: str
    prefix: str  # "" for a bucket of the workspace's own, "tenant/workspace/" in the shared bucket
    access_key: str
    secret_key: str = field(repr=False)

    @property
    def shared(self) -> bool:
        return bool(self.prefix)


def location(names: WorkspaceNames, secret: dict[str, str]) -> StorageLocation:
    """The stored secret must describe this very workspace: a mix-up in the store must not hand out another
    workspace's bucket or prefix."""
    try:
        found = StorageLocation(secret["bucket"], secret["prefix"], secret["access_key"], secret["secret_key"])
    except KeyError as missing:
        raise SecretsUnavailableError(f"the workspace's storage credentials lack {missing}") from None
    own_bucket = found.bucket == names.bucket and found.prefix == ""
    own_prefix = found.prefix == names.object_prefix
    if not (own_bucket or own_prefix) or found.access_key != names.storage_user:
        raise SecretsUnavailableError("the workspace's stored storage credentials name another location")
    return found


@dataclass(eq=False)
class Lease:
    """A workspace's client in use; released when the request (or the body it streams) is done."""

    location: StorageLocation
    s3: Any  # aiobotocore S3 client
    presigner: Any  # the same, or a client for the public endpoint (presigned URLs are signed for their host)
    users: int = 0
    evicted: bool = False


class StorageClients:
    def __init__(
        self,
        credentials: VaultCredentials,
        *,
        endpoint: str,
        public_endpoint: str | None,
        region: str,
        max_clients: int,
        connections: int,
        timeout_s: float,
    ) -> None:
        self.credentials, self.endpoint, self.region = credentials, endpoint, region
        self.public_endpoint = public_endpoint if public_endpoint and public_endpoint != endpoint else None
        self.config = AioConfig(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            connect_timeout=timeout_s,
            read_timeout=timeout_s,
            retries={"max_attempts": 2, "mode": "standard"},
            max_pool_connections=connections,
        )
        self._session: AioSession = get_session()
        self._leases: ClientCache[Lease] = ClientCache(max_clients, _close, retire=self._retire)

    async def acquire(self, names: WorkspaceNames) -> Lease:
        lease = await self._leases.get(names.vault_prefix, lambda: self._open(names))
        lease.users += 1
        return lease

    def retain(self, lease: Lease) -> None:
        """One more user of an acquired lease (a body that streams after the request's handler returned)."""
        lease.users += 1

    def release(self, lease: Lease) -> None:
        lease.users -= 1
        if lease.evicted and lease.users == 0:
            self._leases.close_later(lease)

    def discard(self, names: WorkspaceNames, lease: Lease) -> None:
        """Forget a client whose credentials MinIO refused (rotated): the next request reads them again."""
        self._leases.discard(names.vault_prefix, lease)

    async def _open(self, names: WorkspaceNames) -> Lease:
        found = location(names, await self.credentials.secret(names, "storage"))
        s3 = await self._client(self.endpoint, found)
        presigner = s3 if self.public_endpoint is None else await self._client(self.public_endpoint, found)
        return Lease(found, s3, presigner)

    async def _client(self, endpoint: str, found: StorageLocation) -> Any:
        context = self._session.create_client(
            "s3",
            endpoint_url=endpoint,
            region_name=self.region,
            aws_access_key_id=found.access_key,
            aws_secret_access_key=found.secret_key,
            config=self.config,
        )
        return await context.__aenter__()

    def _retire(self, lease: Lease) -> None:
        lease.evicted = True
        if lease.users == 0:
            self._leases.close_later(lease)

    def open_clients(self) -> int:
        return len(self._leases)

    async def close(self) -> None:
        await self._leases.close()


async def _close(lease: Lease) -> None:
    await lease.s3.close()
    if lease.presigner is not lease.s3:
        await lease.presigner.close()
