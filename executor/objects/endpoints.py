"""`/v1/objects/{bucket}/{key}`: the workspace's object storage (MinIO), keys relative to its location.

`{bucket}` is the bucket the workspace stack exported for the workspace (its own, or the shared bucket of a
starter workspace, whose keys live under a prefix the executor adds and strips). Uploads through the executor are
buffered and bounded; bigger objects go through a presigned PUT URL straight to the object store.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC
from email.utils import format_datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from executor.identity.dependencies import CurrentIdentity
from executor.objects.dependencies import Objects
from executor.objects.keys import MAX_KEY_BYTES
from executor.objects.repository import ObjectMeta
from executor.objects.schemas import ObjectOut, ObjectPage, PresignIn, PresignOut
from executor.objects.service import Opened
from falcone.http.problems import Problem, problem_responses

PREFIX = "/v1/objects"
router = APIRouter(prefix=PREFIX, tags=["objects"])

_ERRORS: dict[int | str, dict[str, Any]] = problem_responses(400, 401, 403, 404, 422, 503)
_WRITE_ERRORS = {**_ERRORS, **problem_responses(413)}
# One plain byte range (`bytes=0-99`, `bytes=100-`, `bytes=-100`); anything else is ignored, as RFC 9110 allows.
_RANGE = re.compile(r"^bytes=(?:\d{1,19}-\d{0,19}|-\d{1,19})$")
_ETAG_LIST = re.compile(r"^[!-~ ]{1,512}$")
_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "the object's bytes; Content-Type is stored with it",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}
Key = Annotated[str, Path(description="the object key, relative to the workspace's storage location")]


def upload_body_limit(max_object_bytes: int) -> Callable[[Scope], int | None]:
    """The request body limit of object uploads (the data routes keep the service's 1 MB)."""

    def limit(scope: Scope) -> int | None:
        uploading = scope["method"] == "PUT" and str(scope["path"]).startswith(f"{PREFIX}/")
        return max_object_bytes if uploading else None

    return limit


def _object_headers(meta: ObjectMeta) -> dict[str, str]:
    return {
        "Content-Type": meta.content_type,
        "Content-Length": str(meta.size),
        "ETag": meta.etag,
        "Last-Modified": format_datetime(meta.last_modified.astimezone(UTC), usegmt=True),
        "Accept-Ranges": "bytes",
        # Uploaded bytes are never interpreted as this API's own content (a stored text/html page runs nothing).
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
    }


class _ObjectStream(StreamingResponse):
    """A download that gives its connection back however the response ends (finished, failed, disconnected)."""

    def __init__(self, opened: Opened, status_code: int, headers: dict[str, str]) -> None:
        assert opened.body is not None
        super().__init__(opened.body, status_code=status_code, headers=headers, media_type=opened.meta.content_type)
        self.opened = opened

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.opened.close()


@router.get("/{bucket}", response_model=ObjectPage, responses=_ERRORS)
async def list_objects(
    bucket: str,
    identity: CurrentIdentity,
    objects: Objects,
    prefix: Annotated[str, Query(max_length=MAX_KEY_BYTES, description="keys starting with this")] = "",
    delimiter: Annotated[str | None, Query(pattern="^/$", description="'/' groups keys into prefixes")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="page size (keys and prefixes)")] = 100,
    cursor: Annotated[str | None, Query(max_length=2048, description="next_cursor of the previous page")] = None,
) -> ObjectPage:
    return await objects.list(identity, bucket, prefix=prefix, delimiter=delimiter, cursor=cursor, limit=limit)


@router.put(
    "/{bucket}/{key:path}",
    status_code=201,
    response_model=ObjectOut,
    responses={**_WRITE_ERRORS, 200: {"description": "replaced", "model": ObjectOut}},
    openapi_extra=_UPLOAD_BODY,
)
async def put_object(
    bucket: str, key: Key, request: Request, identity: CurrentIdentity, objects: Objects
) -> JSONResponse:
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise Problem(400, "Content-Length is not a number of bytes")
    try:
        out, created = await objects.put(
            identity,
            bucket,
            key,
            content_type=request.headers.get("content-type"),
            declared=int(declared) if declared is not None else None,
            body=request.stream(),
        )
    except ClientDisconnect:
        raise Problem(400, "the client went away before the body was complete") from None
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if created else 200)


@router.get(
    "/{bucket}/{key:path}",
    response_class=Response,
    responses={
        **_ERRORS,
        **problem_responses(416),
        200: {"description": "the object's bytes", "content": {"application/octet-stream": {}}},
        206: {"description": "the requested range of the object's bytes"},
        304: {"description": "If-None-Match matched: the client's copy is current"},
    },
)
async def get_object(
    bucket: str,
    key: Key,
    identity: CurrentIdentity,
    objects: Objects,
    range_: Annotated[str | None, Header(alias="range", description="one range: bytes=0-99")] = None,
    if_none_match: Annotated[str | None, Header(description="ETags of the client's copy")] = None,
) -> Response:
    byte_range = range_ if range_ is not None and _RANGE.fullmatch(range_) else None
    etags = if_none_match if if_none_match is not None and _ETAG_LIST.fullmatch(if_none_match) else None
    opened = await objects.download(identity, bucket, key, byte_range=byte_range, if_none_match=etags)
    if opened.body is None:
        opened.close()
        return Response(status_code=304, headers={"ETag": opened.meta.etag})
    headers = _object_headers(opened.meta)
    if opened.content_range is not None:
        headers["Content-Range"] = opened.content_range
    return _ObjectStream(opened, 206 if opened.content_range else 200, headers)


@router.head("/{bucket}/{key:path}", response_class=Response, responses=_ERRORS)
async def head_object(bucket: str, key: Key, identity: CurrentIdentity, objects: Objects) -> Response:
    meta = await objects.head(identity, bucket, key)
    return Response(headers=_object_headers(meta))


@router.delete("/{bucket}/{key:path}", status_code=204, response_class=Response, responses=_WRITE_ERRORS)
async def delete_object(bucket: str, key: Key, identity: CurrentIdentity, objects: Objects) -> Response:
    await objects.delete(identity, bucket, key)
    return Response(status_code=204)


@router.post(
    "/{bucket}/{key:path}/presign",
    response_model=PresignOut,
    responses={**_WRITE_ERRORS, 200: {"description": "a URL for the object store itself"}},
)
async def presign_object(
    bucket: str, key: Key, body: PresignIn, identity: CurrentIdentity, objects: Objects
) -> PresignOut:
    return await objects.presign(identity, bucket, key, body)
