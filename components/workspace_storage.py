"""A workspace's object storage on MinIO: its own bucket (dedicated profiles) or its own prefix of a shared bucket
(shared profiles), and a user whose only policy is confined to exactly that bucket or prefix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components.connections import MinioConnection
from components.providers.minio import BucketArgs, MinioBucket, MinioPolicy, MinioUser, PolicyArgs, UserArgs
from components.providers.random import RandomSecret
from falcone.naming import WorkspaceNames

OBJECT_ACTIONS = [
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
]


def confined_policy(bucket: str, prefix: str | None) -> dict[str, Any]:
    """Read/write on one bucket, or on one key prefix of it; nothing else (listing included)."""
    if prefix is None:
        return {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                    "Resource": [f"arn:aws:s3:::{bucket}"],
                },
                {"Effect": "Allow", "Action": OBJECT_ACTIONS, "Resource": [f"arn:aws:s3:::{bucket}/*"]},
            ],
        }
    if not prefix.endswith("/") or prefix.startswith("/"):
        raise ValueError(f"a workspace prefix ends with '/' and does not start with one: {prefix!r}")
    return {
        "Version": "2012-10-17",
        "Statement": [
            # SDKs look the bucket's region up before anything else; that reveals no key.
            {"Effect": "Allow", "Action": ["s3:GetBucketLocation"], "Resource": [f"arn:aws:s3:::{bucket}"]},
            {
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{bucket}"],
                "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}},
            },
            {"Effect": "Allow", "Action": OBJECT_ACTIONS, "Resource": [f"arn:aws:s3:::{bucket}/{prefix}*"]},
        ],
    }


@dataclass(frozen=True)
class WorkspaceStorageArgs:
    names: WorkspaceNames
    connection: pulumi.Input[MinioConnection]
    # None: a bucket of the workspace's own; else the shared bucket the workspace gets a prefix of.
    shared_bucket: str | None = None
    quota_bytes: int | None = None
    drop_data_on_delete: bool = True


class WorkspaceStorage(pulumi.ComponentResource):
    bucket: pulumi.Output[str]
    prefix: pulumi.Output[str]
    access_key: pulumi.Output[str]
    secret_key: pulumi.Output[str]

    def __init__(self, name: str, args: WorkspaceStorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("falcone:workspace:Storage", name, None, opts)
        names = args.names
        child = pulumi.ResourceOptions(parent=self)
        if args.shared_bucket is None:
            bucket: pulumi.Output[str] = MinioBucket(
                f"{name}-bucket",
                BucketArgs(name=names.bucket, force_destroy=args.drop_data_on_delete, quota_bytes=args.quota_bytes),
                args.connection,
                child,
            ).name
            prefix = None
        else:
            # MinIO quotas are per bucket: a prefix of a shared bucket has none (the executor enforces sizes).
            bucket, prefix = pulumi.Output.from_input(args.shared_bucket), names.object_prefix
        policy = MinioPolicy(
            f"{name}-policy",
            PolicyArgs(
                name=f"{names.storage_user}-rw",
                document=confined_policy(args.shared_bucket or names.bucket, prefix),
            ),
            args.connection,
            child,
        )
        secret = RandomSecret(f"{name}-secret", length=40, opts=child)
        user = MinioUser(
            f"{name}-user",
            UserArgs(access_key=names.storage_user, secret_key=secret.value, policies=[policy.name]),
            args.connection,
            child,
        )
        self.bucket = bucket
        self.prefix = pulumi.Output.from_input(prefix or "")
        self.access_key = user.access_key
        self.secret_key = pulumi.Output.secret(secret.value)
        self.register_outputs(
            {"bucket": self.bucket, "prefix": self.prefix, "access_key": self.access_key, "secret_key": self.secret_key}
        )
