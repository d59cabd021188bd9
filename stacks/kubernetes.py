"""The Kubernetes provider every stack that writes to Kubernetes uses (tenant namespaces, Falcone's chart)."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from components.connections import Backends
from stacks import config


def kubernetes_provider(backends: pulumi.Output[Backends]) -> k8s.Provider:
    """The platform's API server when `falcone:backends` has a kubernetes connection; without one, the manifests
    are rendered to `falcone:renderDir` (nothing applies or reads them back)."""
    if _has_kubernetes_connection():
        kubeconfig = config.require_connection(backends, "kubernetes").apply(lambda connection: connection.kubeconfig())
        return k8s.Provider("kubernetes", kubeconfig=pulumi.Output.secret(kubeconfig))
    render_dir = config.string("renderDir", str(Path.cwd() / ".data" / "rendered" / pulumi.get_stack()))
    return k8s.Provider("kubernetes", render_yaml_to_directory=render_dir)


def _has_kubernetes_connection() -> bool:
    # The provider's kind must be chosen now, before the secret Output resolves, so this peeks at the raw value;
    # a malformed one is reported by `config.backends()`.
    try:
        parsed = json.loads(pulumi.Config(config.NAMESPACE).get("backends") or "{}")
    except json.JSONDecodeError:
        return False
    return isinstance(parsed, dict) and parsed.get("kubernetes") is not None
