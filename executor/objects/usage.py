"""Bytes a workspace stores in the shared bucket. MinIO's quotas are per bucket, so a prefix of the shared bucket
has none and the executor enforces the plan's `storage_bytes` itself.

The total is listed once per `ttl` (one listing shared by concurrent requests) and kept current in between by
this executor's own writes; uploads through presigned URLs and other executor processes show up at the next
listing, so the limit can be overshot by at most what those write within one `ttl`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from executor.cache import TTLCache


@dataclass
class _Used:
    bytes: int


class UsageMeter:
    def __init__(self, ttl_s: float, max_entries: int) -> None:
        self._used: TTLCache[str, _Used] = TTLCache(ttl_s, max_entries)

    async def used(self, key: str, load: Callable[[], Awaitable[int]]) -> int:
        async def listed() -> _Used:
            return _Used(await load())

        entry = await self._used.get_or_load(key, listed)
        return 0 if entry is None else entry.bytes

    def add(self, key: str, delta: int) -> None:
        """A write of ours changed the total; the entry keeps its age (the next listing still comes on time)."""
        _, entry = self._used.get(key)
        if entry is not None:
            entry.bytes = max(0, entry.bytes + delta)
