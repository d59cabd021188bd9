"""The executor's per-credential limits take their profile from the route catalogue: data routes the plan's
api_calls_per_minute, event publishing seed 003's event_gateway figures; every key and profile a bucket."""

from __future__ import annotations

import pytest

from executor.identity.schemas import Identity
from executor.limits import RateLimiter
from falcone.http.problems import Problem
from falcone.plans import catalog
from falcone.routes import PLAN_BURST_FRACTION
from falcone.routes import catalog as routes

PUBLISH = ("POST", "/v1/events/topics/events/publish")
READ = ("GET", "/rest/v1/todos")


def _identity(subject: str, plan: str = "growth") -> Identity:
    return Identity("acme", "prod", "acme_prod_service", "service", subject, plan)


def _frozen() -> float:
    """A clock that stands still: nothing refills while a test spends a bucket."""
    return 1000.0


def _spend(limiter: RateLimiter, identity: Identity, method: str, path: str) -> int:
    """Requests served before the first 429."""
    served = 0
    refused: Problem | None = None
    while refused is None and served < 100_000:
        try:
            limiter.take(identity, method, path)
            served += 1
        except Problem as problem:
            refused = problem
    assert refused is not None, "never limited"
    assert refused.status == 429
    assert int(refused.headers["Retry-After"]) >= 1
    return served


def test_event_publishing_has_seed_003s_burst_and_data_routes_the_plans() -> None:
    limiter, key = RateLimiter(clock=_frozen), _identity("key-1")
    event_burst = routes().profiles["event_gateway"].burst
    assert _spend(limiter, key, *PUBLISH) == event_burst
    # the same key still reads: another profile, another bucket, sized by the plan
    plan_burst = int(catalog().plan("growth").quotas.api_calls_per_minute * PLAN_BURST_FRACTION)
    assert _spend(limiter, key, *READ) == plan_burst


def test_each_key_has_its_own_bucket() -> None:
    limiter = RateLimiter(clock=_frozen)
    noisy, quiet = _identity("key-noisy"), _identity("key-quiet")
    _spend(limiter, noisy, *PUBLISH)
    with pytest.raises(Problem):
        limiter.take(noisy, *PUBLISH)
    limiter.take(quiet, *PUBLISH)  # not throttled by its neighbour


def test_the_multiplier_scales_every_profile() -> None:
    limiter = RateLimiter(multiplier=0.1, clock=_frozen)
    assert _spend(limiter, _identity("k", plan="starter"), *READ) == int(600 * PLAN_BURST_FRACTION * 0.1)
