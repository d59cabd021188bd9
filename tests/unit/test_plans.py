from __future__ import annotations

import itertools

import pytest

from falcone.plans import CATALOG, Capability, UnknownPlanError, catalog, parse


def test_the_four_plans_exist_with_their_profiles() -> None:
    plans = catalog().plans
    assert set(plans) == {"starter", "growth", "regulated", "enterprise"}
    assert plans["starter"].profile.name == "shared-starter"
    assert plans["regulated"].profile.database == "dedicated"


def test_quotas_grow_with_the_plan() -> None:
    order = [catalog().plan(n).quotas for n in ("starter", "growth", "regulated", "enterprise")]
    for smaller, larger in itertools.pairwise(order):
        assert smaller.max_workspaces <= larger.max_workspaces
        assert smaller.storage_bytes <= larger.storage_bytes


def test_audit_is_a_regulated_capability() -> None:
    assert not catalog().plan("growth").allows(Capability.AUDIT)
    assert catalog().plan("regulated").allows(Capability.AUDIT)


def test_unknown_plan_names_the_known_ones() -> None:
    with pytest.raises(UnknownPlanError, match="known plans: enterprise, growth, regulated, starter"):
        catalog().plan("platinum")


def test_catalog_refuses_topics_without_kafka() -> None:
    text = CATALOG.read_text().replace(
        'capabilities = ["identity", "postgres", "storage"]\n[plans.starter.quotas]\nmax_workspaces = 2\n'
        "max_databases = 1\nmax_functions = 10\nmax_topics = 0",
        'capabilities = ["identity", "postgres", "storage"]\n[plans.starter.quotas]\nmax_workspaces = 2\n'
        "max_databases = 1\nmax_functions = 10\nmax_topics = 5",
    )
    with pytest.raises(ValueError, match="allows topics but not the kafka capability"):
        parse(text)
