"""The automation API's first routes and its cross-cutting behaviour, in process (no servers needed)."""

from __future__ import annotations

import httpx2
import pytest

from automation.app import create_app
from automation.settings import AutomationSettings

PROBLEM = "application/problem+json"


@pytest.fixture
def client() -> httpx2.AsyncClient:
    app = create_app(AutomationSettings(max_body_bytes=2048))
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://automation")


async def test_plans_come_from_the_one_catalogue(client: httpx2.AsyncClient) -> None:
    response = await client.get("/v1/plans")
    assert response.status_code == 200
    names = [plan["name"] for plan in response.json()["items"]]
    assert names == ["enterprise", "growth", "regulated", "starter"]
    growth = (await client.get("/v1/plans/growth")).json()
    assert growth["profile"]["name"] == "shared-growth"
    assert "kafka" in growth["capabilities"]
    assert growth["quotas"]["max_workspaces"] == 10


async def test_unknown_plan_is_a_404_problem(client: httpx2.AsyncClient) -> None:
    response = await client.get("/v1/plans/platinum")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == 404
    assert "known plans" in body["detail"]
    assert body["instance"] == "/v1/plans/platinum"


async def test_unknown_route_and_method_are_problems(client: httpx2.AsyncClient) -> None:
    missing = await client.get("/v1/nothing-here")
    assert (missing.status_code, missing.headers["content-type"]) == (404, PROBLEM)
    wrong = await client.delete("/v1/plans")
    assert (wrong.status_code, wrong.headers["content-type"]) == (405, PROBLEM)


async def test_correlation_id_is_echoed_or_generated(client: httpx2.AsyncClient) -> None:
    given = await client.get("/healthz", headers={"X-Correlation-Id": "corr-abc-123"})
    assert given.headers["x-correlation-id"] == "corr-abc-123"
    generated = await client.get("/healthz")
    assert len(generated.headers["x-correlation-id"]) == 36
    hostile = await client.get("/healthz", headers={"X-Correlation-Id": "bad id\\n with spaces"})
    assert hostile.headers["x-correlation-id"] != "bad id\\n with spaces"
    problem = await client.get("/v1/plans/nope", headers={"X-Correlation-Id": "corr-xyz"})
    assert problem.json()["correlation_id"] == "corr-xyz"


async def test_oversized_body_is_refused_with_413(client: httpx2.AsyncClient) -> None:
    response = await client.post("/v1/plans", content=b"x" * 4096, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["x-correlation-id"]
    assert "2048 bytes" in response.json()["detail"]


async def test_openapi_is_published(client: httpx2.AsyncClient) -> None:
    spec = (await client.get("/v1/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    assert "/v1/plans/{name}" in spec["paths"]


async def test_nul_in_path_or_query_is_a_400_problem_not_a_crash(client: httpx2.AsyncClient) -> None:
    for url in ("/v1/plans/a%00b", "/v1/plans?cursor=%00", "/v1/tenants/x%00y/workspaces"):
        response = await client.get(url, headers={"X-Correlation-Id": "corr-nul"})
        assert response.status_code == 400, url
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["correlation_id"] == "corr-nul"
    assert (await client.get("/v1/plans/growth")).status_code == 200  # positive control
