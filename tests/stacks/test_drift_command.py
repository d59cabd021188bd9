"""`falcone stacks drift` / `preview`, the commands CI runs: status per stack, JSON report, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest

from components.connections import Backends
from falcone import pulumi_runner
from falcone.toolchain import REPO_ROOT, Toolchain

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]


def _falcone(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "falcone", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_drift_names_the_resource_and_property_and_fails_until_repaired(
    toolchain: Toolchain, backends: Backends, backend_dir: Path, project_dir: Path, tmp_path: Path
) -> None:
    _ = toolchain
    assert backends.postgres is not None
    name = f"demo-{uuid4().hex[:6]}"
    stack = pulumi_runner.project_stack(name, backend_dir, work_dir=project_dir)
    pulumi_runner.configure(stack, backends, renderDir=str(tmp_path / "rendered"))
    report = tmp_path / "drift.json"
    where = ["--backend", str(backend_dir), "--work-dir", str(project_dir)]
    try:
        stack.up(on_output=lambda _line: None)
        clean = _falcone("stacks", "drift", name, *where, "--report", str(report))
        assert clean.returncode == 0, clean.stdout + clean.stderr
        assert json.loads(report.read_text())["stacks"][0]["status"] == "Ready"
        assert _falcone("stacks", "preview", name, *where).returncode == 0

        role = f"falcone_{name}".replace("-", "_") + "_runtime"
        with psycopg.connect(backends.postgres.dsn, autocommit=True) as admin:
            admin.execute(f'ALTER ROLE "{role}" BYPASSRLS')
        drifted = _falcone("stacks", "drift", name, *where, "--report", str(report))
        assert drifted.returncode == 1
        assert "pg-runtime" in drifted.stdout
        found = json.loads(report.read_text())["stacks"][0]
        assert found["status"] == "Drifted"
        assert found["changes"] == [
            {
                "urn": found["changes"][0]["urn"],
                "type": "pulumi-python:dynamic:Resource",
                "operation": "update",
                "properties": ["bypass_rls"],
            }
        ]

        pulumi_runner.refresh_and_up(stack)
        assert _falcone("stacks", "drift", name, *where).returncode == 0
    finally:
        stack.destroy(on_output=lambda _line: None)
        stack.workspace.remove_stack(name)


def test_a_stack_that_cannot_be_checked_is_failed_with_exit_2(
    toolchain: Toolchain, backend_dir: Path, project_dir: Path
) -> None:
    _ = toolchain
    where = ["--backend", str(backend_dir), "--work-dir", str(project_dir)]
    result = _falcone("stacks", "drift", "tenant-nosuchtenant", *where)
    assert result.returncode == 2
    assert "Failed" in result.stdout
