"""The S3 calls of the objects surface, one function each, on full keys of one bucket (the service joins and
strips the workspace prefix and turns S3 errors into problems)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# aiobotocore ships no type information.
from botocore.exceptions import ClientError

STREAM_CHUNK = 64 * 1024


@dataclass(frozen=True)
class ObjectMeta:
    key: str
    size: int
    etag: str
    content_type: str
    last_modified: datetime


@dataclass(frozen=True)
class Download:
    meta: ObjectMeta
    body: Any  # aiobotocore StreamingBody
    content_range: str | None  # set for a partial (Range) answer


@dataclass(frozen=True)
class Listing:
    objects: list[ObjectMeta]
    prefixes: list[str]
    truncated: bool


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _meta(key: str, answer: dict[str, Any]) -> ObjectMeta:
    return ObjectMeta(
        key=key,
        size=int(answer.get("ContentLength", answer.get("Size", 0))),
        etag=str(answer.get("ETag", "")),
        content_type=str(answer.get("ContentType") or "application/octet-stream"),
        last_modified=answer["LastModified"],
    )


async def head(s3: Any, bucket: str, key: str) -> ObjectMeta | None:
    try:
        answer = await s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error_code(error) in {"404", "NoSuchKey"}:
            return None
        raise
    return _meta(key, answer)


async def put(s3: Any, bucket: str, key: str, body: bytes, content_type: str) -> str:
    answer = await s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
    return str(answer.get("ETag", ""))


async def get(s3: Any, bucket: str, key: str, *, byte_range: str | None, if_none_match: str | None) -> Download | None:
    """The object's body, to be streamed and closed by the caller; None when absent. A matching `If-None-Match`
    raises ClientError code 304, an unsatisfiable range code InvalidRange."""
    arguments: dict[str, str] = {"Bucket": bucket, "Key": key}
    if byte_range is not None:
        arguments["Range"] = byte_range
    if if_none_match is not None:
        arguments["IfNoneMatch"] = if_none_match
    try:
        answer = await s3.get_object(**arguments)
    except ClientError as error:
        if error_code(error) in {"404", "NoSuchKey"}:
            return None
        raise
    return Download(_meta(key, answer), answer["Body"], answer.get("ContentRange"))


async def chunks(body: Any) -> AsyncIterator[bytes]:
    async for chunk in body.iter_chunks(STREAM_CHUNK):
        yield chunk


async def delete(s3: Any, bucket: str, key: str) -> None:
    await s3.delete_object(Bucket=bucket, Key=key)


async def list_page(
    s3: Any, bucket: str, prefix: str, *, delimiter: str | None, start_after: str | None, limit: int
) -> Listing:
    arguments: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": limit}
    if delimiter is not None:
        arguments["Delimiter"] = delimiter
    if start_after is not None:
        arguments["StartAfter"] = start_after
    answer = await s3.list_objects_v2(**arguments)
    objects = [
        ObjectMeta(
            key=item["Key"],
            size=int(item.get("Size", 0)),
            etag=str(item.get("ETag", "")),
            content_type="",  # a listing does not carry it
            last_modified=item["LastModified"],
        )
        for item in answer.get("Contents", [])
    ]
    prefixes = [str(item["Prefix"]) for item in answer.get("CommonPrefixes", [])]
    return Listing(objects, prefixes, bool(answer.get("IsTruncated")))


async def total_size(s3: Any, bucket: str, prefix: str) -> int:
    """Bytes stored under a prefix (every page of the listing)."""
    total, start_after = 0, None
    while True:
        page = await list_page(s3, bucket, prefix, delimiter=None, start_after=start_after, limit=1000)
        total += sum(item.size for item in page.objects)
        if not page.truncated or not page.objects:
            return total
        start_after = page.objects[-1].key


async def presign(
    s3: Any,
    bucket: str,
    key: str,
    *,
    method: str,
    expires_in: int,
    content_type: str | None = None,
    content_length: int | None = None,
) -> str:
    """A SigV4 query-signed URL; for PUT, Content-Type and Content-Length are signed headers, so the upload must
    send exactly those (a larger body than the one approved does not verify)."""
    params: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if content_type is not None:
        params["ContentType"] = content_type
    if content_length is not None:
        params["ContentLength"] = content_length
    operation = "get_object" if method == "GET" else "put_object"
    url: str = await s3.generate_presigned_url(operation, Params=params, ExpiresIn=expires_in)
    return url
