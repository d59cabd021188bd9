"""Small caches: `TTLCache` for lookups that must be cheap on the hot path but go stale within seconds,
`ClientCache` for the per-workspace clients (database pools, Mongo, S3, Kafka) opened on first use."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")
_MISSING = object()


class TTLCache(Generic[K, V]):
    """Entries (including cached absences, stored as None) live `ttl` seconds; the oldest go first when full."""

    def __init__(self, ttl: float, max_size: int) -> None:
        self.ttl, self.max_size = ttl, max_size
        self._entries: OrderedDict[K, tuple[float, V | None]] = OrderedDict()
        self._loading: dict[K, asyncio.Task[V | None]] = {}

    async def get_or_load(self, key: K, load: Callable[[], Awaitable[V | None]]) -> V | None:
        """The cached value, or one load shared by every concurrent caller: when an entry expires under load,
        one query refreshes it instead of one per waiting request."""
        found, value = self.get(key)
        if found:
            return value
        task = self._loading.get(key)
        if task is None:

            async def load_and_store() -> V | None:
                try:
                    loaded = await load()
                    self.put(key, loaded)
                    return loaded
                finally:
                    self._loading.pop(key, None)

            task = asyncio.ensure_future(load_and_store())
            self._loading[key] = task
        # shield: a caller that goes away (client disconnect) does not cancel the load the others wait for
        return await asyncio.shield(task)

    def get(self, key: K) -> tuple[bool, V | None]:
        """(found, value); found is False when absent or expired."""
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        stored_at, value = entry
        if time.monotonic() - stored_at >= self.ttl:
            del self._entries[key]
            return False, None
        return True, value

    def put(self, key: K, value: V | None) -> None:
        if self.ttl <= 0:
            return
        self._entries[key] = (time.monotonic(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)

    def discard(self, key: K) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


class ClientCache(Generic[V]):
    """Clients opened on first use, one per key however many requests ask at once, at most `max_size`: beyond,
    the least recently used one is retired. `retire` decides how a client goes; by default it is closed in the
    background (`close_later`), so the requests still using it finish first."""

    def __init__(
        self,
        max_size: int,
        close: Callable[[V], Coroutine[Any, Any, None]],
        retire: Callable[[V], None] | None = None,
    ) -> None:
        self.max_size, self._close = max_size, close
        self._retire = retire or self.close_later
        self._entries: OrderedDict[str, V] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self._closing: set[asyncio.Task[None]] = set()

    async def get(self, key: str, open_client: Callable[[], Awaitable[V]]) -> V:
        entry = self._entries.get(key)
        if entry is None:
            async with self._locks.setdefault(key, asyncio.Lock()):
                entry = self._entries.get(key)
                if entry is None:
                    entry = await open_client()
                    self._entries[key] = entry
                    self._evict()
                    return entry
        self._entries.move_to_end(key)
        return entry

    def discard(self, key: str, entry: V | None = None) -> None:
        """Forget the key's client (only if it still is `entry`, when given) and retire it: the next request
        opens a new one, with freshly read credentials."""
        found = self._entries.get(key)
        if found is not None and (entry is None or found is entry):
            del self._entries[key]
            self._retire(found)

    def close_later(self, entry: V) -> None:
        task = asyncio.get_running_loop().create_task(self._close(entry))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _evict(self) -> None:
        while len(self._entries) > self.max_size:
            _, entry = self._entries.popitem(last=False)
            self._retire(entry)

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> list[V]:
        return list(self._entries.values())

    async def close(self) -> None:
        entries, self._entries = list(self._entries.values()), OrderedDict()
        await asyncio.gather(*(self._close(entry) for entry in entries), *self._closing, return_exceptions=True)
