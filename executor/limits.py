"""Per-credential rate limits: each API key (or token subject) has a token bucket of its own per rate-limit
profile, so one noisy key never throttles another. The profile is the route catalogue's (falcone/catalog/
routes.toml): `data_api` takes the tenant plan's `api_calls_per_minute`, the others (event publishing, realtime)
seed 003's fixed figures. Over the limit: 429 with `Retry-After`.

Buckets live in the process (the gateway enforces the same limits in front of every replica); they are bounded,
least recently used dropped first, and a dropped bucket comes back full, which errs towards serving.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from executor.identity.schemas import Identity
from falcone import routes
from falcone.http.problems import Problem
from falcone.plans import catalog


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(
        self, *, multiplier: float = 1.0, max_buckets: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.multiplier, self.max_buckets, self.clock = multiplier, max_buckets, clock
        self._buckets: OrderedDict[tuple[str, str, str, str, str], _Bucket] = OrderedDict()
        self._profiles: dict[tuple[str, str], routes.RateProfile] = {}

    def profile(self, method: str, route: str) -> routes.RateProfile:
        """The catalogue's profile of a route (its template, so the lookup is made once per route, not per
        request); a route the catalogue does not list is limited as data."""
        profile = self._profiles.get((method, route))
        if profile is None:
            table = routes.catalog()
            entry = table.route(method, route)
            profile = table.profile(entry) if entry is not None else table.profiles["data_api"]
            self._profiles[(method, route)] = profile
        return profile

    def limits(self, identity: Identity, profile: routes.RateProfile) -> tuple[float, float]:
        """(requests per minute, burst) of the credential on a route of that profile."""
        if profile.per_minute == "plan":
            per_minute = catalog().plan(identity.plan).quotas.api_calls_per_minute * self.multiplier
            return per_minute, per_minute * routes.PLAN_BURST_FRACTION
        assert profile.burst is not None
        return profile.per_minute * self.multiplier, profile.burst * self.multiplier

    def take(self, identity: Identity, method: str, route: str) -> None:
        """Spend one request of the credential's allowance on the route's profile, or raise the 429. `route`: the
        matched route's template (a path works too, at the cost of a catalogue lookup per distinct path)."""
        profile = self.profile(method, route)
        per_minute, burst = self.limits(identity, profile)
        rate, capacity = per_minute / 60.0, max(1.0, burst)
        key = (profile.name, identity.tenant, identity.workspace, identity.kind, identity.subject)
        now = self.clock()
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
        detail = (
            f"this credential's limit here is {per_minute:g} requests per minute ({profile.name}, plan {identity.plan})"
        )
        raise Problem(
            429,
            detail,
            headers={"Retry-After": str(retry_after)},
            code="rate-limited",
            message=detail,
            hint=f"retry in {retry_after} s",
            details=None,
        )
