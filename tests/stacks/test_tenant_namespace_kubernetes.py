"""A tenant stack's Kubernetes objects on the platform's real API server: the namespace, its quota from the plan,
its limit defaults and its default-deny network policy are stored (and enforced) by the server; an out-of-band
edit of the quota is reported as drift and repaired."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import uuid4

import httpx2
import pytest

from components.tenant_namespace import DEFAULT_LIMITS, DEFAULT_REQUESTS, PODS_PER_WORKSPACE
from falcone import drift, pulumi_runner
from falcone.naming import TenantNames
from falcone.plans import catalog
from localplatform import process
from tests.platform_stack_fixtures import PlatformDeployment

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]

PLAN = "starter"
START_HINT = "start it: scripts/platform start etcd kube-apiserver kube-controller-manager"


def _quiet(_line: str) -> None:
    """Engine output is kept in the CommandError if something fails."""


def _quantity(text: str) -> Decimal:
    """A Kubernetes quantity in base units (the server returns canonical forms: "1000m" is read back as "1")."""
    suffixes = {"m": Decimal("0.001"), "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30)}
    for suffix, factor in suffixes.items():
        if text.endswith(suffix):
            return Decimal(text.removesuffix(suffix)) * factor
    return Decimal(text)


def _get(api: httpx2.Client, path: str) -> dict[str, Any]:
    response = api.get(path)
    assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
    body: dict[str, Any] = response.json()
    return body


def test_tenant_namespace_objects_are_stored_by_the_api_server_and_drift_is_repaired(
    platform_deployment: PlatformDeployment, kubernetes_api: httpx2.Client
) -> None:
    deployment = platform_deployment
    if deployment.backends.kubernetes is None:
        pytest.fail(f"the session's backends have no kubernetes connection; {START_HINT}", pytrace=False)
    names = TenantNames(f"kube{uuid4().hex[:6]}")
    work_dir = deployment.work_dir / names.stack
    stack = pulumi_runner.project_stack(names.stack, deployment.state_dir, work_dir=work_dir)
    pulumi_runner.configure(stack, deployment.backends, plan=PLAN, **deployment.settings)
    base = f"/api/v1/namespaces/{names.namespace}"
    destroyed = False
    try:
        outputs = stack.up(on_output=_quiet).outputs
        assert outputs["namespace"].value == names.namespace
        # Applied, not rendered: nothing to skip on refresh, nothing written to the render directory.
        assert pulumi_runner.render_only_urns(stack) == []
        assert not (deployment.render_dir / names.stack).exists()

        namespace = _get(kubernetes_api, base)
        assert namespace["status"]["phase"] == "Active"
        labels = namespace["metadata"]["labels"]
        assert labels["falcone.io/tenant"] == names.slug
        assert labels["falcone.io/plan"] == PLAN
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"

        plan = catalog().plan(PLAN)
        pods = plan.quotas.max_workspaces * PODS_PER_WORKSPACE
        hard = _get(kubernetes_api, f"{base}/resourcequotas/tenant-quota")["spec"]["hard"]
        assert {key: _quantity(value) for key, value in hard.items()} == {
            "pods": pods,
            "requests.cpu": pods * Decimal("0.1"),
            "requests.memory": pods * 128 * 2**20,
            "limits.cpu": pods * Decimal("0.5"),
            "limits.memory": pods * 512 * 2**20,
            "requests.storage": plan.quotas.storage_bytes * plan.quotas.max_workspaces,
        }
        [limits] = _get(kubernetes_api, f"{base}/limitranges/tenant-defaults")["spec"]["limits"]
        assert (limits["type"], limits["default"], limits["defaultRequest"]) == (
            "Container",
            DEFAULT_LIMITS,
            DEFAULT_REQUESTS,
        )
        policy = _get(
            kubernetes_api, f"/apis/networking.k8s.io/v1/namespaces/{names.namespace}/networkpolicies/default-deny"
        )
        assert policy["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}

        _admission_enforces_the_namespace_settings(kubernetes_api, base)

        # Out of band: someone raises the pod quota by hand.
        raised = kubernetes_api.patch(
            f"{base}/resourcequotas/tenant-quota",
            json={"spec": {"hard": {"pods": "1000"}}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert raised.status_code == 200, raised.text
        report = drift.check(names.stack, deployment.state_dir, on_output=_quiet, work_dir=work_dir)
        assert report.status is drift.Status.DRIFTED, report
        assert [change.type for change in report.changes] == ["kubernetes:core/v1:ResourceQuota"]

        pulumi_runner.refresh_and_up(stack, on_output=_quiet)
        assert _get(kubernetes_api, f"{base}/resourcequotas/tenant-quota")["spec"]["hard"]["pods"] == str(pods)
        repaired = drift.check(names.stack, deployment.state_dir, on_output=_quiet, work_dir=work_dir)
        assert repaired.status is drift.Status.READY, repaired

        stack.destroy(on_output=_quiet)
        destroyed = True
        # The namespace controller removes the namespace's content, then the namespace itself.
        assert process.wait_for(lambda: kubernetes_api.get(base).status_code == 404, 60.0, 0.5)
    finally:
        if not destroyed:
            stack.destroy(on_output=_quiet)
        stack.workspace.remove_stack(names.stack)


def _admission_enforces_the_namespace_settings(api: httpx2.Client, base: str) -> None:
    """The server's admission applies what the stack declared: restricted pod security refuses a pod that may run
    as root with all capabilities; a compliant one is stored with the LimitRange's defaults (it never runs)."""
    # Quota admission refuses pods until the quota controller has recorded the quota's usage.
    assert process.wait_for(lambda: "used" in _get(api, f"{base}/resourcequotas/tenant-quota")["status"], 60.0, 0.5)
    container: dict[str, Any] = {"name": "app", "image": "registry.invalid/app:1"}
    refused = api.post(f"{base}/pods", json={"metadata": {"name": "unrestricted"}, "spec": {"containers": [container]}})
    assert refused.status_code == 403
    assert "violates PodSecurity" in refused.json()["message"]

    restricted = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    compliant = {"containers": [{**container, "securityContext": restricted}]}
    created = api.post(f"{base}/pods", json={"metadata": {"name": "compliant"}, "spec": compliant})
    assert created.status_code == 201, created.text
    resources = created.json()["spec"]["containers"][0]["resources"]
    assert (resources["limits"], resources["requests"]) == (DEFAULT_LIMITS, DEFAULT_REQUESTS)
    assert api.delete(f"{base}/pods/compliant").status_code == 200
