"""Fixtures of the chart's tests: Helm built from its Go module (cached), and a temporary home for it."""

from __future__ import annotations

import pytest

from falcone.errors import SetupError
from tests.charts import helm as helm_tool


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> helm_tool.Helm:
    try:
        path = helm_tool.build(lambda _line: None)
    except SetupError as error:
        pytest.fail(f"helm could not be built: {error}", pytrace=False)
    return helm_tool.Helm(path=path, home=tmp_path_factory.mktemp("helm-home"))
