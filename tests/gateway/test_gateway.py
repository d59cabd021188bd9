"""The gateway (Envoy, configured from the route catalogue) in front of the real automation service and executor,
black-box through its port; each threat has its test, each refusal a positive control next to it."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import jwt
import pytest

from falcone.gateway.config import bucket
from falcone.routes import catalog
from tests.automation.api import OperatorToken
from tests.executor.conftest import Seed, World
from tests.executor.test_tokens import _forging_client, _service_account, _token
from tests.gateway.conftest import (
    CORS_ORIGIN,
    STRICT_MULTIPLIER,
    ExecutorProcess,
    GatewayProcess,
)

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def key_forms(key: str) -> list[dict[str, str]]:
    """Every way a client may present an API key."""
    return [{"apikey": key}, {"x-api-key": key}, bearer(key), {"Authorization": f"ApiKey {key}"}]


def assert_problem(response: httpx2.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["correlation_id"] == response.headers["x-correlation-id"]
    return body


def owners(response: httpx2.Response) -> set[str]:
    return {row["data"]["owner"] for row in response.json()}


async def served_as(executor: ExecutorProcess, correlation_id: str) -> dict[str, Any]:
    """The executor's access line of the request with that correlation id: who it served the request as. The
    line is written once the response is sent, so it may trail the response a little (bounded wait)."""
    lines: list[dict[str, Any]] = []
    for _ in range(100):
        lines = [line for line in executor.access_lines() if line.get("correlation_id") == correlation_id]
        if lines:
            break
        await asyncio.sleep(0.1)
    (line,) = lines
    return line


# --- privilege domains ------------------------------------------------------------------------------------------


async def test_api_key_on_a_structural_route_is_refused(
    world: World, seed: Seed, client: httpx2.AsyncClient, operator_token: OperatorToken
) -> None:
    key = world.workspaces[0].service_key
    for method, path in (
        ("GET", "/v1/tenants"),
        ("POST", "/v1/tenants"),
        ("GET", "/v1/operations"),
        ("GET", "/v1/plans"),
    ):
        for headers in key_forms(key):
            refused = await client.request(method, path, headers=headers, json={} if method == "POST" else None)
            body = assert_problem(refused, 403)
            assert "data API" in body["detail"]
    # controls: the key works on the data API, and the structural route serves a platform token
    assert owners(await client.get("/rest/v1/todos", headers={"apikey": key})) == {
        seed.marker[world.workspaces[0].label]
    }
    listed = await client.get("/v1/tenants?limit=200", headers=bearer(operator_token()))
    assert listed.status_code == 200, listed.text
    assert {tenant["slug"] for tenant in listed.json()["items"]} >= set(world.tenants)


async def test_workspace_token_on_a_structural_route_is_refused(
    world: World, client: httpx2.AsyncClient, operator_token: OperatorToken
) -> None:
    # starter: a workspace client of the platform realm itself; its token verifies, but it is a data credential
    shared_realm = _token(world, *_service_account(world, 0))
    assert jwt.decode(shared_realm, options={"verify_signature": False})["iss"].endswith(
        f"/realms/{world.deployment.outputs.realm}"
    )
    body = assert_problem(await client.get("/v1/tenants", headers=bearer(shared_realm)), 403)
    assert "platform API client" in body["detail"]
    # growth: a tenant realm's token is no credential of the structural API at all
    own_realm = _token(world, *_service_account(world, 2))
    assert_problem(await client.get("/v1/tenants", headers=bearer(own_realm)), 401)
    assert (await client.get("/v1/tenants", headers=bearer(operator_token()))).status_code == 200  # control


async def test_platform_token_is_not_a_data_credential(
    world: World, seed: Seed, client: httpx2.AsyncClient, operator_token: OperatorToken
) -> None:
    for path in ("/rest/v1/todos", "/v1/collections", "/v1/collections/todos/documents"):
        body = assert_problem(await client.get(path, headers=bearer(operator_token())), 403)
        assert "not a data credential" in body["detail"]
        assert not any(marker in body["detail"] for marker in seed.marker.values())
    workspace = world.workspaces[0]  # control: the workspace's own token reads its rows
    token = _token(world, *_service_account(world, 0))
    assert owners(await client.get("/rest/v1/todos", headers=bearer(token))) == {seed.marker[workspace.label]}


# --- identity headers ---------------------------------------------------------------------------------------------


def _identity_headers(world: World, index: int) -> dict[str, str]:
    assert world.settings.gateway_secret is not None
    victim = world.workspaces[index]
    return {
        "x-tenant-id": victim.names.tenant,
        "x-workspace-id": victim.names.slug,
        "x-pg-role": "service",
        "x-gateway-secret": world.settings.gateway_secret.get_secret_value(),
        "X-Auth-Subject": "mallory",
        "X-Auth-Roles": "platform_admin",
    }


async def test_spoofed_identity_headers_never_reach_the_executor(
    world: World, seed: Seed, client: httpx2.AsyncClient, executor_process: ExecutorProcess
) -> None:
    spoofed = _identity_headers(world, 2)
    # Even with the real secret (a leaked one), a client's identity headers are dropped: no credential is left.
    assert_problem(await client.get("/rest/v1/todos", headers=spoofed), 401)
    async with httpx2.AsyncClient(base_url=executor_process.url) as direct:  # control: they would have worked
        assert owners(await direct.get("/rest/v1/todos", headers=spoofed)) == {seed.marker[world.workspaces[2].label]}


async def test_executor_serves_the_gateways_identity_not_the_clients(
    world: World, seed: Seed, client: httpx2.AsyncClient, executor_process: ExecutorProcess
) -> None:
    own = world.workspaces[0]
    token = _token(world, *_service_account(world, 0))
    subject = jwt.decode(token, options={"verify_signature": False})["sub"]
    correlation = f"spoof-{uuid.uuid4().hex}"
    headers = {**_identity_headers(world, 2), **bearer(token), "x-correlation-id": correlation}
    served = await client.get("/rest/v1/todos", headers=headers)
    assert owners(served) == {seed.marker[own.label]}
    line = await served_as(executor_process, correlation)
    # The token went no further than the gateway: the executor served the identity the gateway verified.
    assert (line["credential"], line["subject"]) == ("gateway", subject)
    assert (line["tenant"], line["workspace"]) == (own.names.tenant, own.names.slug)
    # An API key is verified by the executor itself; the spoofed headers change nothing there either.
    keyed = f"spoof-key-{uuid.uuid4().hex}"
    with_key = {**_identity_headers(world, 2), **own.headers(), "x-correlation-id": keyed}
    assert owners(await client.get("/rest/v1/todos", headers=with_key)) == {seed.marker[own.label]}
    line = await served_as(executor_process, keyed)
    assert (line["credential"], line["tenant"], line["workspace"]) == ("service", own.names.tenant, own.names.slug)


# --- tokens and realms ------------------------------------------------------------------------------------------


async def test_a_tenant_realm_cannot_speak_for_another_tenant(
    world: World, seed: Seed, client: httpx2.AsyncClient
) -> None:
    """The growth tenant controls its realm: a client there stamping the starter tenant's id into its tokens is
    refused, because the registry names another realm for the starter tenant."""
    victim, attacker_realm = world.workspaces[0], str(world.tenants[world.workspaces[2].names.tenant]["realm"])
    client_id, secret = _forging_client(world, attacker_realm, victim.names.tenant, victim.names.slug)
    forged = _token(world, attacker_realm, client_id, secret)
    refused = await client.get("/rest/v1/todos", headers=bearer(forged))
    assert_problem(refused, 403)
    assert seed.marker[victim.label] not in refused.text
    legit = _token(world, *_service_account(world, 0))  # control: the victim's own realm's token works
    assert owners(await client.get("/rest/v1/todos", headers=bearer(legit))) == {seed.marker[victim.label]}


async def _status_becomes(client: httpx2.AsyncClient, headers: dict[str, str], status: int) -> int:
    """Poll until the gateway answers `status` (bounded: the registry is read every half second)."""
    seen = 0
    for _ in range(100):
        seen = (await client.get("/rest/v1/todos", headers=headers)).status_code
        if seen == status:
            break
        await asyncio.sleep(0.2)
    return seen


async def test_trusted_realms_follow_the_registry(world: World, client: httpx2.AsyncClient) -> None:
    workspace = world.workspaces[2]
    token = _token(world, *_service_account(world, 2))
    assert (await client.get("/rest/v1/todos", headers=bearer(token))).status_code == 200  # control
    with world.metadata() as connection:
        connection.execute(
            "UPDATE tenants SET outputs = jsonb_set(outputs, '{realm}', %s) WHERE slug = %s",
            (json.dumps(world.deployment.outputs.realm), workspace.names.tenant),
        )
    try:
        # the tenant's realm now vouches for nobody: the gateway no longer even verifies its tokens
        assert await _status_becomes(client, bearer(token), 401) == 401
    finally:
        with world.metadata() as connection:
            connection.execute(
                "UPDATE tenants SET outputs = jsonb_set(outputs, '{realm}', %s) WHERE slug = %s",
                (json.dumps(world.tenants[workspace.names.tenant]["realm"]), workspace.names.tenant),
            )
    assert await _status_becomes(client, bearer(token), 200) == 200


# --- limits -------------------------------------------------------------------------------------------------------


@pytest.fixture
async def strict(strict_gateway: GatewayProcess) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=strict_gateway.url, timeout=30) as http:
        yield http


async def test_each_api_key_has_its_own_rate_limit(world: World, seed: Seed, strict: httpx2.AsyncClient) -> None:
    route = catalog().route("GET", "/v1/collections/todos/documents/1")
    assert route is not None
    burst = bucket(catalog(), route, STRICT_MULTIPLIER).max_tokens
    noisy, quiet = world.workspaces[0], world.workspaces[1]
    path = f"/v1/collections/todos/documents/{seed.todo_ids[noisy.label][0]}"
    statuses = [(await strict.get(path, headers=noisy.headers())).status_code for _ in range(burst)]
    assert statuses == [200] * burst  # within the bucket everything is served
    for _ in range(3 * burst):  # refills are slow (one every few seconds): the bucket runs dry within this
        limited = await strict.get(path, headers=noisy.headers())
        if limited.status_code == 429:
            break
    assert_problem(limited, 429)
    assert int(limited.headers["retry-after"]) >= 1
    assert seed.marker[noisy.label] not in limited.text
    # Another key of the same workspace and a key of another workspace each have a bucket of their own.
    assert (await strict.get("/rest/v1/notes?select=id&limit=1", headers=noisy.headers("anon"))).status_code == 200
    other = f"/v1/collections/todos/documents/{seed.todo_ids[quiet.label][0]}"
    assert (await strict.get(other, headers=quiet.headers())).status_code == 200


async def test_oversized_bodies_are_413(
    world: World, seed: Seed, client: httpx2.AsyncClient, operator_token: OperatorToken
) -> None:
    workspace = world.workspaces[1]
    limit = catalog().route("POST", "/rest/v1/todos").body_limit  # type: ignore[union-attr]
    too_large = b'{"data": "' + b"x" * limit + b'"}'
    assert_problem(await client.post("/rest/v1/todos", content=too_large, headers=workspace.headers()), 413)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while it arrives
        for start in range(0, len(too_large), 65_536):
            yield too_large[start : start + 65_536]

    chunked = await client.post("/rest/v1/todos", content=chunks(), headers=workspace.headers())
    assert_problem(chunked, 413)
    provisioning = catalog().route("POST", "/v1/tenants").body_limit  # type: ignore[union-attr]
    structural = await client.post(
        "/v1/tenants",
        content=b"{" + b" " * provisioning + b"}",
        headers={**bearer(operator_token()), "content-type": "application/json"},
    )
    assert_problem(structural, 413)
    # control: a body within the limit is served
    row = {"id": 900_000 + seed.todo_ids[workspace.label][0], "data": {"owner": seed.marker[workspace.label]}}
    created = await client.post("/rest/v1/todos", json=row, headers=workspace.headers())
    assert created.status_code == 201, created.text


# --- correlation ids, CORS, what is not routed ---------------------------------------------------------------------


async def test_correlation_id_is_echoed_and_propagated(
    world: World, seed: Seed, client: httpx2.AsyncClient, executor_process: ExecutorProcess
) -> None:
    workspace = world.workspaces[3]
    given = f"corr-{uuid.uuid4().hex}"
    served = await client.get("/rest/v1/todos", headers={**workspace.headers(), "X-Correlation-Id": given})
    assert (served.status_code, served.headers["x-correlation-id"]) == (200, given)
    assert (await served_as(executor_process, given))["tenant"] == workspace.names.tenant
    generated = await client.get("/rest/v1/todos", headers=workspace.headers())
    assert generated.headers["x-correlation-id"]  # one is made when the client sends none, and passed on
    assert (await served_as(executor_process, generated.headers["x-correlation-id"]))["status"] == 200
    # the gateway's own refusals carry it too, and an unusable one is replaced
    refused = await client.get("/rest/v1/todos", headers={"X-Correlation-Id": given})
    assert assert_problem(refused, 401)["correlation_id"] == given
    replaced = await client.get("/v1/plans", headers={"X-Correlation-Id": "not an id\t!"})
    assert replaced.status_code == 200
    assert replaced.headers["x-correlation-id"] not in ("", "not an id\t!")


async def test_cors_answers_only_allowed_origins(client: httpx2.AsyncClient) -> None:
    preflight = {"Origin": CORS_ORIGIN, "Access-Control-Request-Method": "POST"}
    allowed = await client.options("/rest/v1/todos", headers=preflight)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == CORS_ORIGIN
    assert "apikey" in allowed.headers["access-control-allow-headers"]
    other = await client.options("/rest/v1/todos", headers={**preflight, "Origin": "https://evil.example.test"})
    assert "access-control-allow-origin" not in other.headers
    simple = await client.get("/v1/plans", headers={"Origin": CORS_ORIGIN})
    assert simple.headers["access-control-allow-origin"] == CORS_ORIGIN
    assert "x-correlation-id" in simple.headers["access-control-expose-headers"]


async def test_internal_paths_are_not_routed(client: httpx2.AsyncClient) -> None:
    for path in [*catalog().internal, "/rest/v2/todos", "/v1"]:
        assert_problem(await client.get(path), 404)
    assert (await client.get("/v1/plans")).status_code == 200  # control: a public route


async def test_gateway_access_log_names_the_route_and_never_the_key(
    world: World, client: httpx2.AsyncClient, gateway: GatewayProcess
) -> None:
    key = world.workspaces[0].service_key
    correlation = f"log-{uuid.uuid4().hex}"
    refused = await client.get(f"/v1/tenants?apikey={key}", headers={"apikey": key, "x-correlation-id": correlation})
    assert_problem(refused, 403)
    lines: list[dict[str, Any]] = []
    for _ in range(100):  # Envoy flushes its log every second
        lines = [line for line in gateway.access_lines() if line["correlation_id"] == correlation]
        if lines:
            break
        await asyncio.sleep(0.2)
    (line,) = lines
    assert (line["status"], line["path"], line["upstream"]) == (403, "/v1/tenants", None)
    assert "api key refused" in line["route"]
    assert key not in gateway.log.read_text()
