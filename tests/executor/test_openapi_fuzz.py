"""Schemathesis over the executor's own OpenAPI document, against a real `python -m executor`: whatever it
generates (paths, bodies, query strings) for every operation under a valid service key, nothing answers 5xx."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok

from tests.executor.conftest import Seed, World

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]


def test_no_generated_request_yields_a_5xx(executor_url: str, world: World, seed: Seed) -> None:
    _ = seed
    schema = schemathesis.openapi.from_url(f"{executor_url}/v1/openapi.json")
    # The last workspace: generated tables and rows land there, away from the isolation tests' data.
    headers = world.workspaces[-1].headers()
    operations = list(schema.get_all_operations())
    assert len(operations) >= 10
    for result in operations:
        assert isinstance(result, Ok), result  # the document itself is valid OpenAPI
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        def no_5xx(case: Any) -> None:
            response = case.call(base_url=executor_url, headers=headers, timeout=30)
            assert response.status_code < 500, (case.method, case.path, response.text)

        no_5xx()
