"""A small time-bounded cache: lookups that must be cheap on the hot path but go stale within seconds."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

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
