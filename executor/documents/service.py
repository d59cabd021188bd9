"""Document operations for a verified identity: the workspace's own Mongo client, every input checked
(guard.py), every filter and pipeline confined to the caller's tenant and workspace and every insert stamped
(tenancy.py), and server errors turned into problems."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from bson.errors import BSONError
from bson.objectid import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    OperationFailure,
    PyMongoError,
)

from executor.data.credentials import NoCapabilityError, SecretsUnavailableError
from executor.documents import codec, guard, repository, tenancy
from executor.documents.clients import Document, WorkspaceClients
from executor.documents.guard import InputError
from executor.documents.repository import Page
from executor.identity.schemas import Identity
from executor.settings import ExecutorSettings
from falcone.http.problems import Problem

log = structlog.get_logger("executor.documents")

_UNAUTHORIZED = 13
_AUTHENTICATION_FAILED = 18
_DUPLICATE_KEY = 11000
# Server-side faults (not the request's): shutdown, failover, time limits, internal errors.
_SERVER_FAULTS = frozenset({1, 6, 7, 50, 89, 91, 189, 262, 10107, 11600, 11602, 13435, 13436})


def mongo_problem(error: PyMongoError) -> Problem:
    if isinstance(error, DuplicateKeyError):
        return Problem(409, "a document with this _id already exists in the collection")
    if isinstance(error, BulkWriteError):
        inserted = int(error.details.get("nInserted", 0))
        first = (error.details.get("writeErrors") or [{}])[0]
        if first.get("code") == _DUPLICATE_KEY:
            detail = (
                f"document {first.get('index')} has an _id that already exists; the {inserted} before it were stored"
            )
            return Problem(409, detail, inserted=inserted)
        return Problem(400, f"document {first.get('index')} was refused: {first.get('errmsg')}", inserted=inserted)
    if isinstance(error, ExecutionTimeout | ConnectionFailure):
        log.warning("document database unavailable", error=str(error))
        return Problem(503, "the workspace's document database is unavailable; retry later")
    if isinstance(error, OperationFailure):
        message = str((error.details or {}).get("errmsg") or error)
        if error.code == _UNAUTHORIZED:
            return Problem(403, f"the workspace's database user may not do this: {message}")
        if error.code in _SERVER_FAULTS or error.has_error_label("RetryableWriteError"):
            log.warning("document database fault", code=error.code, error=message)
            return Problem(503, "the workspace's document database is unavailable; retry later")
        return Problem(400, f"the document database refused the request: {message}", mongo_code=error.code)
    log.error("unexpected document database error", error=repr(error))
    return Problem(503, "the workspace's document database is unavailable; retry later")


@dataclass(frozen=True)
class Query:
    """A read as the client sent it (decoded from Extended JSON, not yet checked)."""

    filter: Any = None
    projection: Any = None
    sort: Any = None
    skip: int = 0
    limit: int | None = None


class DocumentsService:
    """Every method checks its inputs (guard.py) itself: callers pass what the client sent."""

    def __init__(self, settings: ExecutorSettings, clients: WorkspaceClients) -> None:
        self.settings, self.clients = settings, clients

    @asynccontextmanager
    async def _collection(self, identity: Identity, name: str) -> AsyncIterator[repository.Collection]:
        async with self._database(identity) as database:
            yield database[guard.check_collection(name)]

    @asynccontextmanager
    async def _database(self, identity: Identity) -> AsyncIterator[AsyncDatabase[Document]]:
        names = identity.names
        try:
            database = await self.clients.database(names)
        except NoCapabilityError:
            raise Problem(404, "this workspace has no document database (its plan has no MongoDB)") from None
        except (SecretsUnavailableError, PyMongoError, OSError) as error:
            log.error("workspace document database unavailable", database=names.mongo_database, error=str(error))
            raise Problem(503, "the workspace's document database is unavailable; retry later") from None
        try:
            yield database
        except InputError as error:
            raise Problem(400, str(error)) from None
        except PyMongoError as error:
            if isinstance(error, OperationFailure) and error.code == _AUTHENTICATION_FAILED:
                self.clients.discard(names)  # rotated credentials: the next request logs in again
            raise mongo_problem(error) from None
        except (BSONError, OverflowError, UnicodeError) as error:
            # Raised while encoding the request: a value BSON cannot hold (an integer over 64 bits, a lone
            # surrogate, a document over 16 MB).
            raise Problem(400, f"a value cannot be stored: {error}") from None

    def _limit(self, requested: int | None) -> int:
        limit = self.settings.max_rows if requested is None else requested
        return min(limit, self.settings.max_rows)

    def _writable(self, identity: Identity) -> None:
        if identity.read_only:
            raise Problem(403, "this credential is read-only (anon keys read, service keys write)")

    def _scope(self, identity: Identity, client_filter: Any) -> dict[str, Any]:
        checked = guard.check_filter(client_filter) if client_filter is not None else None
        return tenancy.scope_filter(checked, identity.tenant, identity.workspace)

    def _by_id(self, identity: Identity, document_id: str | ObjectId) -> dict[str, Any]:
        """The one document with this `_id` (a path segment: 24 hex digits name an ObjectId)."""
        target = guard.document_id(document_id) if isinstance(document_id, str) else document_id
        return tenancy.scope_filter({"_id": target}, identity.tenant, identity.workspace)

    def _stamped(self, identity: Identity, document: Any) -> Document:
        return tenancy.stamp(guard.check_document(document), identity.tenant, identity.workspace)

    # --- reads ------------------------------------------------------------------------------------------------

    async def collection_names(self, identity: Identity) -> list[str]:
        async with self._database(identity) as database:
            return await repository.collection_names(database)

    async def find(
        self, identity: Identity, name: str, query: Query, *, keyset: bool = False, cursor: str | None = None
    ) -> Page:
        """`keyset`: pages in `_id` order, continuing after `cursor` (the previous page's last `_id`)."""
        async with self._collection(identity, name) as collection:
            scoped = self._scope(identity, query.filter)
            sort = guard.check_sort(query.sort) if query.sort is not None else None
            if keyset or cursor is not None:
                if sort is not None or query.skip:
                    raise InputError("a cursor pages in _id order: drop sort and skip")
                sort = [("_id", 1)]
                if cursor is not None:
                    scoped = {"$and": [scoped, _after(codec.decode_cursor(cursor))]}
            return await repository.find(
                collection,
                scoped,
                projection=guard.check_projection(query.projection) if query.projection is not None else None,
                sort=sort,
                skip=query.skip,
                limit=self._limit(query.limit),
                budget=self.settings.mongo_max_response_bytes,
            )

    async def count(self, identity: Identity, name: str, client_filter: Any) -> int:
        async with self._collection(identity, name) as collection:
            return await repository.count(collection, self._scope(identity, client_filter))

    async def aggregate(self, identity: Identity, name: str, pipeline: Any) -> Page:
        async with self._collection(identity, name) as collection:
            scoped = tenancy.scope_pipeline(guard.check_pipeline(pipeline), identity.tenant, identity.workspace)
            return await repository.aggregate(
                collection, scoped, limit=self.settings.max_rows, budget=self.settings.mongo_max_response_bytes
            )

    async def get(self, identity: Identity, name: str, document_id: str) -> Document:
        async with self._collection(identity, name) as collection:
            found = await repository.find_one(collection, self._by_id(identity, document_id))
        return _found(found, name)

    # --- writes -----------------------------------------------------------------------------------------------

    async def insert(self, identity: Identity, name: str, documents: list[Any]) -> list[Document]:
        self._writable(identity)
        if not documents or len(documents) > self.settings.max_rows:
            raise Problem(400, f"insert 1 to {self.settings.max_rows} documents at a time")
        async with self._collection(identity, name) as collection:
            stamped = [self._stamped(identity, document) for document in documents]
            inserted = await repository.insert(collection, stamped)
        return [tenancy.unstamped(document) for document in inserted]

    async def update(self, identity: Identity, name: str, document_id: str, update: Any) -> Document:
        self._writable(identity)
        async with self._collection(identity, name) as collection:
            checked = guard.check_update(update)
            found = await repository.update_one(collection, self._by_id(identity, document_id), checked)
        return _found(found, name)

    async def replace(self, identity: Identity, name: str, document_id: str, document: Any) -> Document:
        self._writable(identity)
        async with self._collection(identity, name) as collection:
            target = guard.document_id(document_id)
            replacement = self._stamped(identity, document)
            if replacement.pop("_id", target) != target:
                raise InputError("the document's _id differs from the one in the path")
            found = await repository.replace_one(collection, self._by_id(identity, target), replacement)
        return _found(found, name)

    async def delete(self, identity: Identity, name: str, document_id: str) -> None:
        self._writable(identity)
        async with self._collection(identity, name) as collection:
            deleted = await repository.delete_one(collection, self._by_id(identity, document_id))
        if not deleted:
            raise Problem(404, f"no such document in {name!r}")

    async def update_many(
        self, identity: Identity, name: str, client_filter: Any, update: Any, *, everything: bool = False
    ) -> tuple[int, int]:
        self._writable(identity)
        async with self._collection(identity, name) as collection:
            scoped = self._scope(identity, _bulk_filter(client_filter, everything, "update"))
            return await repository.update_many(collection, scoped, guard.check_update(update))

    async def delete_many(self, identity: Identity, name: str, client_filter: Any, *, everything: bool = False) -> int:
        self._writable(identity)
        async with self._collection(identity, name) as collection:
            scoped = self._scope(identity, _bulk_filter(client_filter, everything, "delete"))
            return await repository.delete_many(collection, scoped)


def _bulk_filter(client_filter: Any, everything: bool, verb: str) -> Any:
    """Changing every document of a collection takes `all=true`: an empty filter is more often a mistake."""
    if not client_filter and not everything:
        raise InputError(f"a bulk {verb} needs a non-empty filter (or all=true to {verb} every document)")
    return client_filter


def _after(last_id: str | ObjectId) -> dict[str, Any]:
    """Documents after `last_id` in `_id` order. Comparisons stay within one BSON type, and strings sort before
    ObjectIds: after a string come the greater strings and then every ObjectId."""
    if isinstance(last_id, ObjectId):
        return {"_id": {"$gt": last_id}}
    return {"$or": [{"_id": {"$gt": last_id}}, {"_id": {"$type": "objectId"}}]}


def _found(document: Document | None, name: str) -> Document:
    if document is None:
        raise Problem(404, f"no such document in {name!r}")
    return tenancy.unstamped(document)
