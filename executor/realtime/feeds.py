"""Change feeds: one per subscribed workspace and kind of store, shared by the workspace's subscribers.

A feed reads the workspace's changes once (PostgreSQL: a LISTEN connection, `TableFeed`; MongoDB: a change
stream, documents.py) and offers each change to the inboxes subscribed to its table or collection. Whose a change
is and what the subscriber may see of it is decided again by the subscription (service.py), against its own
verified identity.

An inbox is bounded: a subscriber that falls that far behind is failed (its stream ends with an error and the
client subscribes again), rather than letting one slow reader hold memory for the whole workspace. A lost feed
fails every inbox of the workspace the same way; the next subscription opens a new one. Feeds are bounded per
process, inboxes per workspace.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar, get_args

import asyncpg
import structlog

from executor.data.credentials import VaultCredentials
from falcone import rls
from falcone.naming import WorkspaceNames

log = structlog.get_logger("executor.realtime")
T = TypeVar("T")
Operation = Literal["insert", "update", "delete"]
OPERATIONS: tuple[str, ...] = get_args(Operation)
LOST = "the workspace's change feed was interrupted; subscribe again"
# Credentials stored in Vault changed (rotation) or were never valid: read them again once.
_STALE_CREDENTIALS = (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError)


class FeedCapacityError(Exception):
    """This process has as many feeds as it may (`realtime_max_workspaces`)."""


class InboxCapacityError(Exception):
    """The workspace has as many subscribers on this process as it may (`realtime_max_subscriptions`)."""


class Inbox(Generic[T]):
    """One subscriber's changes of one table or collection, in order; `failure` says why it ended."""

    def __init__(self, names: WorkspaceNames, source: str, size: int) -> None:
        self.names, self.source = names, source
        self.queue: asyncio.Queue[T | None] = asyncio.Queue(size)
        self.failure: str | None = None

    def offer(self, change: T) -> None:
        if self.failure is not None:
            return
        try:
            self.queue.put_nowait(change)
        except asyncio.QueueFull:
            self.fail("the subscriber fell behind the changes; subscribe again")

    def fail(self, reason: str) -> None:
        if self.failure is None:
            self.failure = reason
            with suppress(asyncio.QueueFull):  # a full queue has a reader busy draining it: it sees the failure
                self.queue.put_nowait(None)  # wakes a reader waiting on an empty queue


class Feed(Protocol):
    inboxes: set[Inbox[Any]]

    @property
    def alive(self) -> bool: ...

    def fail(self, reason: str) -> None: ...

    async def close(self) -> None: ...


F = TypeVar("F", bound=Feed)


class FeedRegistry(Generic[F]):
    """The open feeds of one kind, by workspace; `open` makes a listening feed for a workspace."""

    def __init__(
        self, open_feed: Callable[[WorkspaceNames], Awaitable[F]], *, max_feeds: int, max_inboxes: int, inbox_size: int
    ) -> None:
        self.open_feed = open_feed
        self.max_feeds, self.max_inboxes, self.inbox_size = max_feeds, max_inboxes, inbox_size
        self._feeds: dict[str, F] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def subscribe(self, names: WorkspaceNames, source: str) -> Inbox[Any]:
        """An inbox for `source` (a table or collection) of the workspace, listening before this returns: every
        change committed from now on reaches it."""
        key = names.schema
        async with self._locks.setdefault(key, asyncio.Lock()):
            feed = self._feeds.get(key)
            if feed is not None and not feed.alive:
                feed.fail(LOST)
                await self._drop(key, feed)
                feed = None
            if feed is None:
                if len(self._feeds) >= self.max_feeds:
                    raise FeedCapacityError(names.schema)
                feed = await self.open_feed(names)
                self._feeds[key] = feed
            if len(feed.inboxes) >= self.max_inboxes:
                raise InboxCapacityError(names.schema)
            inbox: Inbox[Any] = Inbox(names, source, self.inbox_size)
            feed.inboxes.add(inbox)
        return inbox

    async def unsubscribe(self, inbox: Inbox[Any]) -> None:
        key = inbox.names.schema
        async with self._locks.setdefault(key, asyncio.Lock()):
            feed = self._feeds.get(key)
            if feed is None:
                return
            feed.inboxes.discard(inbox)
            if not feed.inboxes:  # the last one: nobody listens to this workspace any more
                await self._drop(key, feed)

    def alive(self, inbox: Inbox[Any]) -> bool:
        feed = self._feeds.get(inbox.names.schema)
        return feed is not None and inbox in feed.inboxes and feed.alive

    def open_feeds(self) -> int:
        return len(self._feeds)

    async def _drop(self, key: str, feed: F) -> None:
        if self._feeds.get(key) is feed:
            del self._feeds[key]
        await feed.close()

    async def close(self) -> None:
        feeds, self._feeds = list(self._feeds.values()), {}
        for feed in feeds:
            feed.fail("the server is shutting down; subscribe again")
        await asyncio.gather(*(feed.close() for feed in feeds), return_exceptions=True)


# --- PostgreSQL: NOTIFY on the workspace's channel ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    """A notification's payload (`falcone.rls.notify_change_function`): the row's context and key, no data."""

    table: str
    op: Operation
    tenant_id: str | None
    workspace_id: str | None
    key: dict[str, Any] | None  # None: too large for a notification

    @classmethod
    def parse(cls, payload: str) -> Change | None:
        """None for anything the trigger would not have sent (any role of the database may NOTIFY any channel)."""
        try:
            value = json.loads(payload)
        except ValueError:
            return None
        if not isinstance(value, dict):
            return None
        table, op, key = value.get("table"), value.get("op"), value.get("key")
        tenant, workspace = value.get("tenant_id"), value.get("workspace_id")
        if not isinstance(table, str) or op not in OPERATIONS or not isinstance(key, dict | None):
            return None
        if not isinstance(tenant, str | None) or not isinstance(workspace, str | None):
            return None
        return cls(table, op, tenant, workspace, key)


class TableFeed:
    """A workspace's LISTEN connection, logged in as the workspace's executor login (as the pools of
    executor/data/pools.py are), on the workspace's own channel, which only its tables notify."""

    def __init__(self, names: WorkspaceNames, connection: asyncpg.Connection) -> None:
        self.names, self.connection = names, connection
        self.inboxes: set[Inbox[Any]] = set()
        self.closing = False

    def notified(self, _connection: object, _pid: int, channel: str, payload: object) -> None:
        if channel != rls.change_channel(self.names) or not isinstance(payload, str):
            return
        change = Change.parse(payload)
        if change is None:
            log.warning("malformed change notification dropped", schema=self.names.schema, size=len(payload))
            return
        for inbox in list(self.inboxes):
            if inbox.source == change.table:
                inbox.offer(change)

    def terminated(self, _connection: object) -> None:
        if not self.closing:
            log.warning("realtime connection lost", schema=self.names.schema, subscribers=len(self.inboxes))
            self.fail(LOST)

    def fail(self, reason: str) -> None:
        for inbox in list(self.inboxes):
            inbox.fail(reason)

    @property
    def alive(self) -> bool:
        return not self.closing and not self.connection.is_closed()

    async def close(self) -> None:
        self.closing = True
        with suppress(Exception):
            await self.connection.close(timeout=5)


def table_feed_opener(
    credentials: VaultCredentials, host: str, port: int
) -> Callable[[WorkspaceNames], Awaitable[TableFeed]]:
    async def open_feed(names: WorkspaceNames) -> TableFeed:
        for attempt in (1, 2):
            secret = await credentials.database(names)
            try:
                connection = await asyncpg.connect(
                    host=host,
                    port=port,
                    user=secret.user,
                    password=secret.password,
                    database=secret.database,
                    server_settings={"application_name": "falcone-executor-realtime"},
                )
            except _STALE_CREDENTIALS:
                if attempt == 2:
                    raise
                continue
            feed = TableFeed(names, connection)
            try:
                await connection.add_listener(rls.change_channel(names), feed.notified)
            except BaseException:
                await feed.close()
                raise
            connection.add_termination_listener(feed.terminated)
            return feed
        raise AssertionError("unreachable")

    return open_feed
