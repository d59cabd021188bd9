"""The object storage surface (`/v1/objects`) on the real MinIO: put/get/head/delete, listing with prefixes,
delimiters and cursors, ranges, presigned URLs used with a plain HTTP client, limits and clear errors.

Each behaviour runs on a starter workspace (a prefix of the shared bucket) and a growth workspace (a bucket of
its own): the two storage layouts a key must behave the same in.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import httpx2
import pytest
from starlette.datastructures import Headers

from executor.app import create_app
from tests.executor.conftest import MAX_OBJECT_BYTES, Workspace, World

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]

PROBLEM = "application/problem+json"
GIB = 1024**3


def bucket_of(world: World, workspace: Workspace) -> str:
    return str(world.stack_outputs[workspace.names.stack]["bucket"])


def object_url(world: World, workspace: Workspace, key: str) -> str:
    return f"/v1/objects/{bucket_of(world, workspace)}/{quote(key, safe='/')}"


def _by_plan(world: World, plan: str) -> Workspace:
    return next(w for w in world.workspaces if w.plan == plan and w.names.slug == "prod")


@pytest.fixture(params=["starter", "growth"])
def workspace(request: pytest.FixtureRequest, world: World) -> Workspace:
    return _by_plan(world, str(request.param))


def _fresh(name: str) -> str:
    return f"api-{secrets.token_hex(4)}/{name}"


async def test_put_get_head_delete_round_trip(world: World, workspace: Workspace, client: httpx2.AsyncClient) -> None:
    key = _fresh("hello world.txt")
    url = object_url(world, workspace, key)
    headers = {**workspace.headers(), "content-type": "text/plain; charset=utf-8"}
    created = await client.put(url, content=b"hello falcone", headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["key"] == key
    assert created.json()["size"] == 13
    replaced = await client.put(url, content=b"hello again!!", headers=headers)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["etag"] != created.json()["etag"]

    got = await client.get(url, headers=workspace.headers())
    assert got.status_code == 200
    assert got.content == b"hello again!!"
    assert got.headers["content-type"] == "text/plain; charset=utf-8"
    assert got.headers["etag"] == replaced.json()["etag"]
    assert got.headers["x-content-type-options"] == "nosniff"
    head = await client.head(url, headers=workspace.headers())
    assert head.status_code == 200
    assert head.headers["content-length"] == "13"
    assert head.headers["etag"] == got.headers["etag"]
    assert head.content == b""

    assert (await client.delete(url, headers=workspace.headers())).status_code == 204
    gone = await client.get(url, headers=workspace.headers())
    assert gone.status_code == 404
    assert gone.headers["content-type"] == PROBLEM
    assert (await client.head(url, headers=workspace.headers())).status_code == 404
    again = await client.delete(url, headers=workspace.headers())
    assert again.status_code == 404
    assert again.json()["status"] == 404


async def test_content_type_defaults_to_octet_stream(
    world: World, workspace: Workspace, client: httpx2.AsyncClient
) -> None:
    url = object_url(world, workspace, _fresh("blob"))
    stored = await client.put(url, content=bytes(range(256)), headers=workspace.headers())
    assert stored.status_code == 201, stored.text
    got = await client.get(url, headers=workspace.headers())
    assert got.content == bytes(range(256))
    assert got.headers["content-type"] == "application/octet-stream"


async def test_range_and_conditional_reads(world: World, workspace: Workspace, client: httpx2.AsyncClient) -> None:
    url = object_url(world, workspace, _fresh("digits"))
    assert (await client.put(url, content=b"0123456789", headers=workspace.headers())).status_code == 201
    part = await client.get(url, headers={**workspace.headers(), "range": "bytes=2-5"})
    assert part.status_code == 206
    assert part.content == b"2345"
    assert part.headers["content-range"] == "bytes 2-5/10"
    tail = await client.get(url, headers={**workspace.headers(), "range": "bytes=-3"})
    assert (tail.status_code, tail.content) == (206, b"789")
    outside = await client.get(url, headers={**workspace.headers(), "range": "bytes=50-60"})
    assert outside.status_code == 416
    assert outside.headers["content-type"] == PROBLEM
    # A Range this API does not serve (several ranges, another unit) is ignored: the whole object.
    ignored = await client.get(url, headers={**workspace.headers(), "range": "bytes=0-1,4-5"})
    assert (ignored.status_code, ignored.content) == (200, b"0123456789")
    etag = ignored.headers["etag"]
    current = await client.get(url, headers={**workspace.headers(), "if-none-match": etag})
    assert current.status_code == 304
    assert current.content == b""
    stale = await client.get(url, headers={**workspace.headers(), "if-none-match": '"not-the-etag"'})
    assert (stale.status_code, stale.content) == (200, b"0123456789")


async def test_listing_pages_with_prefix_delimiter_and_cursor(
    world: World, workspace: Workspace, client: httpx2.AsyncClient
) -> None:
    root = _fresh("")
    names = ["a/1", "a/2", "b/1", "c", "d", "e/x/y", "f"]
    for name in names:
        stored = await client.put(
            object_url(world, workspace, root + name), content=name.encode(), headers=workspace.headers()
        )
        assert stored.status_code == 201, stored.text
    listing = f"/v1/objects/{bucket_of(world, workspace)}"

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"prefix": root, "limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await client.get(listing, params=params, headers=workspace.headers())
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["items"]) <= 2
        seen += [item["key"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [root + name for name in names]  # keys relative to the workspace, in order, once each
    assert pages == 4

    grouped: list[str] = []
    prefixes: list[str] = []
    cursor = None
    while True:
        params = {"prefix": root, "delimiter": "/", "limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await client.get(listing, params=params, headers=workspace.headers())
        assert page.status_code == 200, page.text
        grouped += [item["key"] for item in page.json()["items"]]
        prefixes += page.json()["prefixes"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert grouped == [root + name for name in ("c", "d", "f")]
    assert prefixes == [root + name for name in ("a/", "b/", "e/")]  # a folder is never repeated across pages

    inside = await client.get(listing, params={"prefix": root + "a/"}, headers=workspace.headers())
    assert [item["key"] for item in inside.json()["items"]] == [root + "a/1", root + "a/2"]
    assert inside.json()["items"][0]["size"] == 3
    partial = await client.get(listing, params={"prefix": root + "e/x/"}, headers=workspace.headers())
    assert [item["key"] for item in partial.json()["items"]] == [root + "e/x/y"]


async def test_presigned_put_and_get_urls_work_against_the_object_store(
    world: World, workspace: Workspace, client: httpx2.AsyncClient
) -> None:
    key = _fresh("report.csv")
    url = object_url(world, workspace, key)
    before = datetime.now(UTC)
    signed = await client.post(
        f"{url}/presign",
        json={"method": "PUT", "content_length": 9, "content_type": "text/csv", "expires_in": 120},
        headers=workspace.headers(),
    )
    assert signed.status_code == 200, signed.text
    put = signed.json()
    assert put["method"] == "PUT"
    assert put["headers"] == {"Content-Type": "text/csv", "Content-Length": "9"}
    expires_at = datetime.fromisoformat(put["expires_at"])
    assert before + timedelta(seconds=119) <= expires_at <= datetime.now(UTC) + timedelta(seconds=121)
    async with httpx2.AsyncClient() as plain:
        longer = await plain.put(put["url"], content=b"a,b,c\n1,2,3\n", headers={"content-type": "text/csv"})
        assert longer.status_code == 403  # the size is signed: a bigger body than approved does not verify
        uploaded = await plain.put(put["url"], content=b"a,b\n1,22\n", headers={"content-type": "text/csv"})
        assert uploaded.status_code == 200, uploaded.text
        through_api = await client.get(url, headers=workspace.headers())
        assert (through_api.content, through_api.headers["content-type"]) == (b"a,b\n1,22\n", "text/csv")

        signed_get = await client.post(f"{url}/presign", json={"method": "GET"}, headers=workspace.headers())
        assert signed_get.status_code == 200, signed_get.text
        assert signed_get.json()["headers"] == {}
        fetched = await plain.get(signed_get.json()["url"])
        assert (fetched.status_code, fetched.content) == (200, b"a,b\n1,22\n")
        # A signed GET is a GET: it does not write.
        assert (await plain.put(signed_get.json()["url"], content=b"x")).status_code == 403


async def test_presigned_url_expires(world: World, client: httpx2.AsyncClient) -> None:
    workspace = _by_plan(world, "growth")
    url = object_url(world, workspace, _fresh("short-lived"))
    assert (await client.put(url, content=b"soon gone", headers=workspace.headers())).status_code == 201
    signed = await client.post(f"{url}/presign", json={"method": "GET", "expires_in": 1}, headers=workspace.headers())
    assert signed.status_code == 200, signed.text
    await asyncio.sleep(2.5)
    async with httpx2.AsyncClient() as plain:
        expired = await plain.get(signed.json()["url"])
    assert expired.status_code == 403
    assert b"expired" in expired.content.lower()


async def test_presign_requests_are_checked(world: World, client: httpx2.AsyncClient) -> None:
    workspace = _by_plan(world, "growth")
    url = object_url(world, workspace, _fresh("nothing-here"))
    headers = workspace.headers()
    absent = await client.post(f"{url}/presign", json={"method": "GET"}, headers=headers)
    assert absent.status_code == 404
    for body in (
        {"method": "PUT"},  # a PUT URL is signed for its size
        {"method": "GET", "expires_in": 0},
        {"method": "GET", "expires_in": 7 * 24 * 3600 + 1},
        {"method": "DELETE"},
        {"method": "GET", "content_length": 3},
        {"method": "PUT", "content_length": -1},
        {"method": "PUT", "content_length": 1, "content_type": "text/plain\nx-injected: 1"},
        {"method": "GET", "surprise": True},
    ):
        refused = await client.post(f"{url}/presign", json=body, headers=headers)
        assert refused.status_code == 422, (body, refused.text)
        assert refused.headers["content-type"] == PROBLEM


async def test_the_plan_bounds_presigned_uploads(world: World, client: httpx2.AsyncClient) -> None:
    """Starter stores 1 GiB per workspace, growth 20 GiB: a 1 GiB + 1 byte upload is refused to the first only."""
    body = {"method": "PUT", "content_length": GIB + 1}
    starter, growth = _by_plan(world, "starter"), _by_plan(world, "growth")
    refused = await client.post(
        f"{object_url(world, starter, _fresh('big.bin'))}/presign", json=body, headers=starter.headers()
    )
    assert refused.status_code == 413, refused.text
    assert refused.json()["limit_bytes"] == GIB
    allowed = await client.post(
        f"{object_url(world, growth, _fresh('big.bin'))}/presign", json=body, headers=growth.headers()
    )
    assert allowed.status_code == 200, allowed.text


async def test_upload_over_the_limit_is_413_before_the_body_is_read(
    world: World, workspace: Workspace, client: httpx2.AsyncClient
) -> None:
    url = object_url(world, workspace, _fresh("too-big"))
    pulled = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(64):
            pulled += 1
            yield b"x" * (128 * 1024)

    declared = {**workspace.headers(), "content-length": str(MAX_OBJECT_BYTES * 2)}
    refused = await client.put(url, content=body(), headers=declared)
    assert refused.status_code == 413
    assert refused.headers["content-type"] == PROBLEM
    assert pulled <= 1  # refused on Content-Length: the body was not read
    # No Content-Length (chunked): refused while reading, as soon as the limit is passed.
    streamed = await client.put(url, content=body(), headers=workspace.headers())
    assert streamed.status_code == 413, streamed.text
    assert streamed.headers["content-type"] == PROBLEM
    assert (await client.head(url, headers=workspace.headers())).status_code == 404  # nothing stored

    fits = await client.put(url, content=b"y" * MAX_OBJECT_BYTES, headers=workspace.headers())
    assert fits.status_code == 201, fits.text  # control: at the limit is fine
    assert (await client.head(url, headers=workspace.headers())).headers["content-length"] == str(MAX_OBJECT_BYTES)


async def test_data_routes_keep_their_own_body_limit(world: World, client: httpx2.AsyncClient) -> None:
    """Object uploads may be larger than 1 MB; a data request may not."""
    workspace = _by_plan(world, "growth")
    two_mb = b"z" * (2 * 1024 * 1024)
    upload = await client.put(
        object_url(world, workspace, _fresh("two-mb")), content=two_mb, headers=workspace.headers()
    )
    assert upload.status_code == 201, upload.text
    data = await client.post(
        "/v1/collections/todos/documents",
        content=two_mb,
        headers={**workspace.headers(), "content-type": "application/json"},
    )
    assert data.status_code == 413
    presign = await client.post(
        f"{object_url(world, workspace, _fresh('x'))}/presign",
        content=two_mb,
        headers={**workspace.headers(), "content-type": "application/json"},
    )
    assert presign.status_code == 413


@pytest.mark.parametrize(
    "raw_key",
    [
        "%2e%2e/escape",
        "a/%2e%2e/%2e%2e/escape",
        "a/%2E/b",
        "a//b",
        "%2Fabsolute",
        "a%5C..%5Cb",
        "trailing/",
        "tab%09",
        "delete%7F",
        "x" * 1025,
    ],
)
async def test_keys_that_are_not_plain_relative_names_are_400(
    raw_key: str, world: World, workspace: Workspace, client: httpx2.AsyncClient
) -> None:
    url = f"/v1/objects/{bucket_of(world, workspace)}/{raw_key}"
    headers = workspace.headers()
    for response in (
        await client.put(url, content=b"x", headers=headers),
        await client.get(url, headers=headers),
        await client.head(url, headers=headers),
        await client.delete(url, headers=headers),
        await client.post(f"{url}/presign", json={"method": "PUT", "content_length": 1}, headers=headers),
    ):
        assert response.status_code == 400, (raw_key, response.request.method, response.text)
        if response.request.method != "HEAD":
            assert response.headers["content-type"] == PROBLEM


async def test_listing_refuses_traversing_prefixes_and_forged_cursors(
    world: World, workspace: Workspace, client: httpx2.AsyncClient
) -> None:
    listing = f"/v1/objects/{bucket_of(world, workspace)}"
    headers = workspace.headers()
    for params in (
        {"prefix": "../"},
        {"prefix": "a/../"},
        {"prefix": "/abs"},
        {"prefix": "a//"},
        {"cursor": "!!!not-base64!!!"},
        {"cursor": "AA"},  # decodes to a NUL
        {"cursor": ""},
        {"delimiter": "|"},
        {"limit": "0"},
        {"limit": "1001"},
    ):
        refused = await client.get(listing, params=params, headers=headers)
        assert refused.status_code in {400, 422}, (params, refused.text)
        assert refused.headers["content-type"] == PROBLEM
    assert (await client.get(listing, params={"prefix": ""}, headers=headers)).status_code == 200  # control


async def test_unknown_bucket_is_404(world: World, workspace: Workspace, client: httpx2.AsyncClient) -> None:
    headers = workspace.headers()
    for url in ("/v1/objects/no-such-bucket", "/v1/objects/no-such-bucket/some/key"):
        missing = await client.get(url, headers=headers)
        assert missing.status_code == 404
        assert missing.headers["content-type"] == PROBLEM
    stored = await client.put("/v1/objects/no-such-bucket/k", content=b"x", headers=headers)
    assert stored.status_code == 404


async def test_content_type_that_is_not_a_media_type_is_400(world: World, client: httpx2.AsyncClient) -> None:
    workspace = _by_plan(world, "growth")
    url = object_url(world, workspace, _fresh("typed"))
    refused = await client.put(url, content=b"x", headers={**workspace.headers(), "content-type": "a" * 300})
    assert refused.status_code == 400
    assert (await client.head(url, headers=workspace.headers())).status_code == 404


async def test_a_newline_in_a_key_matches_no_route(world: World, client: httpx2.AsyncClient) -> None:
    """The router's path pattern does not span a line break: such a key is a plain 404, never stored."""
    workspace = _by_plan(world, "growth")
    url = f"/v1/objects/{bucket_of(world, workspace)}/new%0Aline"
    for response in (
        await client.put(url, content=b"x", headers=workspace.headers()),
        await client.get(url, headers=workspace.headers()),
    ):
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM
    listing = await client.get(
        f"/v1/objects/{bucket_of(world, workspace)}", params={"prefix": "new"}, headers=workspace.headers()
    )
    assert listing.json()["items"] == []


async def test_storage_clients_are_bounded_and_a_download_outlives_its_clients_eviction(world: World) -> None:
    """With room for one S3 client, alternating workspaces closes the least recently used one and reopens it
    later; a download still streaming on an evicted client finishes first."""
    app = create_app(world.settings.model_copy(update={"max_storage_clients": 1}))
    big = secrets.token_bytes(1024 * 1024)
    async with (
        app.router.lifespan_context(app),
        httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://executor") as bounded,
    ):
        first = _by_plan(world, "regulated")
        key = _fresh("big.bin")
        stored = await bounded.put(object_url(world, first, key), content=big, headers=first.headers())
        assert stored.status_code == 201, stored.text
        identity = await app.state.identity.resolve(Headers(headers=first.headers()))
        opened = await app.state.objects.download(
            identity, bucket_of(world, first), key, byte_range=None, if_none_match=None
        )
        assert opened.body is not None
        head = await anext(opened.body)
        for workspace in [*world.workspaces[:3], first]:
            listed = await bounded.get(f"/v1/objects/{bucket_of(world, workspace)}", headers=workspace.headers())
            assert listed.status_code == 200, listed.text
            assert app.state.objects.clients.open_clients() == 1
        rest = b"".join([chunk async for chunk in opened.body])
        opened.close()
        assert head + rest == big
