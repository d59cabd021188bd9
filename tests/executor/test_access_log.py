"""The executor's logs are JSON lines: one per request with the correlation id, the route template and the
verified caller (tenant, workspace, credential kind, key id), and never the credential itself."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx2
import pytest

from tests.executor.conftest import Seed, World
from tests.log_fixtures import log_stream

__all__ = ["log_stream"]  # a fixture of this module's tests
pytestmark = [pytest.mark.toolchain, pytest.mark.platform]


def _requests(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [line for line in lines if line.get("logger") == "executor.access"]


async def test_each_request_is_one_json_line_naming_the_verified_caller(
    world: World, seed: Seed, client: httpx2.AsyncClient, log_stream: io.StringIO
) -> None:
    workspace = world.workspaces[1]
    target = seed.todo_ids[workspace.label][0]
    served = await client.get(
        f"/v1/collections/todos/documents/{target}",
        headers=workspace.headers() | {"X-Correlation-Id": "corr-exec-1", "x-tenant-id": "spoofed"},
    )
    assert served.status_code == 200
    refused = await client.get("/v1/collections/todos/documents/1", headers={"apikey": "flc_service_not-a-key"})
    assert refused.status_code == 401
    logged = _requests(log_stream)
    assert len(logged) == 2
    first, second = logged
    assert first["correlation_id"] == "corr-exec-1"
    assert (first["route"], first["status"], first["level"]) == (
        "/v1/collections/{name}/documents/{document_id}",
        200,
        "info",
    )
    assert (first["tenant"], first["workspace"]) == (workspace.names.tenant, workspace.names.slug)
    assert (first["credential"], first["subject"]) == ("service", workspace.key_ids["service"])
    assert second["status"] == 401
    assert "tenant" not in second  # no verified caller, and certainly not a claimed one
    assert second["correlation_id"] == refused.headers["x-correlation-id"]
    text = log_stream.getvalue()
    assert workspace.service_key not in text
    assert "flc_service_not-a-key" not in text
