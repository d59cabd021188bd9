"""Object operations for a verified identity: the workspace's storage location and client, keys joined to its
prefix, the plan's limits, and S3 errors turned into problems.

Only the identity chooses the location: `{bucket}` in a route must be the workspace's own bucket (anything else
is a 404), and keys are relative to the workspace's prefix.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import structlog

# aiobotocore ships no type information.
from botocore.exceptions import BotoCoreError, ClientError

from executor.data.credentials import NoCapabilityError, SecretsUnavailableError
from executor.identity.schemas import Identity
from executor.objects import keys, repository
from executor.objects.clients import Lease, StorageClients, StorageLocation
from executor.objects.repository import ObjectMeta
from executor.objects.schemas import (
    CONTENT_TYPE,
    MAX_CONTENT_TYPE,
    ObjectOut,
    ObjectPage,
    PresignIn,
    PresignOut,
)
from executor.objects.usage import UsageMeter
from executor.settings import ExecutorSettings
from falcone.http.problems import Problem
from falcone.plans import Capability, Plan, UnknownPlanError, catalog

log = structlog.get_logger("executor.objects")
T = TypeVar("T")

DEFAULT_CONTENT_TYPE = "application/octet-stream"
# S3's limit for one PUT; a presigned upload goes straight to MinIO, so the executor's buffer cap does not apply.
MAX_SINGLE_PUT = 5 * 1024**3
# MinIO refused the stored credentials: they were rotated since the client was opened.
_STALE = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch"})
_BAD_REQUEST = frozenset(
    {"InvalidArgument", "KeyTooLongError", "InvalidObjectName", "XMinioInvalidObjectName", "XMinioInvalidResourceName"}
)
_UNAVAILABLE = frozenset(
    {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "XMinioServerNotInitialized"}
)
_QUOTA = frozenset({"XMinioAdminBucketQuotaExceeded", "QuotaExceeded"})


def no_object(key: str) -> Problem:
    return Problem(404, f"no object {key!r} in this workspace")


def too_large(limit: int, detail: str | None = None) -> Problem:
    return Problem(413, detail or f"an object may hold at most {limit} bytes", limit_bytes=limit)


def _storage_problem(error: ClientError) -> Problem:
    code = repository.error_code(error)
    if code in {"404", "NoSuchKey", "NoSuchBucket"}:
        return Problem(404, "no such object in this workspace")
    if code == "AccessDenied":
        # The workspace's own key was refused on its own location: a policy out of step with the secret. Nothing
        # of anyone else's is named, so the caller sees an absence; the log says why.
        log.error("the object store refused a workspace's own key", code=code)
        return Problem(404, "no such object in this workspace")
    if code == "InvalidRange":
        return Problem(416, "the range is outside the object")
    if code in _BAD_REQUEST:
        return Problem(400, f"the object store refused the request: {code}")
    if code in _QUOTA or code == "EntityTooLarge":
        return Problem(413, "the workspace's storage quota is used up", code="quota_exceeded")
    if code not in _UNAVAILABLE:
        log.error("unexpected object store error", code=code, error=str(error))
    return Problem(503, "the object store is unavailable; retry later")


@dataclass(eq=False)
class Opened:
    """A download: `meta` and a body to stream, or no body when the client's copy is current (304). `close()`
    must follow, whatever happens to the response (it gives the connection and the workspace's client back)."""

    meta: ObjectMeta
    content_range: str | None = None
    body: AsyncIterator[bytes] | None = None
    _release: Callable[[], None] | None = None

    def close(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()


class ObjectsService:
    def __init__(self, settings: ExecutorSettings, clients: StorageClients, usage: UsageMeter) -> None:
        self.settings, self.clients, self.usage = settings, clients, usage

    # --- locations, limits and errors ------------------------------------------------------------------------

    def _plan(self, identity: Identity) -> Plan:
        try:
            plan = catalog().plan(identity.plan)
        except UnknownPlanError:
            plan = None
        if plan is None or not plan.allows(Capability.STORAGE):
            raise Problem(404, "this workspace has no object storage")
        return plan

    def upload_limit(self, identity: Identity) -> int:
        """Bytes one upload through the executor may hold: the plan's storage, and the executor's buffer cap."""
        return min(self.settings.max_object_bytes, self._plan(identity).quotas.storage_bytes)

    @staticmethod
    def _writable(identity: Identity) -> None:
        if identity.read_only:
            raise Problem(403, "this credential reads objects, it never writes them (anon key)")

    async def _acquire(self, identity: Identity, bucket: str) -> Lease:
        self._plan(identity)
        try:
            lease = await self.clients.acquire(identity.names)
        except NoCapabilityError:
            raise Problem(404, "this workspace has no object storage") from None
        except (SecretsUnavailableError, BotoCoreError, OSError) as error:
            log.error(
                "workspace storage credentials unavailable", workspace=identity.names.vault_prefix, error=str(error)
            )
            raise Problem(503, "the workspace's object storage is unavailable; retry later") from None
        if bucket != lease.location.bucket:
            self.clients.release(lease)
            raise Problem(404, f"no bucket {bucket!r} in this workspace")
        return lease

    async def _location(self, identity: Identity, bucket: str) -> StorageLocation:
        lease = await self._acquire(identity, bucket)
        self.clients.release(lease)
        return lease.location

    async def _run(self, identity: Identity, bucket: str, operation: Callable[[Lease], Awaitable[T]]) -> T:
        """One storage operation on the workspace's client; refused credentials are read again once."""
        for attempt in (1, 2):
            lease = await self._acquire(identity, bucket)
            try:
                return await operation(lease)
            except ClientError as error:
                if repository.error_code(error) in _STALE and attempt == 1:
                    self.clients.discard(identity.names, lease)
                    continue
                raise _storage_problem(error) from None
            except (BotoCoreError, OSError, TimeoutError) as error:
                log.error("object store unreachable", error=f"{type(error).__name__}: {error}")
                raise Problem(503, "the object store is unavailable; retry later") from None
            finally:
                self.clients.release(lease)
        raise AssertionError("unreachable")

    async def _used(self, identity: Identity, lease: Lease) -> int:
        location = lease.location
        return await self.usage.used(
            identity.names.vault_prefix, lambda: repository.total_size(lease.s3, location.bucket, location.prefix)
        )

    async def _check_quota(self, identity: Identity, lease: Lease, growth: int) -> None:
        """Shared-bucket prefixes only: a bucket of the workspace's own has the plan's quota set in MinIO."""
        if not lease.location.shared or growth <= 0:
            return
        quota = self._plan(identity).quotas.storage_bytes
        used = await self._used(identity, lease)
        if used + growth > quota:
            raise too_large(quota, f"the workspace stores {used} of its {quota} bytes: this object does not fit")

    # --- reads -----------------------------------------------------------------------------------------------

    async def head(self, identity: Identity, bucket: str, key: str) -> ObjectMeta:
        async def operation(lease: Lease) -> ObjectMeta:
            full = _full_key(key, lease.location)
            meta = await repository.head(lease.s3, lease.location.bucket, full)
            if meta is None:
                raise no_object(key)
            return meta

        return await self._run(identity, bucket, operation)

    async def download(
        self, identity: Identity, bucket: str, key: str, *, byte_range: str | None, if_none_match: str | None
    ) -> Opened:
        """The body streams on the workspace's client after this returns: the lease is held until it ends."""

        async def operation(lease: Lease) -> Opened:
            full = _full_key(key, lease.location)
            try:
                found = await repository.get(
                    lease.s3, lease.location.bucket, full, byte_range=byte_range, if_none_match=if_none_match
                )
            except ClientError as error:
                if repository.error_code(error) != "304":
                    raise
                meta = await repository.head(lease.s3, lease.location.bucket, full)
                if meta is None:
                    raise no_object(key) from None
                return Opened(meta)
            if found is None:
                raise no_object(key)
            self.clients.retain(lease)

            def release() -> None:
                found.body.close()
                self.clients.release(lease)

            return Opened(found.meta, found.content_range, repository.chunks(found.body), release)

        return await self._run(identity, bucket, operation)

    async def list(
        self,
        identity: Identity,
        bucket: str,
        *,
        prefix: str,
        delimiter: str | None,
        cursor: str | None,
        limit: int,
    ) -> ObjectPage:
        async def operation(lease: Lease) -> ObjectPage:
            root = lease.location.prefix
            try:
                full_prefix = keys.check_prefix(prefix, root)
            except keys.InvalidKeyError as error:
                raise keys.bad_key(error) from None
            start_after = keys.decode_cursor(cursor, root) if cursor is not None else None
            page = await repository.list_page(
                lease.s3, lease.location.bucket, full_prefix, delimiter=delimiter, start_after=start_after, limit=limit
            )
            items = [ObjectOut.of(meta, keys.relative(meta.key, root)) for meta in page.objects]
            prefixes = [keys.relative(value, root) for value in page.prefixes]
            # S3 orders keys and common prefixes together: the page ends at the larger of the two last ones.
            last = max([item.key for item in items[-1:]] + prefixes[-1:], default=None)
            next_cursor = keys.encode_cursor(last) if page.truncated and last is not None else None
            return ObjectPage(items=items, prefixes=prefixes, next_cursor=next_cursor)

        return await self._run(identity, bucket, operation)

    # --- writes ----------------------------------------------------------------------------------------------

    async def put(
        self,
        identity: Identity,
        bucket: str,
        key: str,
        *,
        content_type: str | None,
        declared: int | None,
        body: AsyncIterator[bytes],
    ) -> tuple[ObjectOut, bool]:
        """Store an object; True when it is new. Everything that can be refused is refused before the body is
        read, the size included when Content-Length gives it."""
        self._writable(identity)
        limit = self.upload_limit(identity)
        location = await self._location(identity, bucket)
        full = _full_key(key, location)
        media_type = _content_type(content_type)
        if declared is not None and declared > limit:
            raise too_large(limit)
        data = await _read(body, limit, declared)

        async def operation(lease: Lease) -> tuple[ObjectOut, bool]:
            previous = await repository.head(lease.s3, lease.location.bucket, full)
            growth = len(data) - (previous.size if previous else 0)
            await self._check_quota(identity, lease, growth)
            etag = await repository.put(lease.s3, lease.location.bucket, full, data, media_type)
            if lease.location.shared:
                self.usage.add(identity.names.vault_prefix, growth)
            out = ObjectOut(key=key, size=len(data), etag=etag, content_type=media_type)
            return out, previous is None

        return await self._run(identity, bucket, operation)

    async def delete(self, identity: Identity, bucket: str, key: str) -> None:
        self._writable(identity)

        async def operation(lease: Lease) -> None:
            full = _full_key(key, lease.location)
            # S3 deletes are idempotent; the API answers 404 for an absent object, like every other route.
            previous = await repository.head(lease.s3, lease.location.bucket, full)
            if previous is None:
                raise no_object(key)
            await repository.delete(lease.s3, lease.location.bucket, full)
            if lease.location.shared:
                self.usage.add(identity.names.vault_prefix, -previous.size)

        await self._run(identity, bucket, operation)

    # --- presigned URLs --------------------------------------------------------------------------------------

    async def presign(self, identity: Identity, bucket: str, key: str, request: PresignIn) -> PresignOut:
        """A URL signed with the workspace's own access key: MinIO checks it against that key's policy, so it
        reaches this object only, for `expires_in` seconds (or until the workspace's credentials rotate)."""
        if request.method == "PUT":
            self._writable(identity)
        if request.expires_in > self.settings.presign_max_expiry_s:
            raise Problem(400, f"expires_in may be at most {self.settings.presign_max_expiry_s} seconds")
        limit = min(self._plan(identity).quotas.storage_bytes, MAX_SINGLE_PUT)
        if request.content_length is not None and request.content_length > limit:
            raise too_large(limit)

        async def operation(lease: Lease) -> PresignOut:
            location = lease.location
            full = _full_key(key, location)
            existing = await repository.head(lease.s3, location.bucket, full)
            headers: dict[str, str] = {}
            if request.method == "GET":
                if existing is None:
                    raise no_object(key)
                url = await repository.presign(
                    lease.presigner, location.bucket, full, method="GET", expires_in=request.expires_in
                )
            else:
                assert request.content_length is not None  # PresignIn requires it for PUT
                await self._check_quota(identity, lease, request.content_length - (existing.size if existing else 0))
                media_type = request.content_type or DEFAULT_CONTENT_TYPE
                url = await repository.presign(
                    lease.presigner,
                    location.bucket,
                    full,
                    method="PUT",
                    expires_in=request.expires_in,
                    content_type=media_type,
                    content_length=request.content_length,
                )
                headers = {"Content-Type": media_type, "Content-Length": str(request.content_length)}
            expires_at = datetime.now(UTC) + timedelta(seconds=request.expires_in)
            return PresignOut(url=url, method=request.method, expires_at=expires_at, headers=headers)

        return await self._run(identity, bucket, operation)


def _full_key(key: str, location: StorageLocation) -> str:
    try:
        return keys.check_key(key, location.prefix)
    except keys.InvalidKeyError as error:
        raise keys.bad_key(error) from None


def _content_type(value: str | None) -> str:
    if value is None or not value.strip():
        return DEFAULT_CONTENT_TYPE
    value = value.strip()
    if len(value) > MAX_CONTENT_TYPE or not CONTENT_TYPE.fullmatch(value):
        raise Problem(400, "the Content-Type is not a media type this API stores (printable ASCII, ≤ 255)")
    return value


async def _read(body: AsyncIterator[bytes], limit: int, declared: int | None) -> bytes:
    data = bytearray()
    async for chunk in body:
        data += chunk
        if len(data) > limit:
            raise too_large(limit)
    if declared is not None and len(data) != declared:
        raise Problem(400, f"the body holds {len(data)} bytes, Content-Length said {declared}")
    return bytes(data)
