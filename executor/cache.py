"""A small time-bounded cache: lookups that must be cheap on the hot path but go stale within seconds."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")
_MISSING = object()


class TTLCache(Generic[K, V]):
    """Entries (including cached absences, stored as None) live `ttl` seconds; the oldest go first when full."""

    def __init__(self, ttl: float, max_size: int) -> None:
        self.ttl, self.max_size = ttl, max_size
        self._entries: OrderedDict[K, tuple[float, V | None]] = OrderedDict()

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
