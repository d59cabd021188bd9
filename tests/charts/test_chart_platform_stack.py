"""The platform stack with `falcone:chart` set installs the chart on the local platform's real API server: every
object `helm template` renders for the profile is stored, in a namespace under restricted Pod Security whose
admission accepts each workload's pod (and refuses a privileged variant), no Secret exists and no credential of
the backing servers is anywhere in the stored objects; `destroy` removes them all."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import httpx2
import pytest
from psycopg.conninfo import conninfo_to_dict
from pulumi import automation as auto

from components.connections import Backends
from components.falcone_chart import RELEASE
from falcone import platform_stack, pulumi_runner
from falcone.toolchain import Toolchain
from localplatform import process
from tests.charts import manifests
from tests.charts.helm import Helm
from tests.platform_stack_fixtures import deployment_settings

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]

# The profile whose chart has every kind of object (ExternalSecrets and ServiceMonitors included).
PROFILE = "regulated-dedicated"
START_HINT = "start it: scripts/platform start etcd kube-apiserver kube-controller-manager"
# Where each kind the chart renders is listed (namespaced).
KINDS = {
    "ConfigMap": "/api/v1",
    "Service": "/api/v1",
    "ServiceAccount": "/api/v1",
    "Deployment": "/apis/apps/v1",
    "StatefulSet": "/apis/apps/v1",
    "PodDisruptionBudget": "/apis/policy/v1",
    "NetworkPolicy": "/apis/networking.k8s.io/v1",
    "ExternalSecret": "/apis/external-secrets.io/v1",
    "ServiceMonitor": "/apis/monitoring.coreos.com/v1",
}
# The operators' CRDs the chart's custom objects need: (group, kind, plural).
OPERATOR_KINDS = [
    ("external-secrets.io", "ExternalSecret", "externalsecrets"),
    ("monitoring.coreos.com", "ServiceMonitor", "servicemonitors"),
]


def _quiet(_line: str) -> None:
    """Engine output is kept in the CommandError if something fails."""


def _plural(kind: str) -> str:
    return {"PodDisruptionBudget": "poddisruptionbudgets", "NetworkPolicy": "networkpolicies"}.get(
        kind, kind.lower() + "s"
    )


def _ensure_operator_crds(api: httpx2.Client) -> None:
    """Stand-ins for the External Secrets and Prometheus operators' CRDs (schema-less: the API server stores the
    objects, the render tests check their fields). Created once and left in place: CRDs are cluster-wide, and
    another run may be using them."""
    for group, kind, plural in OPERATOR_KINDS:
        _ensure_crd(api, group, kind, plural)


def _ensure_crd(api: httpx2.Client, group: str, kind: str, plural: str) -> None:
    name = f"{plural}.{group}"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind, "listKind": f"{kind}List"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }
    created = api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd)
    assert created.status_code in {201, 409}, created.text

    def established() -> bool:
        status = api.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}").json()["status"]
        return any(c["type"] == "Established" and c["status"] == "True" for c in status.get("conditions") or [])

    assert process.wait_for(established, 60.0, 0.5), name
    # The provider discovers kinds from the API groups: wait until the new one is served.
    assert process.wait_for(lambda: api.get(f"/apis/{group}/v1").status_code == 200, 60.0, 0.5), group


def _stored(api: httpx2.Client, namespace: str) -> list[dict[str, Any]]:
    """The release's objects in the namespace, every kind the chart renders."""
    found = []
    for kind, prefix in KINDS.items():
        response = api.get(
            f"{prefix}/namespaces/{namespace}/{_plural(kind)}",
            params={"labelSelector": f"app.kubernetes.io/instance={RELEASE}"},
        )
        assert response.status_code == 200, f"{kind}: {response.status_code} {response.text}"
        found += [{**item, "kind": kind} for item in response.json()["items"]]
    return found


def _credentials(backends: Backends) -> list[str]:
    """Every secret the admin connections hold: none may appear in a stored object."""
    assert backends.postgres is not None
    assert backends.keycloak is not None
    assert backends.kafka is not None
    assert backends.minio is not None
    assert backends.vault is not None
    secrets = [
        str(conninfo_to_dict(backends.postgres.dsn)["password"]),
        backends.keycloak.admin_password,
        backends.kafka.admin_password,
        backends.minio.secret_key,
        backends.vault.token,
    ]
    if backends.mongo is not None:
        secrets.append(urlsplit(backends.mongo.uri).password or "")
    if backends.kubernetes is not None:
        secrets.append(backends.kubernetes.client_key.splitlines()[1])  # a line of the key's base64 body
    return [secret for secret in secrets if secret]


def _pod_from(workload: dict[str, Any]) -> dict[str, Any]:
    """The pod its controller would create (this API server has none running)."""
    template = copy.deepcopy(workload["spec"]["template"])
    name = workload["metadata"]["name"]
    for claim in workload["spec"].get("volumeClaimTemplates", []):
        claim_name = claim["metadata"]["name"]
        volume = {"name": claim_name, "persistentVolumeClaim": {"claimName": f"{claim_name}-{name}-0"}}
        template["spec"].setdefault("volumes", []).append(volume)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {**template["metadata"], "name": f"{name}-0"},
        "spec": template["spec"],
    }


def _admission_admits_every_workload_pod(api: httpx2.Client, namespace: str, stored: list[dict[str, Any]]) -> None:
    workloads = [item for item in stored if item["kind"] in manifests.WORKLOAD_KINDS]
    assert len(workloads) == 3
    for workload in workloads:
        pod = _pod_from(workload)
        admitted = api.post(f"/api/v1/namespaces/{namespace}/pods", params={"dryRun": "All"}, json=pod)
        assert admitted.status_code == 201, f"{workload['metadata']['name']}: {admitted.text}"
        # Negative control: the same pod allowed to escalate privileges is refused by the same admission.
        pod["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
        refused = api.post(f"/api/v1/namespaces/{namespace}/pods", params={"dryRun": "All"}, json=pod)
        assert refused.status_code == 403, refused.text
        assert "violates PodSecurity" in refused.json()["message"]


def test_platform_stack_installs_the_chart_on_the_api_server(
    toolchain: Toolchain, backends: Backends, helm: Helm, kubernetes_api: httpx2.Client, tmp_path: Path
) -> None:
    _ = toolchain
    if backends.kubernetes is None:
        pytest.fail(f"the session's backends have no kubernetes connection; {START_HINT}", pytrace=False)
    _ensure_operator_crds(kubernetes_api)
    run = uuid4().hex[:6]
    namespace = f"falcone-{run}"
    settings = {
        **deployment_settings(run, tmp_path / "rendered"),
        "chart": PROFILE,
        "chartNamespace": namespace,
        # No kubelet here: the workloads are stored, never run, so nothing would ever become ready.
        "chartAwait": "false",
    }
    state_dir, work_dir = tmp_path / "state", tmp_path / "work"
    stack = platform_stack.stack(backends, state_dir, work_dir, settings)
    destroyed = False
    try:
        outputs = stack.up(on_output=_quiet).outputs
        assert outputs["chartNamespace"].value == namespace
        # Applied, not rendered.
        assert pulumi_runner.render_only_urns(stack) == []

        labels = kubernetes_api.get(f"/api/v1/namespaces/{namespace}").json()["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
        assert labels["falcone.io/profile"] == PROFILE

        stored = _stored(kubernetes_api, namespace)
        expected = {(m["kind"], m["metadata"]["name"]) for m in manifests.render(helm, PROFILE)}
        assert {(item["kind"], item["metadata"]["name"]) for item in stored} == expected

        # The platform's endpoints reached the services' settings, and nothing secret did.
        [executor_config] = [
            i for i in stored if i["kind"] == "ConfigMap" and i["metadata"]["name"].endswith("-executor")
        ]
        assert backends.postgres is not None
        postgres_port = str(conninfo_to_dict(backends.postgres.dsn)["port"])
        assert executor_config["data"]["FALCONE_EXECUTOR_POSTGRES_PORT"] == postgres_port
        secrets = kubernetes_api.get(f"/api/v1/namespaces/{namespace}/secrets")
        assert secrets.status_code == 200
        assert secrets.json()["items"] == []
        dump = json.dumps(stored)
        for credential in _credentials(backends):
            assert credential not in dump

        _admission_admits_every_workload_pod(kubernetes_api, namespace, stored)

        stack.destroy(on_output=_quiet)
        destroyed = True
        assert process.wait_for(
            lambda: kubernetes_api.get(f"/api/v1/namespaces/{namespace}").status_code == 404, 60.0, 0.5
        )
    finally:
        if not destroyed:
            stack.destroy(on_output=_quiet)
        stack.workspace.remove_stack(platform_stack.PLATFORM_STACK)


def test_an_unknown_chart_profile_fails_preview_naming_the_key(
    toolchain: Toolchain, backends: Backends, tmp_path: Path
) -> None:
    _ = toolchain
    run = uuid4().hex[:6]
    settings = {**deployment_settings(run, tmp_path / "rendered"), "chart": "huge"}
    stack = platform_stack.stack(backends, tmp_path / "state", tmp_path / "work", settings)
    try:
        with pytest.raises(auto.errors.CommandError) as caught:
            stack.preview(on_output=_quiet)
        assert "falcone:chart: unknown profile 'huge'" in str(caught.value)
        assert "enterprise-federated, regulated-dedicated, shared-growth, shared-starter" in str(caught.value)
        assert not (stack.export_stack().deployment or {}).get("resources", [])
    finally:
        stack.workspace.remove_stack(platform_stack.PLATFORM_STACK, force=True)
