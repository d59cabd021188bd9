"""The MinIO dynamic providers (bucket, policy, user), run by the real engine against the local platform's MinIO.

Isolation is what matters: each workspace user gets a policy confined to its own bucket; user A reads and
writes bucket A (positive control) and is denied everything on bucket B.
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any
from uuid import uuid4

import pulumi
import pytest

# aiobotocore ships no type information.
from aiobotocore.session import get_session  # type: ignore[import-untyped, unused-ignore]
from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]
from minio import Minio, MinioAdmin
from minio.credentials.providers import StaticProvider
from minio.error import MinioAdminException
from minio.versioningconfig import SUSPENDED, VersioningConfig
from pulumi.automation import OpType

from components.connections import Backends, MinioConnection
from components.providers.minio import (
    BucketArgs,
    BucketProvider,
    MinioBucket,
    MinioPolicy,
    MinioUser,
    PolicyArgs,
    PolicyProvider,
    UserArgs,
    UserProvider,
    normalized_policy,
)
from falcone import pulumi_runner
from falcone.toolchain import Toolchain
from tests.providers.direct import provider_props

pytestmark = [pytest.mark.platform, pytest.mark.toolchain]


def _quiet(_line: str) -> None:
    """Engine output goes to the test log only on failure (the CommandError carries it)."""


def _bucket_policy(bucket: str) -> dict[str, Any]:
    # "Action" as a plain string on purpose: MinIO stores it as a list, and that must not read as drift.
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                "Resource": [f"arn:aws:s3:::{bucket}"],
            },
            {
                "Effect": "Allow",
                "Action": "s3:*Object",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            },
        ],
    }


def _names(prefix: str, ws: str) -> dict[str, str]:
    return {
        "bucket": f"{prefix}-{ws}",
        "policy": f"{prefix}-{ws}-rw",
        "user": f"{prefix}-{ws}-user",
        "secret": f"{prefix}-{ws}-secret-{'x' * 8}",
    }


def _workspaces_program(prefix: str, connection: MinioConnection) -> pulumi.automation.PulumiFn:
    def program() -> None:
        for ws in ("a", "b"):
            names = _names(prefix, ws)
            bucket = MinioBucket(
                f"bucket-{ws}",
                BucketArgs(
                    name=names["bucket"],
                    force_destroy=True,
                    versioning=ws == "a",
                    quota_bytes=5 * 1024 * 1024 if ws == "a" else None,
                ),
                connection,
            )
            policy = MinioPolicy(
                f"policy-{ws}",
                PolicyArgs(name=names["policy"], document=_bucket_policy(names["bucket"])),
                connection,
                opts=pulumi.ResourceOptions(depends_on=[bucket]),
            )
            MinioUser(
                f"user-{ws}",
                UserArgs(access_key=names["user"], secret_key=names["secret"], policies=[names["policy"]]),
                connection,
                opts=pulumi.ResourceOptions(depends_on=[policy]),
            )

    return program


def _admin(connection: MinioConnection) -> MinioAdmin:
    return MinioAdmin(
        endpoint=connection.endpoint_url.split("://", 1)[1],
        credentials=StaticProvider(connection.access_key, connection.secret_key),
        secure=connection.endpoint_url.startswith("https://"),
    )


def _s3_root(connection: MinioConnection) -> Minio:
    return Minio(
        connection.endpoint_url.split("://", 1)[1],
        access_key=connection.access_key,
        secret_key=connection.secret_key,
        secure=connection.endpoint_url.startswith("https://"),
    )


def _user_policies(admin: MinioAdmin, access_key: str) -> list[str] | None:
    try:
        info = json.loads(admin.user_info(access_key))
    except MinioAdminException as error:
        if "XMinioAdminNoSuchUser" in str(error):
            return None
        raise
    return sorted(name for name in (info.get("policyName") or "").split(",") if name)


def _policy(admin: MinioAdmin, name: str) -> dict[str, Any] | None:
    try:
        return dict(json.loads(admin.policy_info(name)))
    except MinioAdminException as error:
        if "XMinioAdminNoSuchPolicy" in str(error):
            return None
        raise


def _s3(connection: MinioConnection, access_key: str, secret_key: str) -> Any:
    return get_session().create_client(
        "s3",
        endpoint_url=connection.endpoint_url,
        region_name=connection.region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
    )


async def _error_code(call: Any) -> str:
    try:
        await call
    except ClientError as error:
        return str(error.response["Error"]["Code"])
    return "OK"


async def _check_isolation(connection: MinioConnection, prefix: str) -> None:
    a, b = _names(prefix, "a"), _names(prefix, "b")
    async with _s3(connection, b["user"], b["secret"]) as as_b:
        await as_b.put_object(Bucket=b["bucket"], Key="b.txt", Body=b"workspace b")  # B's own control
    async with _s3(connection, a["user"], a["secret"]) as as_a:
        # Positive control: A writes, reads and lists its own bucket.
        await as_a.put_object(Bucket=a["bucket"], Key="a.txt", Body=b"workspace a")
        obj = await as_a.get_object(Bucket=a["bucket"], Key="a.txt")
        async with obj["Body"] as body:
            assert await body.read() == b"workspace a"
        listing = await as_a.list_objects_v2(Bucket=a["bucket"])
        assert "a.txt" in [item["Key"] for item in listing.get("Contents", [])]
        # Negative: every operation on B's bucket is denied.
        assert await _error_code(as_a.put_object(Bucket=b["bucket"], Key="x.txt", Body=b"intrusion")) == "AccessDenied"
        assert await _error_code(as_a.get_object(Bucket=b["bucket"], Key="b.txt")) == "AccessDenied"
        assert await _error_code(as_a.list_objects_v2(Bucket=b["bucket"])) == "AccessDenied"
        assert await _error_code(as_a.delete_object(Bucket=b["bucket"], Key="b.txt")) == "AccessDenied"


async def _put_status(connection: MinioConnection, access_key: str, secret_key: str, bucket: str) -> str:
    async with _s3(connection, access_key, secret_key) as client:
        return await _error_code(client.put_object(Bucket=bucket, Key="probe.txt", Body=b"probe"))


def test_buckets_policies_users_isolation_drift_destroy(
    toolchain: Toolchain, backends: Backends, backend_dir: Path
) -> None:
    _ = toolchain
    assert backends.minio is not None
    connection = backends.minio
    prefix = f"t{uuid4().hex[:8]}"
    a, b = _names(prefix, "a"), _names(prefix, "b")
    admin, root = _admin(connection), _s3_root(connection)
    stack = pulumi_runner.inline_stack("minio", _workspaces_program(prefix, connection), backend_dir, "providers-minio")
    try:
        assert stack.up(on_output=_quiet).summary.result == "succeeded"
        for names in (a, b):
            assert root.bucket_exists(names["bucket"])
            assert _user_policies(admin, names["user"]) == [names["policy"]]
            assert normalized_policy(_policy(admin, names["policy"])) == normalized_policy(
                _bucket_policy(names["bucket"])
            )
        assert root.get_bucket_versioning(a["bucket"]).status == "Enabled"
        assert json.loads(admin.bucket_quota_get(a["bucket"]))["quota"] == 5 * 1024 * 1024
        state = "".join(path.read_text() for path in backend_dir.rglob("*.json"))
        assert a["user"] in state  # the stack's state file was read...
        assert a["secret"] not in state  # ...and its secrets are encrypted
        assert connection.secret_key not in state
        assert json.loads(admin.bucket_quota_get(b["bucket"]))["quota"] == 0

        asyncio.run(_check_isolation(connection, prefix))

        clean = stack.preview_refresh(on_output=_quiet)
        assert set(clean.change_summary) <= {"same"}, clean.change_summary

        # Out of band: somebody detaches and deletes A's policy, and suspends versioning on bucket A.
        admin.detach_policy([a["policy"]], user=a["user"])
        admin.policy_remove(a["policy"])
        root.set_bucket_versioning(a["bucket"], VersioningConfig(SUSPENDED))
        assert asyncio.run(_put_status(connection, a["user"], a["secret"], a["bucket"])) == "AccessDenied"
        drift = stack.preview_refresh(on_output=_quiet)
        # policy A is gone (delete), user A lost its policy and bucket A its versioning (updates).
        assert drift.change_summary.get(OpType.DELETE) == 1, drift.change_summary
        assert drift.change_summary.get(OpType.UPDATE) == 2, drift.change_summary
        stack.refresh(on_output=_quiet)
        assert stack.up(on_output=_quiet).summary.result == "succeeded"
        assert _user_policies(admin, a["user"]) == [a["policy"]]
        assert _policy(admin, a["policy"]) is not None
        assert root.get_bucket_versioning(a["bucket"]).status == "Enabled"
        assert asyncio.run(_put_status(connection, a["user"], a["secret"], a["bucket"])) == "OK"
        asyncio.run(_check_isolation(connection, prefix))  # repaired, and still isolated
        after = stack.preview_refresh(on_output=_quiet)
        assert set(after.change_summary) <= {"same"}, after.change_summary
    finally:
        stack.destroy(on_output=_quiet)
    for names in (a, b):
        assert not root.bucket_exists(names["bucket"])  # force_destroy emptied them (A holds object versions)
        assert _user_policies(admin, names["user"]) is None
        assert _policy(admin, names["policy"]) is None
    assert asyncio.run(_put_status(connection, a["user"], a["secret"], a["bucket"])) == "InvalidAccessKeyId"
    stack.workspace.remove_stack("minio")


def _single_bucket_program(
    prefix: str,
    connection: MinioConnection,
    *,
    versioning: bool,
    quota: int | None,
    secret: str,
    policies: list[pulumi.Input[str]],
) -> pulumi.automation.PulumiFn:
    def program() -> None:
        bucket = MinioBucket(
            "bucket",
            BucketArgs(name=f"{prefix}-c", force_destroy=True, versioning=versioning, quota_bytes=quota),
            connection,
        )
        policy = MinioPolicy(
            "policy",
            PolicyArgs(name=f"{prefix}-c-rw", document=_bucket_policy(f"{prefix}-c")),
            connection,
            opts=pulumi.ResourceOptions(depends_on=[bucket]),
        )
        MinioUser(
            "user",
            UserArgs(access_key=f"{prefix}-c-user", secret_key=secret, policies=policies),
            connection,
            opts=pulumi.ResourceOptions(depends_on=[policy]),
        )

    return program


def test_updates_in_place_secret_rotation_and_force_destroy(
    toolchain: Toolchain, backends: Backends, backend_dir: Path
) -> None:
    _ = toolchain
    assert backends.minio is not None
    connection = backends.minio
    prefix = f"t{uuid4().hex[:8]}"
    bucket, user, policy = f"{prefix}-c", f"{prefix}-c-user", f"{prefix}-c-rw"
    admin, root = _admin(connection), _s3_root(connection)
    first, second = "first-secret-123", "second-secret-456"
    stack = pulumi_runner.inline_stack(
        "minio-upd",
        _single_bucket_program(prefix, connection, versioning=False, quota=None, secret=first, policies=[]),
        backend_dir,
        "providers-minio",
    )
    try:
        assert stack.up(on_output=_quiet).summary.result == "succeeded"
        assert root.get_bucket_versioning(bucket).status is None  # never versioned
        assert _user_policies(admin, user) == []
        # No policy attached yet: authenticated, but denied.
        assert asyncio.run(_put_status(connection, user, first, bucket)) == "AccessDenied"
        root.put_object(bucket, "kept.txt", io.BytesIO(b"kept"), 4)

        stack.workspace.program = _single_bucket_program(
            prefix, connection, versioning=True, quota=1024 * 1024, secret=second, policies=[policy]
        )
        result = stack.up(on_output=_quiet)
        assert result.summary.result == "succeeded"
        changes = {op: n for op, n in (result.summary.resource_changes or {}).items() if op != "same"}
        assert changes == {"update": 2}, changes  # bucket and user updated in place, nothing replaced
        assert root.stat_object(bucket, "kept.txt").size == 4  # updated in place, not replaced
        assert root.get_bucket_versioning(bucket).status == "Enabled"
        assert json.loads(admin.bucket_quota_get(bucket))["quota"] == 1024 * 1024
        assert _user_policies(admin, user) == [policy]
        assert asyncio.run(_put_status(connection, user, second, bucket)) == "OK"
        assert asyncio.run(_put_status(connection, user, first, bucket)) == "SignatureDoesNotMatch"

        # The hard quota is enforced: 1 MiB quota, a 2 MiB object is refused.
        async def too_big() -> str:
            async with _s3(connection, user, second) as client:
                return await _error_code(client.put_object(Bucket=bucket, Key="big.bin", Body=b"x" * 2 * 1024 * 1024))

        assert asyncio.run(too_big()) == "XMinioAdminBucketQuotaExceeded"

        # Out of band: the secret is reset. The secret cannot be read back, but read notices it no longer works.
        admin.user_add(user, "reset-by-someone-1")
        drift = stack.preview_refresh(on_output=_quiet)
        assert drift.change_summary.get(OpType.UPDATE) == 1, drift.change_summary
        stack.refresh(on_output=_quiet)
        stack.up(on_output=_quiet)
        assert asyncio.run(_put_status(connection, user, second, bucket)) == "OK"
    finally:
        stack.destroy(on_output=_quiet)
    assert not root.bucket_exists(bucket)  # held object versions and delete markers: force_destroy emptied it
    assert _user_policies(admin, user) is None
    assert _policy(admin, policy) is None
    stack.workspace.remove_stack("minio-upd")


# --- adoption: a create that reached the server but not the state runs again (components/providers/base.py) ---


@pytest.fixture
def minio(backends: Backends) -> MinioConnection:
    assert backends.minio is not None
    return backends.minio


def test_create_adopts_a_bucket_left_by_an_interrupted_run(minio: MinioConnection) -> None:
    name = f"t{uuid4().hex[:8]}-adopted"
    props = provider_props(BucketArgs(name=name, force_destroy=True, versioning=True, quota_bytes=1024 * 1024), minio)
    root, admin = _s3_root(minio), _admin(minio)
    root.make_bucket(name)  # the leftover: not versioned, no quota, and an object arrived meanwhile
    root.put_object(name, "kept.txt", io.BytesIO(b"kept"), 4)
    try:
        result = BucketProvider().create(props)

        assert (result.id, result.outs) == (name, props)
        assert root.get_bucket_versioning(name).status == "Enabled"
        assert json.loads(admin.bucket_quota_get(name))["quota"] == 1024 * 1024
        assert root.stat_object(name, "kept.txt").size == 4  # adopted, not emptied
    finally:
        BucketProvider().delete(name, props)
    assert not root.bucket_exists(name)


def test_create_of_a_user_and_policy_left_by_an_interrupted_run_sets_the_declared_ones(
    minio: MinioConnection,
) -> None:
    """Upserts: policy_add overwrites a policy, user_add resets a user's secret; policies are then synced."""
    prefix = f"t{uuid4().hex[:8]}"
    bucket, policy, other, user = f"{prefix}-b", f"{prefix}-rw", f"{prefix}-other", f"{prefix}-user"
    policy_props = provider_props(PolicyArgs(name=policy, document=_bucket_policy(bucket)), minio)
    user_props = provider_props(UserArgs(access_key=user, secret_key="declared-secret-1", policies=[policy]), minio)
    root, admin = _s3_root(minio), _admin(minio)
    root.make_bucket(bucket)
    # The leftovers: the policy grants another bucket, the user has another secret and another policy.
    admin.policy_add(policy, policy=_bucket_policy(f"{prefix}-elsewhere"))
    admin.policy_add(other, policy=_bucket_policy(f"{prefix}-elsewhere"))
    admin.user_add(user, "leftover-secret-1")
    admin.attach_policy([other], user=user)
    try:
        policy_result = PolicyProvider().create(policy_props)
        user_result = UserProvider().create(user_props)

        assert (policy_result.id, policy_result.outs) == (policy, policy_props)
        assert (user_result.id, user_result.outs) == (user, user_props)
        live = _policy(admin, policy)
        assert live is not None
        assert normalized_policy(live.get("Policy", live)) == normalized_policy(_bucket_policy(bucket))
        assert _user_policies(admin, user) == [policy]
        assert asyncio.run(_put_status(minio, user, "declared-secret-1", bucket)) == "OK"
        assert asyncio.run(_put_status(minio, user, "leftover-secret-1", bucket)) == "SignatureDoesNotMatch"
    finally:
        UserProvider().delete(user, user_props)
        for name in (policy, other):
            PolicyProvider().delete(name, {**policy_props, "name": name})
        root.remove_object(bucket, "probe.txt")
        root.remove_bucket(bucket)
