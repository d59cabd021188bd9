"""Invalid configuration fails at preview with a message naming the key, before any resource is touched."""

from __future__ import annotations

from pathlib import Path

import pytest
from pulumi import automation as auto

from components.connections import Backends
from falcone import pulumi_runner
from falcone.toolchain import Toolchain

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]


def _preview_error(stack_name: str, backend_dir: Path, backends: Backends, **config: str) -> str:
    stack = pulumi_runner.project_stack(stack_name, backend_dir, work_dir=backend_dir.parent / "project")
    try:
        pulumi_runner.configure(stack, backends, **config)
        with pytest.raises(auto.errors.CommandError) as caught:
            stack.preview(on_output=lambda _line: None)
        resources = (stack.export_stack().deployment or {}).get("resources", [])
        assert not resources, "nothing may be created by a failed preview"
        return str(caught.value)
    finally:
        stack.workspace.remove_stack(stack_name, force=True)


def test_unknown_plan_names_the_key(toolchain: Toolchain, backends: Backends, backend_dir: Path) -> None:
    _ = toolchain
    message = _preview_error("tenant-acmeplan", backend_dir, backends, plan="platinum")
    assert "falcone:plan: unknown plan 'platinum'" in message
    assert "known plans: enterprise, growth, regulated, starter" in message


def test_missing_plan_names_the_key(toolchain: Toolchain, backends: Backends, backend_dir: Path) -> None:
    _ = toolchain
    assert "falcone:plan: missing" in _preview_error("tenant-acmenoplan", backend_dir, backends)


def test_bad_tenant_slug_names_the_stack(toolchain: Toolchain, backends: Backends, backend_dir: Path) -> None:
    _ = toolchain
    message = _preview_error("tenant-Bad--Slug", backend_dir, backends, plan="starter")
    assert "stack name: 'tenant-Bad--Slug'" in message
    assert "invalid tenant slug" in message


def test_workspace_of_a_missing_tenant(toolchain: Toolchain, backends: Backends, backend_dir: Path) -> None:
    _ = toolchain
    message = _preview_error("workspace-ghosttenant.prod", backend_dir, backends)
    assert 'unknown stack "organization/falcone/tenant-ghosttenant"' in message


def test_unknown_stack_kind(toolchain: Toolchain, backends: Backends, backend_dir: Path) -> None:
    _ = toolchain
    assert "unknown stack kind 'staging'" in _preview_error("staging", backend_dir, backends)
