"""Quota checks before any Pulumi run: the plan's quotas with the tenant's overrides, each dimension named."""

from __future__ import annotations

from typing import Any

from falcone.http.problems import Problem
from falcone.plans import Plan, Quotas, catalog

COUNTED = ("max_workspaces", "max_topics", "max_applications", "max_service_accounts")


def effective(tenant: dict[str, Any], plan: Plan | None = None) -> Quotas:
    plan = plan or catalog().plan(tenant["plan"])
    return plan.quotas.model_copy(update=tenant.get("quota_overrides") or {})


def refuse_beyond(dimension: str, wanted: int, limit: int, *, plan: str) -> None:
    if wanted > limit:
        raise Problem(
            422,
            f"{dimension}: {wanted} requested, the limit is {limit} (plan {plan!r} with this tenant's overrides)",
            type_="https://falcone.dev/problems/quota-exceeded",
            dimension=dimension,
            limit=limit,
            requested=wanted,
        )
