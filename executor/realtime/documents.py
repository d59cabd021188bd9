"""MongoDB change feeds: one change stream per subscribed workspace, on the workspace's own database, through the
workspace's own client (its Mongo user: executor/documents/clients.py), fanned out to the inboxes by collection.

The stream's pipeline `$match`es the workspace's stamp (executor/documents/tenancy.py) first, at the source:
inserts, updates and replaces on the document as it is now (`fullDocument: updateLookup`), deletes on the
document as it was (`fullDocumentBeforeChange`, the pre-image a collection records once
`changeStreamPreAndPostImages` is enabled on it). A change the stamp does not cover never leaves the server; the
pre-image itself is projected away there too, since a delete is delivered as its key only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import structlog
from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from executor.documents import tenancy
from executor.documents.clients import Document, WorkspaceClients
from executor.realtime.feeds import LOST, Inbox
from falcone.naming import WorkspaceNames

log = structlog.get_logger("executor.realtime")
# How long one getMore waits for changes on the server (the feed notices a close within it).
AWAIT_MS = 1000
_WRITES = ("insert", "update", "replace")
_UNAUTHORIZED = 13


def pipeline(names: WorkspaceNames) -> list[dict[str, Any]]:
    """The stream's pipeline: the workspace's stamp first, then only what an event needs."""
    tenant, workspace = names.tenant, names.slug
    before = "fullDocumentBeforeChange."
    return [
        {
            "$match": {
                "$or": [
                    {"operationType": {"$in": list(_WRITES)}, **tenancy.predicate(tenant, workspace, "fullDocument.")},
                    {"operationType": "delete", **tenancy.predicate(tenant, workspace, before)},
                ]
            }
        },
        {
            "$project": {
                "operationType": 1,
                "ns": 1,
                "documentKey": 1,
                "fullDocument": 1,
                f"{before}{tenancy.TENANT_FIELD}": 1,
                f"{before}{tenancy.WORKSPACE_FIELD}": 1,
            }
        },
    ]


@dataclass(frozen=True, slots=True)
class DocumentChange:
    collection: str
    op: str  # insert | update | replace | delete
    key: Document  # the documentKey: {"_id": …}
    tenant_id: Any
    workspace_id: Any
    document: Document | None  # as it is now (None for a delete)

    @classmethod
    def of(cls, event: Document) -> DocumentChange | None:
        op, namespace, key = event.get("operationType"), event.get("ns") or {}, event.get("documentKey")
        if op not in (*_WRITES, "delete") or not isinstance(key, dict):
            return None
        stamped = event.get("fullDocument") if op != "delete" else event.get("fullDocumentBeforeChange")
        if not isinstance(stamped, dict):
            return None
        document = event.get("fullDocument") if op != "delete" else None
        return cls(
            collection=str(namespace.get("coll", "")),
            op=op,
            key=key,
            tenant_id=stamped.get(tenancy.TENANT_FIELD),
            workspace_id=stamped.get(tenancy.WORKSPACE_FIELD),
            document=document,
        )


class DocumentFeed:
    def __init__(self, names: WorkspaceNames, stream: AsyncChangeStream[Document]) -> None:
        self.names, self.stream = names, stream
        self.inboxes: set[Inbox[Any]] = set()
        self.closing = False
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            while not self.closing:
                event = await self.stream.try_next()
                if event is None:
                    continue
                change = DocumentChange.of(event)
                if change is None:
                    continue
                for inbox in list(self.inboxes):
                    if inbox.source == change.collection:
                        inbox.offer(change)
        except Exception as error:  # a server error, or an event the driver could not decode: the feed is lost
            if not self.closing:
                log.warning("document change stream lost", database=self.names.mongo_database, error=repr(error))
            self.fail(LOST)

    def fail(self, reason: str) -> None:
        for inbox in list(self.inboxes):
            inbox.fail(reason)

    @property
    def alive(self) -> bool:
        return not self.closing and not self.task.done()

    async def close(self) -> None:
        self.closing = True
        self.task.cancel()
        with suppress(BaseException):
            await self.task
        with suppress(Exception):
            await self.stream.close()


def document_feed_opener(clients: WorkspaceClients) -> Callable[[WorkspaceNames], Awaitable[DocumentFeed]]:
    async def open_feed(names: WorkspaceNames) -> DocumentFeed:
        database = await clients.database(names)
        stream = await database.watch(
            pipeline(names),
            full_document="updateLookup",
            full_document_before_change="whenAvailable",
            max_await_time_ms=AWAIT_MS,
        )
        return DocumentFeed(names, stream)

    return open_feed


async def collection_exists(database: AsyncDatabase[Document], name: str) -> bool:
    return bool(await database.list_collection_names(filter={"name": name}))


async def record_pre_images(database: AsyncDatabase[Document], name: str) -> bool:
    """Make the collection record pre-images, so its deletes can be matched to the stamp; False if the server
    refuses (the workspace's user may not `collMod`): its deletes are then not delivered."""
    found = [info async for info in await database.list_collections(filter={"name": name})]
    options = found[0].get("options", {}) if found else {}
    if (options.get("changeStreamPreAndPostImages") or {}).get("enabled"):
        return True
    try:
        await database.command({"collMod": name, "changeStreamPreAndPostImages": {"enabled": True}})
    except OperationFailure as error:
        if error.code != _UNAUTHORIZED:
            raise
        log.warning("pre-images refused: deletes are not delivered", database=database.name, collection=name)
        return False
    return True
