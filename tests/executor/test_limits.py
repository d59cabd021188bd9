"""Per-key rate limits from the plan, and `Idempotency-Key` on POST, through HTTP on the real platform.

The idempotency tests write `notes` rows in the enterprise workspaces, away from the tests that count rows.

The world's executor runs with headroom (`RATE_LIMIT_HEADROOM`) so other tests' loops are not throttled; the limit
test runs an executor of its own at a small fraction of the plan's figure so a handful of requests reach it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx2
import psycopg
import pytest

from executor.app import create_app
from falcone.plans import catalog
from falcone.routes import PLAN_BURST_FRACTION
from tests.executor.conftest import Seed, World

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]

# The starter plan's 600/min becomes 12/min: a bucket of 3 requests.
SCALE = 0.02


@pytest.fixture
async def strict_client(world: World) -> AsyncIterator[httpx2.AsyncClient]:
    app = create_app(world.settings.model_copy(update={"rate_limit_multiplier": SCALE}))
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://executor") as http:
            yield http


async def test_one_keys_burst_does_not_throttle_another_key(
    world: World, seed: Seed, strict_client: httpx2.AsyncClient
) -> None:
    noisy, quiet = world.workspaces[0], world.workspaces[1]
    assert noisy.plan == "starter"
    burst = int(catalog().plan("starter").quotas.api_calls_per_minute * SCALE * PLAN_BURST_FRACTION)
    target = seed.todo_ids[noisy.label][0]
    statuses = [
        (await strict_client.get(f"/v1/collections/todos/documents/{target}", headers=noisy.headers())).status_code
        for _ in range(burst)
    ]
    assert statuses == [200] * burst  # the control: within the bucket everything is served
    limited = await strict_client.get(f"/v1/collections/todos/documents/{target}", headers=noisy.headers())
    assert limited.status_code == 429, limited.text
    assert limited.headers["content-type"].startswith("application/problem+json")
    assert int(limited.headers["retry-after"]) >= 1
    assert seed.marker[noisy.label] not in limited.text
    # Another key of the same workspace, and a key of another workspace, each have a bucket of their own.
    same_workspace = await strict_client.get("/rest/v1/todos?select=id&limit=1", headers=noisy.headers("anon"))
    assert same_workspace.status_code == 200, same_workspace.text
    other = seed.todo_ids[quiet.label][0]
    elsewhere = await strict_client.get(f"/v1/collections/todos/documents/{other}", headers=quiet.headers())
    assert elsewhere.status_code == 200, elsewhere.text


async def _count(client: httpx2.AsyncClient, headers: dict[str, str], title: str) -> int:
    listed = await client.get(f"/rest/v1/notes?select=id&title=eq.{title}", headers=headers)
    assert listed.status_code == 200, listed.text
    return len(listed.json())


async def test_a_retried_post_with_the_same_idempotency_key_inserts_once(
    world: World, seed: Seed, client: httpx2.AsyncClient
) -> None:
    _ = seed
    workspace = world.workspaces[6]
    title = f"idempotent-{uuid.uuid4().hex[:8]}"
    key = {"Idempotency-Key": uuid.uuid4().hex}
    headers = workspace.headers() | key
    first = await client.post("/v1/collections/notes/documents", json={"title": title}, headers=headers)
    assert first.status_code == 201, first.text
    again = await client.post("/v1/collections/notes/documents", json={"title": title}, headers=headers)
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers.get("idempotency-replayed") == "true"
    assert await _count(client, workspace.headers(), title) == 1
    # The same key with another body is a client error, and does nothing.
    other = await client.post("/v1/collections/notes/documents", json={"title": f"{title}-x"}, headers=headers)
    assert other.status_code == 422, other.text
    assert await _count(client, workspace.headers(), f"{title}-x") == 0
    # Without the header, a retry is a second insert (the control that the header is what made it once).
    for _ in range(2):
        plain = await client.post("/v1/collections/notes/documents", json={"title": title}, headers=workspace.headers())
        assert plain.status_code == 201
    assert await _count(client, workspace.headers(), title) == 3


async def test_idempotency_records_belong_to_their_credential(
    world: World, seed: Seed, client: httpx2.AsyncClient
) -> None:
    _ = seed
    first_ws, second_ws = world.workspaces[6], world.workspaces[7]
    key = {"Idempotency-Key": uuid.uuid4().hex}
    title = f"shared-key-{uuid.uuid4().hex[:8]}"
    for workspace in (first_ws, second_ws):
        answer = await client.post(
            "/v1/collections/notes/documents", json={"title": title}, headers=workspace.headers() | key
        )
        assert answer.status_code == 201, answer.text
        assert "idempotency-replayed" not in answer.headers  # not the other workspace's stored answer
        assert await _count(client, workspace.headers(), title) == 1


async def test_an_invalid_key_with_an_idempotency_key_is_401_and_recorded_nowhere(
    world: World, client: httpx2.AsyncClient
) -> None:
    key = {"Idempotency-Key": uuid.uuid4().hex, "apikey": "flc_service_" + "x" * 40}
    refused = await client.post("/v1/collections/notes/documents", json={"title": "x"}, headers=key)
    assert refused.status_code == 401
    with psycopg.connect(world.deployment.metadata_dsn("keys")) as connection:
        stored = connection.execute(
            "SELECT count(*) FROM data_idempotency_records WHERE key = %s", (key["Idempotency-Key"],)
        ).fetchone()
    assert stored == (0,)
