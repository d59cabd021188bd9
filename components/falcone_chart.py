"""Falcone's own services on Kubernetes: the chart in `charts/falcone`, installed by the platform stack.

The Kubernetes provider's Helm support (`helm.v4.Chart`) renders the chart inside the provider and registers
every object as a resource of the stack, so refresh and drift detection cover them like any other resource (no
Helm release Secret, no `helm` binary). The chart gets a namespace of its own under restricted Pod Security
admission, the deployment profile's values file, and the backing services' endpoints: hosts and ports only. No
credential ever reaches the chart's values; the services read theirs from Secrets named in the values
(docs/helm.md).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s
from psycopg.conninfo import conninfo_to_dict
from pymongo.uri_parser import parse_uri

from components.connections import Backends
from components.tenant_namespace import OWNED

CHART_DIR = Path(__file__).resolve().parents[1] / "charts" / "falcone"
RELEASE = "falcone"
RESTRICTED = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")}


def profile_values_file(profile: str) -> Path:
    return CHART_DIR / f"values-{profile}.yaml"


def _endpoint(host: str, port: int, scheme: str | None = None) -> dict[str, Any]:
    endpoint: dict[str, Any] = {"host": host, "port": port}
    if scheme is not None:
        endpoint["scheme"] = scheme
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return endpoint  # a name: NetworkPolicies cannot match it, the egress rule names only the port
    endpoint["cidrs"] = [f"{address}/{address.max_prefixlen}"]
    return endpoint


def _url_endpoint(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    default_port = 443 if parts.scheme == "https" else 80
    return _endpoint(parts.hostname or "", parts.port or default_port, parts.scheme)


def backend_values(backends: Backends) -> dict[str, Any]:
    """The chart's `backends` values for the connections present: where each server is, never how to log in."""
    values: dict[str, Any] = {}
    if backends.postgres is not None:
        dsn = conninfo_to_dict(backends.postgres.dsn)
        values["postgres"] = _endpoint(str(dsn.get("host") or "127.0.0.1"), int(str(dsn.get("port") or 5432)))
    if backends.keycloak is not None:
        values["keycloak"] = _url_endpoint(backends.keycloak.url)
    if backends.kafka is not None:
        # The chart knows one broker address; the first bootstrap server is where clients start.
        host, _, port = backends.kafka.bootstrap_servers.split(",")[0].strip().rpartition(":")
        values["kafka"] = {
            **_endpoint(host.strip("[]"), int(port)),
            "securityProtocol": backends.kafka.security_protocol,
            "saslMechanism": backends.kafka.sasl_mechanism,
        }
    if backends.minio is not None:
        values["minio"] = {**_url_endpoint(backends.minio.endpoint_url), "region": backends.minio.region}
    if backends.vault is not None:
        values["openbao"] = _url_endpoint(backends.vault.address)
    if backends.mongo is not None:
        host, port = parse_uri(backends.mongo.uri)["nodelist"][0]
        values["mongo"] = _endpoint(host, port)
    if backends.kubernetes is not None:
        server = _url_endpoint(backends.kubernetes.server)
        server.pop("scheme")
        values["kubernetes"] = server
    return values


@dataclass(frozen=True)
class FalconeChartArgs:
    profile: str  # a deployment profile: chooses charts/falcone/values-<profile>.yaml
    namespace: str
    backends: pulumi.Input[Backends]
    provider: pulumi.ProviderResource
    # Wait for the workloads to become ready (a cluster without nodes never runs them: the local platform).
    wait: bool = True
    # More values, layered over the profile's (e.g. the automation service's stack settings).
    values: dict[str, Any] = field(default_factory=dict)


class FalconeChart(pulumi.ComponentResource):
    namespace: pulumi.Output[str]

    def __init__(self, name: str, args: FalconeChartArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("falcone:platform:Chart", name, None, opts)
        profile_file = profile_values_file(args.profile)
        if not profile_file.exists():
            raise ValueError(f"the chart has no values file for profile {args.profile!r} ({profile_file})")
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata={
                "name": args.namespace,
                "labels": {**RESTRICTED, "falcone.io/profile": args.profile},
                "annotations": OWNED,
            },
            opts=child,
        )
        # `backends` is a secret Output; what is taken from it here is only hosts and ports, so the chart's
        # values (and every object they shape) stay readable in the state.
        endpoints = pulumi.Output.unsecret(pulumi.Output.from_input(args.backends).apply(backend_values))
        values = endpoints.apply(lambda found: {**args.values, "backends": found})
        k8s.helm.v4.Chart(
            name,
            chart=str(CHART_DIR),
            name=RELEASE,
            namespace=namespace.metadata.name,
            value_yaml_files=[pulumi.FileAsset(str(profile_file))],
            values=values,
            skip_await=not args.wait,
            opts=child,
        )
        self.namespace = namespace.metadata.name
        self.register_outputs({"namespace": self.namespace})
