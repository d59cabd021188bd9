"""A tenant's Kubernetes namespace: labels, a ResourceQuota and LimitRange from the plan, and a default-deny
NetworkPolicy (ingress and egress) so nothing reaches the tenant's pods unless a later policy allows it."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from falcone.naming import TenantNames
from falcone.plans import Plan

# Pods per workspace the plan allows, and per-pod defaults; a small fixed table, tuned with the plans.
PODS_PER_WORKSPACE = 5
DEFAULT_LIMITS = {"cpu": "500m", "memory": "512Mi"}
DEFAULT_REQUESTS = {"cpu": "100m", "memory": "128Mi"}
# The stack owns these objects: with server-side apply, a field someone edited by hand belongs to their field
# manager, and without forcing, `up` would fail on the conflict instead of repairing the drift.
OWNED = {"pulumi.com/patchForce": "true"}


@dataclass(frozen=True)
class TenantNamespaceArgs:
    names: TenantNames
    plan: Plan
    provider: pulumi.ProviderResource


class TenantNamespace(pulumi.ComponentResource):
    namespace: pulumi.Output[str]

    def __init__(self, name: str, args: TenantNamespaceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("falcone:tenant:Namespace", name, None, opts)
        names, plan = args.names, args.plan
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        labels = {
            "falcone.io/tenant": names.slug,
            "falcone.io/plan": plan.name,
            "falcone.io/profile": plan.profile.name,
            # Restricted pod security for everything the tenant runs.
            "pod-security.kubernetes.io/enforce": "restricted",
        }
        namespace = k8s.core.v1.Namespace(
            f"{name}-ns", metadata={"name": names.namespace, "labels": labels, "annotations": OWNED}, opts=child
        )
        metadata = {
            "namespace": namespace.metadata.name,
            "labels": {"falcone.io/tenant": names.slug},
            "annotations": OWNED,
        }
        pods = plan.quotas.max_workspaces * PODS_PER_WORKSPACE
        k8s.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata={**metadata, "name": "tenant-quota"},
            spec={
                "hard": {
                    "pods": str(pods),
                    "requests.cpu": f"{pods * 100}m",
                    "requests.memory": f"{pods * 128}Mi",
                    "limits.cpu": f"{pods * 500}m",
                    "limits.memory": f"{pods * 512}Mi",
                    "requests.storage": str(plan.quotas.storage_bytes * max(plan.quotas.max_workspaces, 1)),
                }
            },
            opts=child,
        )
        k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata={**metadata, "name": "tenant-defaults"},
            spec={"limits": [{"type": "Container", "default": DEFAULT_LIMITS, "defaultRequest": DEFAULT_REQUESTS}]},
            opts=child,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny",
            metadata={**metadata, "name": "default-deny"},
            spec={"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
            opts=child,
        )
        self.namespace = namespace.metadata.name
        self.register_outputs({"namespace": self.namespace})
