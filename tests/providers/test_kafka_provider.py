"""The Kafka dynamic providers (topic, SCRAM user, ACL), run by the real engine against the local platform's broker.

Isolation is what matters: each workspace's SCRAM user holds prefixed ACLs on `{tenant}.{workspace}.` topics and
consumer groups; user A produces to and consumes its own topic (positive control) and is denied on B's.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import pulumi
import pytest

# aiokafka ships no type information.
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # type: ignore[import-untyped, unused-ignore]
from aiokafka.errors import (  # type: ignore[import-untyped, unused-ignore]
    GroupAuthorizationFailedError,
    TopicAuthorizationFailedError,
)
from kafka.admin import (
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ConfigResource,
    ConfigResourceType,
    KafkaAdminClient,
    ResourcePatternFilter,
    ResourceType,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)
from pulumi.automation import OpType

from components.connections import Backends, KafkaConnection
from components.providers.kafka import (
    AclArgs,
    AclProvider,
    KafkaAcl,
    KafkaScramUser,
    KafkaTopic,
    ScramUserArgs,
    ScramUserProvider,
    TopicArgs,
    TopicProvider,
    scram_password_works,
)
from falcone import pulumi_runner
from falcone.toolchain import Toolchain
from localplatform.kafka import Kafka
from localplatform.settings import PlatformSettings
from tests.providers.direct import provider_props

pytestmark = [pytest.mark.platform, pytest.mark.toolchain]


def _quiet(_line: str) -> None:
    """Engine output goes to the test log only on failure (the CommandError carries it)."""


@contextmanager
def _admin(connection: KafkaConnection) -> Iterator[Any]:
    client = KafkaAdminClient(**_sasl(connection, connection.admin_user, connection.admin_password))
    try:
        yield client
    finally:
        client.close()


def _sasl(connection: KafkaConnection, user: str, password: str) -> dict[str, Any]:
    return dict(connection.client_settings(user, password))


def _topic(connection: KafkaConnection, name: str) -> tuple[str, int, dict[str, str]] | None:
    """(topic id, partitions, non-default configs) as the broker's metadata has them, None when absent."""
    with _admin(connection) as client:
        [topic] = client.describe_topics([name])
        if topic["error_code"] == 3:  # UNKNOWN_TOPIC_OR_PARTITION
            return None
        described = client.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    configs = {key: entry["value"] for key, entry in described["topic"][name].items()}
    return str(topic["topic_id"]), len(topic["partitions"]), configs


def _topic_program(
    topic: str, connection: KafkaConnection, partitions: int, config: dict[str, str]
) -> pulumi.automation.PulumiFn:
    def program() -> None:
        KafkaTopic("topic", TopicArgs(name=topic, partitions=partitions, config=config), connection)

    return program


def test_topic_up_refresh_drift_update_destroy(toolchain: Toolchain, backends: Backends, backend_dir: Path) -> None:
    _ = toolchain
    assert backends.kafka is not None
    connection = backends.kafka
    topic = f"t{uuid4().hex[:8]}.ws.events"
    config = {"retention.ms": "3600000", "cleanup.policy": "delete"}
    stack = pulumi_runner.inline_stack(
        "kafka-topic", _topic_program(topic, connection, 2, config), backend_dir, "providers-kafka"
    )
    try:
        assert stack.up(on_output=_quiet).summary.result == "succeeded"
        live = _topic(connection, topic)
        assert live is not None
        topic_id, partitions, configs = live
        assert partitions == 2
        assert configs == config

        clean = stack.preview_refresh(on_output=_quiet)
        assert set(clean.change_summary) <= {"same"}, clean.change_summary

        # Out of band: somebody shortens the retention. Drift detection sees it; `up` repairs it.
        with _admin(connection) as client:
            client.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic, configs={"retention.ms": "60000"})], incremental=True
            )
        drift = stack.preview_refresh(on_output=_quiet)
        assert drift.change_summary.get(OpType.UPDATE) == 1, drift.change_summary
        stack.refresh(on_output=_quiet)
        stack.up(on_output=_quiet)
        live = _topic(connection, topic)
        assert live is not None
        assert live[2]["retention.ms"] == "3600000"

        # More partitions and a new config set are applied in place: same topic id, records kept.
        new_config = {"retention.ms": "7200000", "max.message.bytes": "2097152"}
        stack.workspace.program = _topic_program(topic, connection, 3, new_config)
        result = stack.up(on_output=_quiet)
        changes = {op: n for op, n in (result.summary.resource_changes or {}).items() if op != "same"}
        assert changes == {"update": 1}, changes
        assert _topic(connection, topic) == (topic_id, 3, new_config)  # cleanup.policy back to its default

        # Fewer partitions cannot be done in place: the plan is a replacement.
        stack.workspace.program = _topic_program(topic, connection, 1, new_config)
        plan = stack.preview(on_output=_quiet)
        assert plan.change_summary.get(OpType.REPLACE) == 1, plan.change_summary
    finally:
        stack.destroy(on_output=_quiet)
    assert _topic(connection, topic) is None
    with _admin(connection) as client:
        assert topic not in client.list_topics()
    stack.workspace.remove_stack("kafka-topic")


# --- two workspaces: SCRAM users, prefixed ACLs, produce/consume ---------------------------------------------


def _ws(tenant: str, ws: str) -> dict[str, str]:
    return {
        "user": f"{tenant}-{ws}",
        "password": f"{tenant}-{ws}-{'p' * 12}",
        "prefix": f"{tenant}.{ws}.",
        "topic": f"{tenant}.{ws}.events",
        "group": f"{tenant}.{ws}.consumer",
    }


def _workspaces_program(tenant: str, connection: KafkaConnection) -> pulumi.automation.PulumiFn:
    def program() -> None:
        for ws in ("a", "b"):
            names = _ws(tenant, ws)
            # revoke_only: the local broker must never see a SCRAM deletion (localplatform/kafka.py).
            user_args = ScramUserArgs(name=names["user"], password=names["password"], revoke_only=True)
            user = KafkaScramUser(f"user-{ws}", user_args, connection)
            KafkaTopic(f"topic-{ws}", TopicArgs(name=names["topic"], partitions=1), connection)
            grants = [("topic", operation) for operation in ("read", "write", "describe")] + [("group", "read")]
            for resource_type, operation in grants:
                KafkaAcl(
                    f"acl-{ws}-{resource_type}-{operation}",
                    AclArgs(
                        principal=f"User:{names['user']}",
                        resource_type=resource_type,
                        resource_name=names["prefix"],
                        pattern_type="prefixed",
                        operation=operation,
                    ),
                    connection,
                    opts=pulumi.ResourceOptions(depends_on=[user]),
                )

    return program


async def _produce(connection: KafkaConnection, names: dict[str, str], topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(**_sasl(connection, names["user"], names["password"]), request_timeout_ms=15_000)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()


async def _consume_one(connection: KafkaConnection, names: dict[str, str], topic: str, group: str) -> bytes:
    consumer = AIOKafkaConsumer(
        topic,
        group_id=group,
        auto_offset_reset="earliest",
        request_timeout_ms=15_000,
        **_sasl(connection, names["user"], names["password"]),
    )
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    return bytes(message.value)


async def _check_isolation(connection: KafkaConnection, tenant: str) -> None:
    a, b = _ws(tenant, "a"), _ws(tenant, "b")
    # Positive controls: each user produces to and consumes its own topic, in its own group.
    await _produce(connection, b, b["topic"], b"from b")
    await _produce(connection, a, a["topic"], b"from a")
    assert await _consume_one(connection, a, a["topic"], a["group"]) == b"from a"
    # Negative: A may neither write nor read B's topic, nor join B's consumer group.
    with pytest.raises(TopicAuthorizationFailedError):
        await _produce(connection, a, b["topic"], b"intrusion")
    with pytest.raises(TopicAuthorizationFailedError):
        await _consume_one(connection, a, b["topic"], a["group"])
    with pytest.raises(GroupAuthorizationFailedError):
        await _consume_one(connection, a, a["topic"], b["group"])


def _acls_of(connection: KafkaConnection, principal: str) -> list[Any]:
    any_resource = ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY)
    acl_filter = ACLFilter(principal, "*", ACLOperation.ANY, ACLPermissionType.ANY, any_resource)
    with _admin(connection) as client:
        found, _ = client.describe_acls(acl_filter)
    return list(found)


def test_workspace_isolation_drift_and_destroy(toolchain: Toolchain, backends: Backends, backend_dir: Path) -> None:
    _ = toolchain
    assert backends.kafka is not None
    connection = backends.kafka
    conn = {"bootstrap_servers": connection.bootstrap_servers, "sasl_mechanism": connection.sasl_mechanism}
    tenant = f"t{uuid4().hex[:8]}"
    a, b = _ws(tenant, "a"), _ws(tenant, "b")
    stack = pulumi_runner.inline_stack(
        "kafka-ws", _workspaces_program(tenant, connection), backend_dir, "providers-kafka"
    )
    try:
        assert stack.up(on_output=_quiet).summary.result == "succeeded"
        for names in (a, b):
            assert scram_password_works(conn, names["user"], names["password"])
            assert len(_acls_of(connection, f"User:{names['user']}")) == 4
        state = "".join(path.read_text() for path in backend_dir.rglob("*.json"))
        assert a["topic"] in state  # the stack's state file was read...
        assert a["password"] not in state  # ...and its secrets are encrypted
        assert connection.admin_password not in state

        asyncio.run(_check_isolation(connection, tenant))

        clean = stack.preview_refresh(on_output=_quiet)
        assert set(clean.change_summary) <= {"same"}, clean.change_summary

        # Out of band: A's WRITE grant is deleted and B's password is changed.
        with _admin(connection) as client:
            write = ACLFilter(
                f"User:{a['user']}",
                "*",
                ACLOperation.WRITE,
                ACLPermissionType.ALLOW,
                ResourcePatternFilter(ResourceType.TOPIC, a["prefix"], ACLResourcePatternType.PREFIXED),
            )
            [(_, matched, _)] = client.delete_acls([write])
            assert len(matched) == 1
            changed = client.alter_user_scram_credentials(
                [UserScramCredentialUpsertion(b["user"], ScramMechanism.SCRAM_SHA_256, "changed-behind-our-back")]
            )
            assert changed == {b["user"]: None}
        with pytest.raises(TopicAuthorizationFailedError):
            asyncio.run(_produce(connection, a, a["topic"], b"no write grant"))
        drift = stack.preview_refresh(on_output=_quiet)
        # The ACL is gone (delete) and B's password no longer authenticates (update).
        assert drift.change_summary.get(OpType.DELETE) == 1, drift.change_summary
        assert drift.change_summary.get(OpType.UPDATE) == 1, drift.change_summary
        stack.refresh(on_output=_quiet)
        assert stack.up(on_output=_quiet).summary.result == "succeeded"
        assert scram_password_works(conn, b["user"], b["password"])
        asyncio.run(_check_isolation(connection, tenant))  # repaired, and still isolated
        after = stack.preview_refresh(on_output=_quiet)
        assert set(after.change_summary) <= {"same"}, after.change_summary
    finally:
        stack.destroy(on_output=_quiet)
    for names in (a, b):
        assert _topic(connection, names["topic"]) is None
        assert _acls_of(connection, f"User:{names['user']}") == []
        assert not scram_password_works(conn, names["user"], names["password"])  # revoked
    stack.workspace.remove_stack("kafka-ws")


class _ThrowawayKafka(Kafka):
    start_timeout = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def throwaway_kafka(tmp_path: Path) -> Iterator[KafkaConnection]:
    """A broker of this test's own (temporary data dir, free ports), configured like the platform's.

    SCRAM deletions happen here only: on the shared broker one would break its next restart (localplatform/kafka.py).
    """
    settings = PlatformSettings(
        data_dir=tmp_path / "kafka", kafka_port=_free_port(), kafka_controller_port=_free_port()
    )
    kafka = _ThrowawayKafka(settings)
    kafka.install()  # cached
    kafka.start()
    try:
        yield KafkaConnection(
            bootstrap_servers=kafka.bootstrap,
            admin_user=settings.kafka_admin_user,
            admin_password=settings.kafka_admin_password,
        )
    finally:
        kafka.stop()


def _scram_user_exists(connection: KafkaConnection, name: str) -> bool:
    with _admin(connection) as client:
        return client.describe_user_scram_credentials([name])[name]["error"] is None


def test_scram_user_deleted_out_of_band_is_recreated_and_destroy_deletes_it(
    toolchain: Toolchain, throwaway_kafka: KafkaConnection, backend_dir: Path
) -> None:
    _ = toolchain
    connection = throwaway_kafka
    conn = {"bootstrap_servers": connection.bootstrap_servers, "sasl_mechanism": connection.sasl_mechanism}
    name, password = f"t{uuid4().hex[:8]}-user", secrets.token_hex(12)

    def program() -> None:
        KafkaScramUser("user", ScramUserArgs(name=name, password=password), connection)

    stack = pulumi_runner.inline_stack("kafka-del", program, backend_dir, "providers-kafka")
    try:
        stack.up(on_output=_quiet)
        assert _scram_user_exists(connection, name)
        assert scram_password_works(conn, name, password)

        with _admin(connection) as client:
            deletion = UserScramCredentialDeletion(name, ScramMechanism.SCRAM_SHA_256)
            assert client.alter_user_scram_credentials([deletion]) == {name: None}
        drift = stack.preview_refresh(on_output=_quiet)
        assert drift.change_summary.get(OpType.DELETE) == 1, drift.change_summary
        stack.refresh(on_output=_quiet)
        stack.up(on_output=_quiet)
        assert scram_password_works(conn, name, password)
    finally:
        stack.destroy(on_output=_quiet)
    assert not _scram_user_exists(connection, name)
    assert not scram_password_works(conn, name, password)
    stack.workspace.remove_stack("kafka-del")


# --- adoption: a create that reached the server but not the state runs again (components/providers/base.py) ---


@pytest.fixture
def kafka(backends: Backends) -> KafkaConnection:
    assert backends.kafka is not None
    return backends.kafka


def test_create_adopts_a_topic_left_by_an_interrupted_run(kafka: KafkaConnection) -> None:
    name = f"t{uuid4().hex[:8]}.ws.events"
    config = {"retention.ms": "3600000", "cleanup.policy": "compact"}
    props = provider_props(TopicArgs(name=name, partitions=3, config=config), kafka)
    with _admin(kafka) as client:  # the leftover: one partition, another retention
        leftover_config = {"retention.ms": "1000"}
        client.create_topics({name: {"num_partitions": 1, "replication_factor": 1, "configs": leftover_config}})
    leftover = _topic(kafka, name)
    assert leftover is not None
    try:
        result = TopicProvider().create(props)

        assert (result.id, result.outs) == (name, props)
        assert _topic(kafka, name) == (leftover[0], 3, config)  # the same topic (id), now as declared

        # Positive control: what only a replacement could do (fewer partitions) is refused, the topic untouched.
        with pytest.raises(RuntimeError, match="cannot become the declared"):
            TopicProvider().create({**props, "partitions": 2})
        assert _topic(kafka, name) == (leftover[0], 3, config)
    finally:
        TopicProvider().delete(name, props)


def test_create_of_a_scram_user_left_by_an_interrupted_run_sets_the_declared_password(
    kafka: KafkaConnection,
) -> None:
    """An upsert: the create simply runs again. (Never delete SCRAM users on the shared broker: revoke_only.)"""
    name = f"t{uuid4().hex[:8]}-user"
    old, new = secrets.token_hex(12), secrets.token_hex(12)
    props = provider_props(ScramUserArgs(name=name, password=new, revoke_only=True), kafka)
    conn = props["connection"]
    with _admin(kafka) as client:
        upsertion = UserScramCredentialUpsertion(name, ScramMechanism.SCRAM_SHA_256, old)
        assert client.alter_user_scram_credentials([upsertion]) == {name: None}
    try:
        result = ScramUserProvider().create(props)

        assert (result.id, result.outs) == (name, props)
        assert scram_password_works(conn, name, new)
        assert not scram_password_works(conn, name, old)
    finally:
        ScramUserProvider().delete(name, props)  # revoke_only: a random password nobody knows
    assert not scram_password_works(conn, name, new)


def test_create_of_an_acl_left_by_an_interrupted_run_keeps_one_binding(kafka: KafkaConnection) -> None:
    """Kafka stores a binding once however often it is created: the create simply runs again."""
    principal = f"User:t{uuid4().hex[:8]}-user"
    args = AclArgs(
        principal=principal, resource_type="topic", resource_name="t.ws.", operation="read", pattern_type="prefixed"
    )
    props = provider_props(args, kafka)
    first = AclProvider().create(props)
    try:
        result = AclProvider().create(props)

        assert (result.id, result.outs) == (first.id, props)
        assert len(_acls_of(kafka, principal)) == 1
    finally:
        AclProvider().delete(first.id, props)
    assert _acls_of(kafka, principal) == []
