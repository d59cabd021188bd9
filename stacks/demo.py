"""The foundation's demo stack: one small resource on every backing server, through every provider we run.

Config: `falcone:backends` (secret object, see components.connections) and `falcone:renderDir` (where the
Kubernetes manifests are rendered until the platform has an API server).
"""

from __future__ import annotations

from typing import TypeVar

import pulumi
import pulumi_kubernetes as k8s

from components.connections import Backends
from components.providers.keycloak import KeycloakRealm, RealmArgs
from components.providers.postgres import PostgresRole, PostgresSchema, RoleArgs, SchemaArgs

T = TypeVar("T")


def program() -> None:
    # Names derive from the stack's, so several demo stacks (e.g. the tests' `demo-<id>`) share one platform.
    names = _Names(pulumi.get_stack())
    config = pulumi.Config("falcone")
    backends = config.require_secret_object("backends").apply(Backends.from_config)

    postgres = backends.apply(lambda b: _required(b.postgres, "postgres"))
    role = PostgresRole("pg-runtime", RoleArgs(name=f"{names.snake}_runtime"), postgres)
    schema = PostgresSchema(
        "pg-schema",
        SchemaArgs(name=names.snake, owner=f"{names.snake}_runtime", drop_cascade=True),
        postgres,
        opts=pulumi.ResourceOptions(depends_on=[role]),
    )
    pulumi.export("postgres_schema", schema.name)
    pulumi.export("postgres_role", role.name)

    keycloak = backends.apply(lambda b: _required(b.keycloak, "keycloak"))
    realm = KeycloakRealm("realm", RealmArgs(name=names.kebab, display_name="Falcone demo"), keycloak)
    pulumi.export("keycloak_realm", realm.name)

    render = k8s.Provider("render", render_yaml_to_directory=config.require("renderDir"))
    namespace = k8s.core.v1.Namespace(
        "namespace",
        metadata={"name": names.kebab, "labels": {"falcone.io/stack": pulumi.get_stack()}},
        opts=pulumi.ResourceOptions(provider=render),
    )
    pulumi.export("kubernetes_namespace", namespace.metadata.name)


class _Names:
    def __init__(self, stack: str) -> None:
        self.kebab = f"falcone-{stack}"
        self.snake = self.kebab.replace("-", "_")


def _required(connection: T | None, name: str) -> T:
    if connection is None:
        raise ValueError(f"falcone:backends has no {name!r} connection; start it: scripts/platform start {name}")
    return connection
