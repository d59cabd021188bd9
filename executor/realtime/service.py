"""Realtime subscriptions to a workspace's tables and collections, for a verified identity.

Subscribing checks, before any byte is streamed: the credential (401), the table or collection in the caller's
workspace (404), that the caller's role may read the table and that it publishes changes (403/400), and this
process's capacity (429/503). The subscription then listens (feeds.py) and turns each change into an event:

- its context must be the subscriber's verified tenant and workspace (the feed is the workspace's own and confined
  at the source already; anything else is dropped and logged: it was forged or misrouted);
- PostgreSQL inserts and updates are read back in one read-only transaction under the subscriber's own role and
  context, so row-level security and grants decide what it receives, exactly as for a read; a row it cannot see
  (or that is gone again) yields no event. MongoDB changes carry the document as it is now, through the
  workspace's own user, without its stamp;
- deletes carry the key only (the row is gone), scoped by the tenant and workspace it was deleted in.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import structlog
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from executor.data import session
from executor.data.credentials import NoCapabilityError, NoDatabaseError, SecretsUnavailableError
from executor.data.pools import WorkspacePools
from executor.documents import codec, guard, tenancy
from executor.documents.clients import Document, WorkspaceClients
from executor.identity.schemas import Identity
from executor.realtime import documents, repository
from executor.realtime.documents import DocumentChange, DocumentFeed
from executor.realtime.feeds import (
    LOST,
    Change,
    FeedCapacityError,
    FeedRegistry,
    Inbox,
    InboxCapacityError,
    TableFeed,
)
from executor.settings import ExecutorSettings
from executor.tables.service import TablesService, database_problem
from executor.tables.statements import Table
from falcone.http.problems import Problem

log = structlog.get_logger("executor.realtime")
# (kind, payload): `ready` once listening, then `insert`/`update`/`replace`/`delete` and `heartbeat`s; `error`
# or `end` last.
Event = tuple[str, dict[str, Any]]
# Changes handled (a table's read back in one transaction) at once at most.
BATCH = 100
RETRY_AFTER_S = 5


def _unavailable(detail: str) -> Problem:
    return Problem(503, f"{detail}; retry later", headers={"Retry-After": str(RETRY_AFTER_S)})


class RealtimeService:
    def __init__(
        self,
        settings: ExecutorSettings,
        tables: TablesService,
        pools: WorkspacePools,
        table_feeds: FeedRegistry[TableFeed],
        clients: WorkspaceClients,
        document_feeds: FeedRegistry[DocumentFeed],
    ) -> None:
        self.settings, self.tables, self.pools, self.table_feeds = settings, tables, pools, table_feeds
        self.clients, self.document_feeds = clients, document_feeds

    async def close(self) -> None:
        await asyncio.gather(self.table_feeds.close(), self.document_feeds.close())

    async def _inbox(self, feeds: FeedRegistry[Any], identity: Identity, source: str) -> Inbox[Any]:
        try:
            return await feeds.subscribe(identity.names, source)
        except InboxCapacityError:
            raise Problem(
                429,
                f"this workspace has {self.settings.realtime_max_subscriptions} realtime subscriptions on this server",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            ) from None
        except FeedCapacityError:
            raise _unavailable("this server listens to as many workspaces as it may") from None
        except (NoCapabilityError, SecretsUnavailableError, OSError, asyncpg.PostgresError, PyMongoError) as error:
            log.error("realtime feed unavailable", schema=identity.names.schema, error=str(error))
            raise _unavailable("the workspace's change feed is unavailable") from None

    # --- PostgreSQL tables --------------------------------------------------------------------------------------

    async def subscribe(self, identity: Identity, name: str) -> Subscription:
        """A listening subscription to one table of the caller's workspace; the caller must close it."""
        table = await self.tables.describe(identity, name)
        async with self._transaction(identity) as connection:
            readable, publishes = await repository.watchable(connection, table)
        if not readable:
            raise Problem(403, f"this credential's role may not read {name!r}", code="42501")
        if not publishes or not table.primary_key:
            raise Problem(400, f"{name!r} does not publish its changes (it is not a table of the workspace's own)")
        inbox = await self._inbox(self.table_feeds, identity, table.name)

        async def events(changes: list[Change]) -> list[Event]:
            return await self.read_back(identity, table, changes)

        ready = {"table": table.name, "primary_key": list(table.primary_key)}
        return Subscription(self.settings, self.table_feeds, inbox, ready, events)

    @asynccontextmanager
    async def _transaction(self, identity: Identity) -> AsyncIterator[session.Connection]:
        """A read-only transaction as the subscriber: its role, its tenant and workspace context."""
        names = identity.names
        try:
            pool = await self.pools.get(names)
        except NoDatabaseError:
            raise Problem(404, "this workspace has no PostgreSQL database") from None
        except (SecretsUnavailableError, OSError, asyncpg.PostgresError) as error:
            log.error("workspace database unavailable", schema=names.schema, error=str(error))
            raise _unavailable("the workspace's database is unavailable") from None
        try:
            async with session.transaction(
                pool, identity, readonly=True, statement_timeout_ms=self.settings.statement_timeout_ms
            ) as connection:
                yield connection
        except asyncpg.PostgresError as error:
            raise database_problem(error) from None
        except (asyncpg.InterfaceError, OSError) as error:
            log.error("workspace database connection failed", schema=names.schema, error=str(error))
            raise _unavailable("the workspace's database is unavailable") from None

    async def read_back(self, identity: Identity, table: Table, changes: list[Change]) -> list[Event]:
        """The events of `changes` for this subscriber (see the module's docstring)."""
        mine = [change for change in changes if _table_change_of(change, identity, table)]
        _log_dropped(len(changes) - len(mine), identity, table.name)
        keys = [change.key for change in mine if change.op != "delete" and change.key is not None]
        rows: dict[tuple[str, ...], Any] = {}
        if keys:
            async with self._transaction(identity) as connection:
                rows = await repository.rows(connection, table, keys)
        events: list[Event] = []
        for change in mine:
            payload: dict[str, Any] = {"table": table.name, "op": change.op, "key": change.key}
            if change.op != "delete":
                if change.key is None:  # too large for a notification: the change, without the row
                    payload["record"] = None
                else:
                    record = rows.get(repository.key_of(table, change.key))
                    if record is None:
                        continue
                    payload["record"] = record
            events.append((change.op, payload))
        return events

    # --- MongoDB collections ------------------------------------------------------------------------------------

    async def subscribe_documents(self, identity: Identity, name: str) -> Subscription:
        """A listening subscription to one collection of the caller's workspace; the caller must close it."""
        names = identity.names
        try:
            database = await self.clients.database(names)
        except NoCapabilityError:
            raise Problem(404, "this workspace has no document database (its plan has no MongoDB)") from None
        except (SecretsUnavailableError, PyMongoError, OSError) as error:
            log.error("workspace document database unavailable", database=names.mongo_database, error=str(error))
            raise _unavailable("the workspace's document database is unavailable") from None
        deletes = await self._watchable_collection(database, name)
        inbox = await self._inbox(self.document_feeds, identity, name)

        async def events(changes: list[DocumentChange]) -> list[Event]:
            mine = [change for change in changes if _document_change_of(change, identity, name)]
            _log_dropped(len(changes) - len(mine), identity, name)
            return [(change.op, _document_event(change)) for change in mine]

        ready = {"collection": name, "deletes": deletes}
        return Subscription(self.settings, self.document_feeds, inbox, ready, events)

    async def _watchable_collection(self, database: AsyncDatabase[Document], name: str) -> bool:
        """404 unless the collection exists; whether its deletes can be delivered (pre-images recorded)."""
        try:
            guard.check_collection(name)
        except guard.InputError:
            raise Problem(404, f"no collection {name!r} in this workspace") from None
        try:
            if not await documents.collection_exists(database, name):
                raise Problem(404, f"no collection {name!r} in this workspace")
            return await documents.record_pre_images(database, name)
        except PyMongoError as error:
            log.error("workspace document database unavailable", database=database.name, error=str(error))
            raise _unavailable("the workspace's document database is unavailable") from None


def _table_change_of(change: Change, identity: Identity, table: Table) -> bool:
    if (change.tenant_id, change.workspace_id, change.table) != (identity.tenant, identity.workspace, table.name):
        return False
    return change.key is None or set(change.key) == set(table.primary_key)


def _document_change_of(change: DocumentChange, identity: Identity, collection: str) -> bool:
    return (change.tenant_id, change.workspace_id, change.collection) == (
        identity.tenant,
        identity.workspace,
        collection,
    )


def _document_event(change: DocumentChange) -> dict[str, Any]:
    """Relaxed Extended JSON, as the documents API answers (`{"$oid": …}`), without the stamp."""
    payload: dict[str, Any] = {"collection": change.collection, "op": change.op, "key": change.key}
    if change.document is not None:
        payload["document"] = tenancy.unstamped(change.document)
    encoded: dict[str, Any] = json.loads(codec.dumps(payload))
    return encoded


def _log_dropped(count: int, identity: Identity, source: str) -> None:
    if count:
        log.warning("changes of another context dropped", schema=identity.names.schema, source=source, dropped=count)


class Subscription:
    """An inbox turned into events: `ready`, the changes, heartbeats in silence, and an `error` (the feed was
    lost, the subscriber fell behind) or `end` (the stream's longest life) as the last event."""

    def __init__(
        self,
        settings: ExecutorSettings,
        feeds: FeedRegistry[Any],
        inbox: Inbox[Any],
        ready: dict[str, Any],
        events_of: Callable[[list[Any]], Awaitable[list[Event]]],
    ) -> None:
        self.settings, self.feeds, self.inbox, self.ready, self.events_of = settings, feeds, inbox, ready, events_of
        self._closed = False

    async def events(self) -> AsyncGenerator[Event]:
        heartbeat = self.settings.subscribe_heartbeat_s
        ends_at = time.monotonic() + self.settings.realtime_max_stream_s
        yield "ready", self.ready
        while True:
            if self.inbox.failure is not None:
                yield "error", {"status": 503, "detail": self.inbox.failure}
                return
            remaining = ends_at - time.monotonic()
            if remaining <= 0:
                yield "end", {"detail": "the stream reached its longest life; subscribe again"}
                return
            try:
                async with asyncio.timeout(min(heartbeat, remaining)):
                    first = await self.inbox.queue.get()
            except TimeoutError:
                if not self.feeds.alive(self.inbox):
                    self.inbox.fail(LOST)
                elif remaining > heartbeat:
                    yield "heartbeat", {}
                continue
            batch = [first]
            while len(batch) < BATCH and not self.inbox.queue.empty():
                batch.append(self.inbox.queue.get_nowait())
            changes = [change for change in batch if change is not None]
            if changes:
                try:
                    for event in await self.events_of(changes):
                        yield event
                except Problem as problem:
                    yield "error", {"status": problem.status, "detail": problem.detail}
                    return

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self.feeds.unsubscribe(self.inbox)
