"""A workspace's Kafka topics (`{tenant}.{workspace}.{name}`), sized by the plan, and the SCRAM principal that
alone may use them: prefixed ACLs on the workspace's topic prefix and consumer-group prefix, nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from components.connections import KafkaConnection
from components.providers.kafka import AclArgs, KafkaAcl, KafkaScramUser, KafkaTopic, ScramUserArgs, TopicArgs
from components.providers.random import RandomSecret
from falcone.naming import WorkspaceNames

# (resource type, operation) pairs granted on the workspace's prefix.
WORKSPACE_GRANTS = (
    ("topic", "read"),
    ("topic", "write"),
    ("topic", "describe"),
    ("group", "read"),
    ("group", "describe"),
)
AUDIT_TOPIC = "falcone.platform.audit"


@dataclass(frozen=True)
class WorkspaceTopicsArgs:
    names: WorkspaceNames
    connection: pulumi.Input[KafkaConnection]
    topics: list[str] = field(default_factory=lambda: ["events"])
    partitions: int = 1
    retention_ms: int = 86_400_000
    # The local platform's broker must never see a SCRAM deletion (docs/local-platform.md).
    revoke_principal_on_delete: bool = False


class WorkspaceTopics(pulumi.ComponentResource):
    principal: pulumi.Output[str]
    password: pulumi.Output[str]
    topics: pulumi.Output[list[str]]

    def __init__(self, name: str, args: WorkspaceTopicsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("falcone:workspace:Topics", name, None, opts)
        names, connection = args.names, args.connection
        child = pulumi.ResourceOptions(parent=self)
        secret = RandomSecret(f"{name}-password", length=32, opts=child)
        user = KafkaScramUser(
            f"{name}-principal",
            ScramUserArgs(
                name=names.kafka_principal, password=secret.value, revoke_only=args.revoke_principal_on_delete
            ),
            connection,
            child,
        )
        topics = [
            KafkaTopic(
                f"{name}-topic-{topic}",
                TopicArgs(
                    name=names.topic(topic),
                    partitions=args.partitions,
                    config={"retention.ms": str(args.retention_ms), "cleanup.policy": "delete"},
                ),
                connection,
                child,
            )
            for topic in args.topics
        ]
        for resource_type, operation in WORKSPACE_GRANTS:
            KafkaAcl(
                f"{name}-acl-{resource_type}-{operation}",
                AclArgs(
                    principal=f"User:{names.kafka_principal}",
                    resource_type=resource_type,
                    resource_name=names.topic_prefix,
                    pattern_type="prefixed",
                    operation=operation,
                ),
                connection,
                pulumi.ResourceOptions(parent=self, depends_on=[user]),
            )
        self.principal = user.name
        self.password = pulumi.Output.secret(secret.value)
        self.topics = pulumi.Output.all(*[topic.name for topic in topics])
        self.register_outputs({"principal": self.principal, "password": self.password, "topics": self.topics})


@dataclass(frozen=True)
class AuditTopicArgs:
    connection: pulumi.Input[KafkaConnection]
    name: str = AUDIT_TOPIC
    partitions: int = 3
    retention_ms: int = 2_592_000_000


class AuditTopic(pulumi.ComponentResource):
    """The platform's audit topic: only the platform's own principals (super users) use it."""

    name: pulumi.Output[str]

    def __init__(self, name: str, args: AuditTopicArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("falcone:platform:AuditTopic", name, None, opts)
        topic = KafkaTopic(
            f"{name}-topic",
            TopicArgs(
                name=args.name,
                partitions=args.partitions,
                config={"retention.ms": str(args.retention_ms), "cleanup.policy": "delete"},
            ),
            args.connection,
            pulumi.ResourceOptions(parent=self),
        )
        self.name = topic.name
        self.register_outputs({"name": self.name})
