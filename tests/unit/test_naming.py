"""Naming rules hold for every valid slug: backend limits, and no two tenants/workspaces ever share a name."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from falcone.naming import InvalidSlugError, TenantNames, WorkspaceNames, validate_slug

slugs = st.from_regex(r"[a-z][a-z0-9-]{1,22}[a-z0-9]", fullmatch=True).filter(lambda s: "--" not in s)

PG_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
KAFKA_TOPIC = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")


@given(slugs, slugs)
def test_derived_names_fit_every_backend(tenant: str, workspace: str) -> None:
    names = WorkspaceNames(tenant=tenant, slug=workspace)
    for purpose in ("runtime", "anon", "service", "executor", "migrator", "audit"):
        assert PG_IDENTIFIER.fullmatch(names.db_role(purpose))
    assert PG_IDENTIFIER.fullmatch(names.schema)
    assert len(names.mongo_database) < 64
    assert S3_BUCKET.fullmatch(names.bucket)
    assert KAFKA_TOPIC.fullmatch(names.topic("events"))
    assert DNS_LABEL.fullmatch(TenantNames(tenant).namespace)
    assert PG_IDENTIFIER.fullmatch(TenantNames(tenant).database)


@given(slugs, slugs, slugs, slugs)
def test_distinct_workspaces_never_share_a_name(t1: str, w1: str, t2: str, w2: str) -> None:
    a, b = WorkspaceNames(tenant=t1, slug=w1), WorkspaceNames(tenant=t2, slug=w2)
    if (t1, w1) == (t2, w2):
        return
    for attribute in ("schema", "bucket", "kafka_principal", "topic_prefix", "vault_prefix", "stack", "object_prefix"):
        assert getattr(a, attribute) != getattr(b, attribute), attribute
    # a topic prefix must never be a prefix of another workspace's (prefixed ACLs would leak)
    assert not b.topic_prefix.startswith(a.topic_prefix)
    assert not b.object_prefix.startswith(a.object_prefix)
    assert a.client("web", shared_realm=True) != b.client("web", shared_realm=True)


@pytest.mark.parametrize("bad", ["", "ab", "Acme", "1acme", "acme-", "ac--me", "a" * 25, "ac_me", "acme!"])
def test_invalid_slugs_are_refused_with_the_rule(bad: str) -> None:
    with pytest.raises(InvalidSlugError, match="3-24 characters"):
        validate_slug("tenant", bad)
