"""Fast checks of the objects surface's pure parts (no servers): key rules, cursors, the stored-secret check,
the usage meter and the per-route body limit."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from executor.data.credentials import SecretsUnavailableError
from executor.objects import keys
from executor.objects.clients import location
from executor.objects.endpoints import upload_body_limit
from executor.objects.usage import UsageMeter
from falcone.http.middleware import BodyLimitMiddleware
from falcone.http.problems import Problem
from falcone.naming import WorkspaceNames

PREFIX = "acme/prod/"


@pytest.mark.parametrize(
    "key",
    ["", "..", "../x", "a/../b", "a/..", ".", "./a", "a/./b", "a//b", "/a", "a/", "a\\b", "a\x00b", "a\nb", "\x7f"],
)
def test_keys_that_could_leave_the_prefix_are_refused(key: str) -> None:
    with pytest.raises(keys.InvalidKeyError):
        keys.check_key(key, PREFIX)


@pytest.mark.parametrize("key", ["a", "a/b/c.txt", "..a", "a..", "a/...", "ü/日本.txt", "with space", "a.b/.hidden"])
def test_plain_relative_keys_are_joined_to_the_prefix(key: str) -> None:
    assert keys.check_key(key, PREFIX) == PREFIX + key
    assert keys.relative(PREFIX + key, PREFIX) == key


def test_the_key_length_counts_the_prefix() -> None:
    room = keys.MAX_KEY_BYTES - len(PREFIX)
    assert keys.check_key("k" * room, PREFIX)
    with pytest.raises(keys.InvalidKeyError):
        keys.check_key("k" * (room + 1), PREFIX)
    with pytest.raises(keys.InvalidKeyError):
        keys.check_key("é" * (room // 2 + 1), PREFIX)  # bytes, not characters


def test_listing_prefixes_may_be_partial_but_never_traverse() -> None:
    assert keys.check_prefix("", PREFIX) == PREFIX
    assert keys.check_prefix("rep", PREFIX) == PREFIX + "rep"
    assert keys.check_prefix("a/b/", PREFIX) == PREFIX + "a/b/"
    for bad in ("../", "..", "a/../", "a/..", "/a", "a//", "a\\", "./"):
        with pytest.raises(keys.InvalidKeyError):
            keys.check_prefix(bad, PREFIX)


def test_cursors_resume_inside_the_prefix_and_forgeries_are_400() -> None:
    assert keys.decode_cursor(keys.encode_cursor("a/b/"), PREFIX) == PREFIX + "a/b/"
    for forged in ("", "!!!", "AA", "_w"):  # empty, not base64, a NUL, not UTF-8
        with pytest.raises(Problem) as refused:
            keys.decode_cursor(forged, PREFIX)
        assert refused.value.status == 400


def test_a_stored_secret_naming_another_location_fails_closed() -> None:
    names = WorkspaceNames(tenant="acme", slug="prod")
    own_bucket = {"bucket": names.bucket, "prefix": "", "access_key": names.storage_user, "secret_key": "s"}
    own_prefix = {**own_bucket, "bucket": "flc-shared", "prefix": names.object_prefix}
    assert location(names, own_bucket).bucket == names.bucket
    assert location(names, own_prefix).shared
    other = WorkspaceNames(tenant="acme", slug="dev")
    for wrong in (
        {**own_bucket, "bucket": other.bucket},
        {**own_prefix, "prefix": other.object_prefix},
        {**own_bucket, "access_key": other.storage_user},
        {**own_prefix, "prefix": ""},
        {"bucket": names.bucket},
    ):
        with pytest.raises(SecretsUnavailableError):
            location(names, wrong)


async def test_usage_is_listed_once_then_kept_current_by_our_writes() -> None:
    listings = 0

    def lister(total: int) -> Callable[[], Awaitable[int]]:
        async def load() -> int:
            nonlocal listings
            listings += 1
            return total

        return load

    meter = UsageMeter(ttl_s=60, max_entries=8)
    assert await meter.used("acme/prod", lister(100)) == 100
    meter.add("acme/prod", 50)
    meter.add("acme/prod", -20)
    assert await meter.used("acme/prod", lister(999)) == 130
    assert listings == 1
    meter.add("acme/dev", 10)  # nothing listed yet: nothing to adjust
    assert await meter.used("acme/dev", lister(7)) == 7


async def _echo(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(len(await request.body())))


def _limited_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/v1/objects/{path:path}", _echo, methods=["PUT", "POST"]),
            Route("/v1/collections", _echo, methods=["POST"]),
        ],
        middleware=[Middleware(BodyLimitMiddleware, max_bytes=1024, route_limit=upload_body_limit(8192))],
    )


@pytest.mark.parametrize(
    ("method", "path", "size", "status"),
    [
        ("PUT", "/v1/objects/b/k", 8192, 200),
        ("PUT", "/v1/objects/b/k", 8193, 413),
        ("POST", "/v1/objects/b/k/presign", 1025, 413),  # only uploads get the larger limit
        ("POST", "/v1/collections", 1024, 200),
        ("POST", "/v1/collections", 1025, 413),
    ],
)
async def test_object_uploads_have_a_body_limit_of_their_own(method: str, path: str, size: int, status: int) -> None:
    transport = httpx2.ASGITransport(app=_limited_app())

    async def streamed() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
        for _ in range(size):
            yield b"x"

    async with httpx2.AsyncClient(transport=transport, base_url="http://test") as client:
        for content in (b"x" * size, streamed()):
            response = await client.request(method, path, content=content)
            assert response.status_code == status
            if status == 413:
                assert response.headers["content-type"] == "application/problem+json"
