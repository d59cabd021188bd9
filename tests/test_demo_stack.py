"""The README's main job: the demo stack, run through the project's program (language host and all)."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import uuid4

import httpx2
import psycopg
import pytest
import yaml
from pulumi import automation as auto

from components.connections import Backends
from falcone import pulumi_runner
from falcone.toolchain import Toolchain

pytestmark = [pytest.mark.platform, pytest.mark.toolchain]


def _quiet(_line: str) -> None:
    """Engine output is kept in the CommandError if something fails."""


def test_demo_stack_up_is_clean_on_refresh_and_destroys_everything(
    toolchain: Toolchain, backends: Backends, backend_dir: Path, tmp_path: Path
) -> None:
    _ = toolchain
    assert backends.postgres is not None
    name = f"demo-{uuid4().hex[:6]}"
    stack = pulumi_runner.project_stack(name, backend_dir)
    stack.set_config("falcone:backends", auto.ConfigValue(json.dumps(backends.to_config()), secret=True))
    stack.set_config("falcone:renderDir", auto.ConfigValue(str(tmp_path / "rendered")))
    snake = f"falcone_{name}".replace("-", "_")
    try:
        outputs = stack.up(on_output=_quiet).outputs
        assert outputs["postgres_schema"].value == snake
        with psycopg.connect(backends.postgres.dsn) as connection:
            row = connection.execute(
                "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = %s", (snake,)
            ).fetchone()
        assert row == (f"{snake}_runtime",)
        assert backends.keycloak is not None
        assert httpx2.get(_discovery(backends, name)).status_code == 200
        rendered = [
            doc for path in (tmp_path / "rendered").rglob("*.yaml") for doc in yaml.safe_load_all(path.read_text())
        ]
        assert {doc["kind"] for doc in rendered if doc} >= {"Namespace"}

        drift = stack.preview_refresh(exclude=pulumi_runner.render_only_urns(stack), on_output=_quiet)
        assert set(drift.change_summary) <= {auto.OpType.SAME}, drift.change_summary
    finally:
        stack.destroy(on_output=_quiet)
        stack.workspace.remove_stack(name)
        (Path(stack.workspace.work_dir) / f"Pulumi.{name}.yaml").unlink(missing_ok=True)
    with psycopg.connect(backends.postgres.dsn) as connection:
        assert connection.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (snake,)).fetchone() is None
    assert httpx2.get(_discovery(backends, name)).status_code == 404


def _discovery(backends: Backends, stack: str) -> str:
    assert backends.keycloak is not None
    return f"{backends.keycloak.url}/realms/falcone-{stack}/.well-known/openid-configuration"
