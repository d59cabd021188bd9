"""WorkspaceStorage under mocks: the user's only policy is confined to the workspace's bucket or prefix."""

from __future__ import annotations

import pulumi
import pytest

from components.connections import MinioConnection
from components.workspace_storage import WorkspaceStorage, WorkspaceStorageArgs, confined_policy
from falcone.naming import WorkspaceNames
from tests.components.mocks import RecordingMocks, run

NAMES = WorkspaceNames(tenant="acme", slug="prod")
CONNECTION = MinioConnection(endpoint_url="http://127.0.0.1:1", access_key="a", secret_key="b")


def _storage(shared_bucket: str | None) -> RecordingMocks:
    def program() -> pulumi.Output[str]:
        return WorkspaceStorage(
            "st", WorkspaceStorageArgs(names=NAMES, connection=CONNECTION, shared_bucket=shared_bucket, quota_bytes=10)
        ).bucket

    return run(program)


def _resources(document: dict[str, object]) -> set[str]:
    statements = document["Statement"]
    assert isinstance(statements, list)
    return {resource for statement in statements for resource in statement["Resource"]}


def test_dedicated_bucket_with_quota_and_a_policy_on_it_alone() -> None:
    registered = _storage(None)
    bucket = registered.named("st-bucket").inputs
    assert bucket["name"] == "flc-acme--prod"
    assert bucket["quota_bytes"] == 10
    policy = registered.named("st-policy").inputs
    assert _resources(policy["document"]) == {"arn:aws:s3:::flc-acme--prod", "arn:aws:s3:::flc-acme--prod/*"}
    user = registered.named("st-user").inputs
    assert user["access_key"] == "ws-acme--prod"
    assert user["policies"] == [policy["name"]]


def test_shared_bucket_confines_objects_and_listing_to_the_prefix() -> None:
    registered = _storage("falcone-shared")
    assert not registered.matching(lambda r: r.name == "st-bucket")
    document = registered.named("st-policy").inputs["document"]
    assert _resources(document) == {"arn:aws:s3:::falcone-shared", "arn:aws:s3:::falcone-shared/acme/prod/*"}
    listing = next(s for s in document["Statement"] if s["Action"] == ["s3:ListBucket"])
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["acme/prod/*"]}}


@pytest.mark.parametrize("prefix", ["acme/prod", "/acme/prod/"])
def test_prefixes_must_be_directory_like(prefix: str) -> None:
    with pytest.raises(ValueError, match="ends with '/'"):
        confined_policy("b", prefix)
