"""The executor's lookup cache, without servers: revocation needs short lifetimes, load needs one refresh."""

from __future__ import annotations

import asyncio

from executor.cache import TTLCache


async def test_concurrent_misses_share_one_load_and_a_leaving_caller_does_not_cancel_it() -> None:
    cache: TTLCache[str, int] = TTLCache(ttl=60, max_size=10)
    calls = 0
    release = asyncio.Event()

    async def load() -> int:
        nonlocal calls
        calls += 1
        await release.wait()
        return 42

    waiting = [asyncio.ensure_future(cache.get_or_load("k", load)) for _ in range(20)]
    await asyncio.sleep(0)
    waiting[0].cancel()  # a client that went away
    release.set()
    results = await asyncio.gather(*waiting[1:])
    assert results == [42] * 19
    assert calls == 1
    assert cache.get("k") == (True, 42)


async def test_absences_are_cached_and_everything_expires() -> None:
    cache: TTLCache[str, int] = TTLCache(ttl=0.05, max_size=2)
    calls = 0

    async def load() -> int | None:
        nonlocal calls
        calls += 1
        return None

    assert await cache.get_or_load("missing", load) is None
    assert await cache.get_or_load("missing", load) is None
    assert calls == 1  # an unknown key is not looked up again within the lifetime
    await asyncio.sleep(0.06)
    assert cache.get("missing") == (False, None)
    for key in ("a", "b", "c"):
        cache.put(key, 1)
    assert cache.get("a") == (False, None)  # the oldest went first when full
