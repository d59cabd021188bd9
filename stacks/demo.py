"""The foundation's demo stack: one small resource on every backing server, through every provider we run.

Config: `falcone:backends` (secret object, see components.connections) and `falcone:renderDir` (where the
Kubernetes manifests are rendered until the platform has an API server).
"""

from __future__ import annotations

from typing import TypeVar

import pulumi
import pulumi_kubernetes as k8s

from components.connections import Backends
from components.providers.kafka import KafkaTopic, TopicArgs
from components.providers.keycloak import KeycloakRealm, RealmArgs
from components.providers.minio import BucketArgs, MinioBucket, MinioPolicy, MinioUser, UserArgs
from components.providers.minio import PolicyArgs as MinioPolicyArgs
from components.providers.mongo import DatabaseArgs as MongoDatabaseArgs
from components.providers.mongo import MongoDatabase, MongoUser, RoleGrant
from components.providers.mongo import UserArgs as MongoUserArgs
from components.providers.postgres import PostgresRole, PostgresSchema, RoleArgs, SchemaArgs
from components.providers.random import RandomSecret
from components.providers.vault import MountArgs, VaultMount, VaultPolicy
from components.providers.vault import PolicyArgs as VaultPolicyArgs
from components.workspace_storage import confined_policy

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

    kafka = backends.apply(lambda b: _required(b.kafka, "kafka"))
    topic = KafkaTopic(
        "topic", TopicArgs(name=f"{names.kebab}.events", partitions=1, config={"retention.ms": "86400000"}), kafka
    )
    pulumi.export("kafka_topic", topic.name)

    minio = backends.apply(lambda b: _required(b.minio, "minio"))
    bucket = MinioBucket("bucket", BucketArgs(name=names.kebab, force_destroy=True), minio)
    policy = MinioPolicy(
        "bucket-policy",
        MinioPolicyArgs(name=f"{names.kebab}-rw", document=confined_policy(names.kebab, None)),
        minio,
        opts=pulumi.ResourceOptions(depends_on=[bucket]),
    )
    user = MinioUser(
        "bucket-user",
        UserArgs(
            access_key=f"{names.kebab}-user",
            secret_key=RandomSecret("bucket-user-secret", length=32).value,
            policies=[policy.name],
        ),
        minio,
    )
    pulumi.export("minio_bucket", bucket.name)
    pulumi.export("minio_user", user.access_key)

    vault = backends.apply(lambda b: _required(b.vault, "vault"))
    mount = VaultMount("kv", MountArgs(path=names.kebab, description="Falcone demo secrets"), vault)
    VaultPolicy(
        "kv-policy",
        VaultPolicyArgs(
            name=f"{names.kebab}-read", policy=f'path "{names.kebab}/data/*" {{ capabilities = ["read"] }}'
        ),
        vault,
    )
    pulumi.export("vault_mount", mount.path)

    mongo = backends.apply(lambda b: _required(b.mongo, "mongo"))
    database = MongoDatabase("mongo-db", MongoDatabaseArgs(name=names.snake), mongo)
    MongoUser(
        "mongo-user",
        MongoUserArgs(
            username=f"{names.snake}_app",
            password=RandomSecret("mongo-user-password", length=32).value,
            database=names.snake,
            roles=[RoleGrant(role="readWrite", db=names.snake)],
        ),
        mongo,
        opts=pulumi.ResourceOptions(depends_on=[database]),
    )
    pulumi.export("mongo_database", database.name)

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
