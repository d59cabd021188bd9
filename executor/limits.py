"""Per-credential rate limits from the tenant's plan (`api_calls_per_minute`): each API key (or token subject) has
a token bucket of its own, so one noisy key never throttles another. Over the limit: 429 with `Retry-After`.

Buckets live in the process (the gateway enforces the same limits in front of every replica); they are bounded,
least recently used dropped first, and a dropped bucket comes back full, which errs towards serving.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass

from executor.identity.schemas import Identity
from falcone.http.problems import Problem
from falcone.plans import catalog

# A bucket holds this fraction of a minute's allowance (seed 003's profiles: burst ≈ a quarter of the rate).
BURST_FRACTION = 0.25


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, *, multiplier: float = 1.0, max_buckets: int = 100_000) -> None:
        self.multiplier, self.max_buckets = multiplier, max_buckets
        self._buckets: OrderedDict[tuple[str, str, str, str], _Bucket] = OrderedDict()

    def per_minute(self, identity: Identity) -> float:
        return catalog().plan(identity.plan).quotas.api_calls_per_minute * self.multiplier

    def take(self, identity: Identity) -> None:
        """Spend one request of the credential's allowance, or raise the 429."""
        rate = self.per_minute(identity) / 60.0
        capacity = max(1.0, self.per_minute(identity) * BURST_FRACTION)
        key = (identity.tenant, identity.workspace, identity.kind, identity.subject)
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(capacity, now)
            while len(self._buckets) > self.max_buckets:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return
        retry_after = max(1, math.ceil((1.0 - bucket.tokens) / rate))
        detail = f"this credential's limit is {self.per_minute(identity):g} requests per minute (plan {identity.plan})"
        raise Problem(
            429,
            detail,
            headers={"Retry-After": str(retry_after)},
            code="rate-limited",
            message=detail,
            hint=f"retry in {retry_after} s",
            details=None,
        )
