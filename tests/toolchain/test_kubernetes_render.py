"""pulumi-kubernetes for real, in render mode until the platform has an API server."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from falcone import pulumi_runner
from falcone import toolchain as toolchain_module

pytestmark = pytest.mark.toolchain


def _program(render_dir: Path) -> pulumi.automation.PulumiFn:
    def program() -> None:
        provider = k8s.Provider("render", render_yaml_to_directory=str(render_dir))
        opts = pulumi.ResourceOptions(provider=provider)
        namespace = k8s.core.v1.Namespace(
            "tenant-demo",
            metadata={"name": "tenant-demo", "labels": {"falcone.io/tenant": "demo"}},
            opts=opts,
        )
        k8s.core.v1.ResourceQuota(
            "quota",
            metadata={"name": "quota", "namespace": namespace.metadata.name},
            spec={"hard": {"pods": "10"}},
            opts=opts,
        )

    return program


@pytest.mark.usefixtures("offline")
def test_up_refresh_destroy_renders_manifests(
    toolchain: toolchain_module.Toolchain, backend_dir: Path, tmp_path: Path
) -> None:
    render_dir = tmp_path / "rendered"
    stack = pulumi_runner.inline_stack("k8s-render", _program(render_dir), backend_dir, "foundation-k8s")

    up = stack.up(on_output=lambda _line: None)
    assert up.summary.result == "succeeded"
    manifests = {
        doc["kind"]: doc for path in render_dir.rglob("*.yaml") for doc in yaml.safe_load_all(path.read_text()) if doc
    }
    assert manifests["Namespace"]["metadata"]["labels"] == {"falcone.io/tenant": "demo"}
    assert manifests["ResourceQuota"]["spec"]["hard"] == {"pods": "10"}

    # Render mode has no cluster to read back, so the provider refuses `refresh` (it would need
    # skipUpdateUnreachable, which breaks creates in this version); a preview must find nothing to change.
    preview = stack.preview(expect_no_changes=True, on_output=lambda _line: None)
    assert set(preview.change_summary) <= {"same"}, preview.change_summary

    stack.destroy(on_output=lambda _line: None)
    assert not list(render_dir.rglob("*.yaml"))
    stack.workspace.remove_stack("k8s-render")
