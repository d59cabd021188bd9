"""MinIO through aiobotocore (S3: bucket, put, get) and minio.MinioAdmin (user + policy): the new
user can read the bucket its policy names and nothing else."""

import asyncio
import json
import secrets
from typing import Any

import pytest

# aiokafka/aiobotocore ship no type information (the ignores go quiet once pyproject lists them).
from aiobotocore.session import get_session  # type: ignore[import-untyped, unused-ignore]
from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]
from minio import MinioAdmin
from minio.credentials.providers import StaticProvider

from localplatform.endpoints import MinioEndpoint

pytestmark = pytest.mark.platform


def _s3(ep: MinioEndpoint, access_key: str, secret_key: str) -> Any:
    return get_session().create_client(
        "s3",
        endpoint_url=ep.endpoint_url,
        region_name=ep.region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
    )


async def test_s3_and_admin_api(minio_endpoint: MinioEndpoint) -> None:
    ep = minio_endpoint
    bucket, other = f"smoke-{secrets.token_hex(4)}", f"smoke-other-{secrets.token_hex(4)}"
    admin = MinioAdmin(endpoint=ep.host_port, credentials=StaticProvider(ep.access_key, ep.secret_key), secure=False)
    user, user_secret = f"smoke-{secrets.token_hex(4)}", secrets.token_hex(16)
    policy_name = f"smoke-read-{secrets.token_hex(4)}"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [f"arn:aws:s3:::{bucket}/*"]},
        ],
    }
    async with _s3(ep, ep.access_key, ep.secret_key) as s3:
        for name in (bucket, other):
            await s3.create_bucket(Bucket=name)
            await s3.put_object(Bucket=name, Key="hello.txt", Body=b"hello falcone")
        obj = await s3.get_object(Bucket=bucket, Key="hello.txt")
        async with obj["Body"] as body:
            assert await body.read() == b"hello falcone"

        await asyncio.to_thread(admin.user_add, user, user_secret)
        await asyncio.to_thread(admin.policy_add, policy_name, None, policy)
        await asyncio.to_thread(admin.attach_policy, [policy_name], user)
        try:
            assert user in json.loads(await asyncio.to_thread(admin.user_list))
            async with _s3(ep, user, user_secret) as user_s3:
                allowed = await user_s3.get_object(Bucket=bucket, Key="hello.txt")
                async with allowed["Body"] as body:
                    assert await body.read() == b"hello falcone"
                with pytest.raises(ClientError, match="AccessDenied"):
                    await user_s3.get_object(Bucket=other, Key="hello.txt")
        finally:
            await asyncio.to_thread(admin.user_remove, user)
            await asyncio.to_thread(admin.policy_remove, policy_name)
            for name in (bucket, other):
                await s3.delete_object(Bucket=name, Key="hello.txt")
                await s3.delete_bucket(Bucket=name)
