"""charts/falcone rendered by the standard Helm tooling (built from its Go module) for every deployment profile:
restricted pod security everywhere without fixed ids, probes and resources, a disruption budget per workload,
network policies that let only a backend's clients reach it, secrets only by reference, ServiceMonitors when
enabled; and bad values refused with a message naming the value."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest

from components.connections import (
    Backends,
    KafkaConnection,
    KeycloakConnection,
    KubernetesConnection,
    MinioConnection,
    MongoConnection,
    PostgresConnection,
    VaultConnection,
)
from components.falcone_chart import CHART_DIR, RELEASE, backend_values, profile_values_file
from falcone.plans import catalog
from tests.charts import manifests
from tests.charts.helm import Helm
from tests.charts.manifests import Manifest

pytestmark = pytest.mark.toolchain

PROFILES = sorted(catalog().profiles)
# Environment variables that carry credentials by their name; each must come from a Secret.
SECRET_NAME = re.compile(r"(SECRET|TOKEN|PASSWORD|PASSPHRASE|DSN|_KEY)$")
FORBIDDEN_IDS = ("runAsUser", "runAsGroup", "fsGroup", "supplementalGroups")


@dataclass(frozen=True)
class Rendered:
    profile: str
    manifests: list[Manifest]
    values: dict[str, Any]

    @property
    def workloads(self) -> list[Manifest]:
        return manifests.workloads(self.manifests)

    def kind(self, kind: str) -> list[Manifest]:
        return manifests.of_kind(self.manifests, kind)


@pytest.fixture(scope="module", params=PROFILES)
def rendered(request: pytest.FixtureRequest, helm: Helm) -> Rendered:
    profile: str = request.param
    return Rendered(profile, manifests.render(helm, profile), manifests.profile_values(profile))


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_passes_helm_lint_strict(helm: Helm, profile: str) -> None:
    result = helm.run("lint", "--strict", str(CHART_DIR), "-f", str(profile_values_file(profile)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


def test_each_profile_renders_the_three_components(rendered: Rendered) -> None:
    assert sorted(manifests.component(w) for w in rendered.workloads) == ["automation", "executor", "gateway"]
    for manifest in rendered.manifests:
        assert manifest["metadata"]["labels"]["falcone.io/profile"] == rendered.profile


def test_every_pod_and_container_runs_restricted_without_fixed_ids(rendered: Rendered) -> None:
    assert rendered.workloads
    for workload in rendered.workloads:
        spec = manifests.pod_template(workload)["spec"]
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, workload["metadata"]["name"]
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
        assert not set(FORBIDDEN_IDS) & set(pod), f"{workload['metadata']['name']} fixes ids: {pod}"
        assert spec["automountServiceAccountToken"] is False
        assert not {"hostNetwork", "hostPID", "hostIPC"} & {key for key, value in spec.items() if value}
        for container in manifests.containers(spec):
            context = container["securityContext"]
            where = f"{workload['metadata']['name']}/{container['name']}"
            assert context["runAsNonRoot"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["capabilities"] == {"drop": ["ALL"]}, where
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert context.get("privileged", False) is False, where
            assert not set(FORBIDDEN_IDS) & set(context), f"{where} fixes ids: {context}"


def test_every_container_has_probes_and_resources(rendered: Rendered) -> None:
    for workload in rendered.workloads:
        for container in manifests.containers(manifests.pod_template(workload)["spec"]):
            where = f"{workload['metadata']['name']}/{container['name']}"
            assert "readinessProbe" in container, where
            assert "livenessProbe" in container, where
            resources = container["resources"]
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources[bound]), f"{where} {bound}: {resources}"


def test_every_workload_has_its_own_disruption_budget(rendered: Rendered) -> None:
    budgets = rendered.kind("PodDisruptionBudget")
    for workload in rendered.workloads:
        labels = manifests.pod_template(workload)["metadata"]["labels"]
        matching = [b for b in budgets if manifests.selects(b["spec"]["selector"], labels)]
        assert len(matching) == 1, workload["metadata"]["name"]
        assert matching[0]["spec"] == {**matching[0]["spec"], "maxUnavailable": 1}


def _policies_for(rendered: Rendered, labels: dict[str, str]) -> list[Manifest]:
    return [p for p in rendered.kind("NetworkPolicy") if manifests.selects(p["spec"]["podSelector"], labels)]


def _egress_ports(policies: list[Manifest]) -> set[int]:
    return {
        port["port"]
        for policy in policies
        for rule in policy["spec"].get("egress") or []
        for port in rule.get("ports", [])
    }


def test_network_policies_deny_by_default_and_let_only_its_clients_reach_each_backend(rendered: Rendered) -> None:
    pods = {manifests.component(w): manifests.pod_template(w)["metadata"]["labels"] for w in rendered.workloads}
    [deny] = [p for p in rendered.kind("NetworkPolicy") if "egress" not in p["spec"] and "ingress" not in p["spec"]]
    assert deny["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert all(manifests.selects(deny["spec"]["podSelector"], labels) for labels in pods.values())

    egress = {component: _egress_ports(_policies_for(rendered, labels)) for component, labels in pods.items()}
    for name, backend in rendered.values["backends"].items():
        allowed = {component for component, ports in egress.items() if backend["port"] in ports}
        assert allowed == set(backend["clients"]), f"{name} (port {backend['port']}) reachable from {allowed}"

    # The services are reached only through the gateway (and by the metrics scrapers).
    gateway = pods["gateway"]
    for component in ("automation", "executor"):
        rules = [
            rule for policy in _policies_for(rendered, pods[component]) for rule in policy["spec"].get("ingress") or []
        ]
        assert rules
        assert all(rule.get("from") for rule in rules), f"{component} has an ingress rule open to anyone"
        assert any(
            "podSelector" in peer and manifests.selects(peer["podSelector"], gateway)
            for rule in rules
            for peer in rule["from"]
        )


def test_in_cluster_backend_admits_only_its_clients(helm: Helm) -> None:
    pods = {"app": "postgres"}
    values = {"backends": {"postgres": {"inCluster": {"namespace": "data", "podLabels": pods}}}}
    rendered = manifests.render(helm, "shared-starter", values=values)
    [policy] = [
        p
        for p in manifests.of_kind(rendered, "NetworkPolicy")
        if p["metadata"].get("namespace") == "data" and p["spec"]["podSelector"] == {"matchLabels": pods}
    ]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    [rule] = policy["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 5432}]
    clients = {peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for peer in rule["from"]}
    assert clients == {"automation", "executor"}
    assert all(
        peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": manifests.NAMESPACE}}
        for peer in rule["from"]
    )
    # The clients' egress goes to those pods, not anywhere on the port.
    executor = next(
        p for p in manifests.of_kind(rendered, "NetworkPolicy") if p["metadata"]["name"].endswith("-executor")
    )
    [to_postgres] = [rule for rule in executor["spec"]["egress"] if rule["ports"][0]["port"] == 5432]
    assert to_postgres["to"] == [
        {
            "podSelector": {"matchLabels": pods},
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "data"}},
        }
    ]


def _secret_references(workload: Manifest) -> set[tuple[str, str | None]]:
    """(Secret name, key) pairs a workload reads; key None for a whole Secret mounted as a volume."""
    spec = manifests.pod_template(workload)["spec"]
    found: set[tuple[str, str | None]] = set()
    for container in manifests.containers(spec):
        for variable in container.get("env", []):
            ref = variable.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                found.add((ref["name"], ref["key"]))
        for source in container.get("envFrom", []):
            if "secretRef" in source:
                found.add((source["secretRef"]["name"], None))
    for volume in spec.get("volumes", []):
        secret = volume.get("secret")
        if secret:
            items = secret.get("items") or [{"key": None}]
            found |= {(secret["secretName"], item["key"]) for item in items}
    return found


def test_no_secret_is_inlined(rendered: Rendered) -> None:
    assert rendered.kind("Secret") == []
    for config_map in rendered.kind("ConfigMap"):
        assert not [key for key in config_map.get("data", {}) if SECRET_NAME.search(key)], config_map["metadata"]
    for workload in rendered.workloads:
        for container in manifests.containers(manifests.pod_template(workload)["spec"]):
            for variable in container.get("env", []):
                if SECRET_NAME.search(variable["name"]):
                    assert "value" not in variable, variable
                    assert "secretKeyRef" in variable["valueFrom"], variable
    assert any(_secret_references(w) for w in rendered.workloads)


def test_every_referenced_secret_is_named_or_filled_by_an_external_secret(rendered: Rendered) -> None:
    references = set().union(*(_secret_references(w) for w in rendered.workloads))
    external = rendered.kind("ExternalSecret")
    if rendered.values["secrets"]["source"] == "existingSecret":
        assert external == []
        names = {f"{RELEASE}-{component}" for component in ("automation", "executor", "gateway")}
        assert {name for name, _ in references} <= names
        return
    provided = {
        (secret["spec"]["target"]["name"], item["secretKey"]) for secret in external for item in secret["spec"]["data"]
    }
    for secret in external:
        assert secret["apiVersion"] == "external-secrets.io/v1"
        assert secret["spec"]["secretStoreRef"] == rendered.values["secrets"]["externalSecret"]["secretStoreRef"]
        # Only where to find a value: a path and a property, nothing else.
        for item in secret["spec"]["data"]:
            assert set(item["remoteRef"]) <= {"key", "property"}
    assert references <= provided, references - provided


def test_a_service_monitor_per_component_when_enabled(rendered: Rendered) -> None:
    monitors = rendered.kind("ServiceMonitor")
    if not rendered.values["serviceMonitor"]["enabled"]:
        assert monitors == []
        return
    services = rendered.kind("Service")
    for workload in rendered.workloads:
        labels = manifests.pod_template(workload)["metadata"]["labels"]
        [service] = [s for s in services if manifests.selects({"matchLabels": s["spec"]["selector"]}, labels)]
        [monitor] = [m for m in monitors if manifests.selects(m["spec"]["selector"], service["metadata"]["labels"])]
        ports = {port["name"] for port in service["spec"]["ports"]}
        assert {endpoint["port"] for endpoint in monitor["spec"]["endpoints"]} <= ports
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"


def test_canary_credentials_of_the_backends_never_reach_the_manifests(helm: Helm) -> None:
    """The platform stack's values come from the admin connections: only where the servers are gets through."""
    canary = "canary-5f1e9b"
    backends = Backends(
        postgres=PostgresConnection(dsn=f"postgresql://admin:{canary}-pg@10.1.0.5:5433/postgres"),
        keycloak=KeycloakConnection(url="https://sso.example.com", admin_user="admin", admin_password=f"{canary}-kc"),
        kafka=KafkaConnection(bootstrap_servers="10.1.0.7:9093", admin_user="admin", admin_password=f"{canary}-kf"),
        minio=MinioConnection(
            endpoint_url="http://10.1.0.8:9000", access_key=f"{canary}-ak", secret_key=f"{canary}-sk"
        ),
        vault=VaultConnection(address="http://[fd00::9]:8200", token=f"{canary}-vt"),
        mongo=MongoConnection(uri=f"mongodb://admin:{canary}-mg@10.1.0.10:27018/?authSource=admin"),
        kubernetes=KubernetesConnection(
            server="https://10.1.0.1:6443",
            certificate_authority=f"{canary}-ca",
            client_certificate=f"{canary}-cert",
            client_key=f"{canary}-key",
        ),
    )
    values = {"backends": backend_values(backends)}
    assert canary not in json.dumps(values)
    result = manifests.template(helm, "regulated-dedicated", values=values)
    assert result.returncode == 0, result.stderr
    assert canary not in result.stdout
    # Where they are did get through: the executor's settings and the egress rules.
    assert 'FALCONE_EXECUTOR_POSTGRES_PORT: "5433"' in result.stdout
    assert "FALCONE_EXECUTOR_MONGO_URL: mongodb://10.1.0.10:27018\n" in result.stdout
    assert "https://sso.example.com:443" in result.stdout
    assert "fd00::9/128" in result.stdout


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("automation.replicas=2", "/automation/replicas"),
        ("secrets.source=inline", "/secrets/source"),
        ("executor.password=hunter2", "additional properties 'password' not allowed"),
        ("backends.postgres.clients={gateway,console}", "/backends/postgres/clients/1"),
        ("profile=huge", "/profile"),
        ("executor.extraSettings.VAULT_TOKEN=s3cret", "executor.extraSettings.VAULT_TOKEN names a secret"),
        ("executor.extraSettings.PORT=1", "executor.extraSettings.PORT is set by the chart"),
    ],
)
def test_bad_values_are_refused_with_the_value_named(helm: Helm, setting: str, message: str) -> None:
    result = manifests.template(helm, "shared-starter", "--set", setting)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
