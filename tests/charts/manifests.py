"""Rendering charts/falcone with the built Helm, and reading the result."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any
from uuid import uuid4

import yaml

from components.falcone_chart import CHART_DIR, RELEASE, profile_values_file
from tests.charts.helm import Helm

NAMESPACE = "falcone-system"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
Manifest = dict[str, Any]


def template(
    helm: Helm, profile: str, *args: str, values: dict[str, Any] | None = None
) -> subprocess.CompletedProcess[str]:
    """`helm template` of the chart with the profile's values file (and `values` layered on top)."""
    command = ["template", RELEASE, str(CHART_DIR), "--namespace", NAMESPACE, "-f", str(profile_values_file(profile))]
    if values is not None:
        extra = helm.home / f"values-{uuid4().hex}.yaml"
        extra.write_text(yaml.safe_dump(values))
        command += ["-f", str(extra)]
    return helm.run(*command, *args)


def render(helm: Helm, profile: str, *args: str, values: dict[str, Any] | None = None) -> list[Manifest]:
    result = template(helm, profile, *args, values=values)
    assert result.returncode == 0, result.stderr
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def _merge(base: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def profile_values(profile: str) -> dict[str, Any]:
    """values.yaml with the profile's file layered on it, as Helm merges them."""
    base = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    return _merge(base, yaml.safe_load(profile_values_file(profile).read_text()))


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [manifest for manifest in manifests if manifest["kind"] == kind]


def workloads(manifests: list[Manifest]) -> list[Manifest]:
    return [manifest for manifest in manifests if manifest["kind"] in WORKLOAD_KINDS]


def pod_template(workload: Manifest) -> Manifest:
    if workload["kind"] == "Pod":
        return workload
    if workload["kind"] == "CronJob":
        template_: Manifest = workload["spec"]["jobTemplate"]["spec"]["template"]
        return template_
    pod: Manifest = workload["spec"]["template"]
    return pod


def containers(pod_spec: Manifest) -> list[Manifest]:
    return [*pod_spec.get("initContainers", []), *pod_spec["containers"]]


def component(workload: Manifest) -> str:
    name: str = pod_template(workload)["metadata"]["labels"]["app.kubernetes.io/component"]
    return name


def selects(selector: Manifest, labels: dict[str, str]) -> bool:
    """A label selector with matchLabels only (all the chart uses) against a pod's labels."""
    assert set(selector) <= {"matchLabels"}, f"unexpected selector {selector}"
    return all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items())


def profile_files() -> set[str]:
    return {path.name.removeprefix("values-").removesuffix(".yaml") for path in Path(CHART_DIR).glob("values-*.yaml")}
