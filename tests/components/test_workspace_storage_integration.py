"""Workspace storage on the real MinIO: a dedicated bucket and a shared-bucket prefix, each user confined."""

from __future__ import annotations

import io
from pathlib import Path
from uuid import uuid4

import pulumi
import pytest
from minio import Minio
from minio.error import S3Error

from components.connections import Backends, MinioConnection
from components.providers.minio import BucketArgs, MinioBucket
from components.workspace_storage import WorkspaceStorage, WorkspaceStorageArgs
from falcone import pulumi_runner
from falcone.naming import WorkspaceNames
from falcone.toolchain import Toolchain

pytestmark = [pytest.mark.platform, pytest.mark.toolchain]


def _quiet(_line: str) -> None:
    """Engine output is kept in the CommandError if something fails."""


def _client(connection: MinioConnection, access_key: str, secret_key: str) -> Minio:
    return Minio(connection.endpoint_url.split("://", 1)[1], access_key=access_key, secret_key=secret_key, secure=False)


def _put(client: Minio, bucket: str, key: str) -> None:
    client.put_object(bucket, key, io.BytesIO(b"data"), length=4)


def test_each_workspace_user_reaches_only_its_bucket_or_prefix(
    toolchain: Toolchain, backends: Backends, backend_dir: Path
) -> None:
    _ = toolchain
    connection = backends.minio
    assert connection is not None
    run = uuid4().hex[:6]
    dedicated, sharer, neighbour = (
        WorkspaceNames(f"acme{run}", "prod"),
        WorkspaceNames(f"globex{run}", "prod"),
        WorkspaceNames(f"initech{run}", "prod"),
    )
    shared_bucket = f"flc-shared-{run}"

    def program() -> None:
        shared = MinioBucket("shared", BucketArgs(name=shared_bucket, force_destroy=True), connection)
        after_shared = pulumi.ResourceOptions(depends_on=[shared])
        for names, bucket in ((dedicated, None), (sharer, shared_bucket), (neighbour, shared_bucket)):
            storage = WorkspaceStorage(
                names.tenant,
                WorkspaceStorageArgs(names=names, connection=connection, shared_bucket=bucket, quota_bytes=1 << 20),
                after_shared,
            )
            pulumi.export(f"{names.tenant}-secret", storage.secret_key)

    stack = pulumi_runner.inline_stack("ws-storage", program, backend_dir, "components-workspace-storage")
    try:
        outputs = stack.up(on_output=_quiet).outputs

        def client(names: WorkspaceNames) -> Minio:
            return _client(connection, names.storage_user, outputs[f"{names.tenant}-secret"].value)

        own = client(dedicated)
        _put(own, dedicated.bucket, "a.txt")  # positive control
        assert own.get_object(dedicated.bucket, "a.txt").read() == b"data"
        with pytest.raises(S3Error, match="AccessDenied"):
            _put(own, shared_bucket, f"{sharer.object_prefix}x.txt")

        share = client(sharer)
        _put(share, shared_bucket, f"{sharer.object_prefix}b.txt")  # positive control
        assert [o.object_name for o in share.list_objects(shared_bucket, prefix=sharer.object_prefix)] == [
            f"{sharer.object_prefix}b.txt"
        ]
        with pytest.raises(S3Error, match="AccessDenied"):
            _put(share, shared_bucket, f"{neighbour.object_prefix}c.txt")
        with pytest.raises(S3Error, match="AccessDenied"):
            list(share.list_objects(shared_bucket, prefix=neighbour.object_prefix))
        with pytest.raises(S3Error, match="AccessDenied"):
            share.get_object(dedicated.bucket, "a.txt")
    finally:
        stack.destroy(on_output=_quiet)
        stack.workspace.remove_stack("ws-storage")
    admin_client = _client(connection, connection.access_key, connection.secret_key)
    assert not admin_client.bucket_exists(dedicated.bucket)
    assert not admin_client.bucket_exists(shared_bucket)
