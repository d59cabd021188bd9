"""WorkspaceTopics: under mocks (names, sizes, ACL scope) and on the real broker (who may use which topic)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from uuid import uuid4

import pulumi
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError

from components.connections import Backends, KafkaConnection
from components.workspace_topics import AuditTopic, AuditTopicArgs, WorkspaceTopics, WorkspaceTopicsArgs
from falcone import pulumi_runner
from falcone.naming import WorkspaceNames
from falcone.toolchain import Toolchain
from tests.components.mocks import run

CONNECTION = KafkaConnection(bootstrap_servers="127.0.0.1:1", admin_user="a", admin_password="b")


def test_topics_sized_by_plan_and_acls_on_the_workspace_prefix_only() -> None:
    names = WorkspaceNames("acme", "prod")
    registered = run(
        lambda: (
            WorkspaceTopics(
                "tp",
                WorkspaceTopicsArgs(
                    names=names,
                    connection=CONNECTION,
                    topics=["events", "orders"],
                    partitions=3,
                    retention_ms=604_800_000,
                ),
            ).principal
        )
    )
    topic = registered.named("tp-topic-orders").inputs
    assert topic["name"] == "acme.prod.orders"
    assert topic["partitions"] == 3
    assert topic["config"]["retention.ms"] == "604800000"
    acls = registered.matching(lambda r: r.name.startswith("tp-acl-"))
    assert acls
    for acl in acls:
        assert acl.inputs["principal"] == "User:ws-acme--prod"
        assert acl.inputs["resource_name"] == "acme.prod."
        assert acl.inputs["pattern_type"] == "prefixed"
        assert acl.inputs["permission"] == "allow"
        assert acl.inputs["resource_type"] in {"topic", "group"}


def test_audit_topic_is_the_platforms_with_long_retention() -> None:
    registered = run(lambda: AuditTopic("audit", AuditTopicArgs(connection=CONNECTION)).name)
    topic = registered.named("audit-topic").inputs
    assert topic["name"] == "falcone.platform.audit"
    assert int(topic["config"]["retention.ms"]) >= 7 * 86_400_000
    assert not registered.matching(lambda r: "acl" in r.name)  # only the platform's super users use it


def _sasl(connection: KafkaConnection, user: str, password: str) -> dict[str, Any]:
    return {**connection.client_settings(user, password), "request_timeout_ms": 15_000}


async def _produce(credentials: dict[str, Any], topic: str) -> None:
    producer = AIOKafkaProducer(**credentials)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello")
    finally:
        await producer.stop()


async def _consume(credentials: dict[str, Any], topic: str, group: str) -> bytes:
    consumer = AIOKafkaConsumer(topic, group_id=group, auto_offset_reset="earliest", **credentials)
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    return bytes(message.value)


@pytest.mark.platform
@pytest.mark.toolchain
async def test_each_principal_uses_only_its_workspace_topics(
    toolchain: Toolchain, backends: Backends, backend_dir: Path
) -> None:
    _ = toolchain
    connection = backends.kafka
    assert connection is not None
    run_id = uuid4().hex[:6]
    a, b = WorkspaceNames(f"acme{run_id}", "prod"), WorkspaceNames(f"globex{run_id}", "prod")

    def program() -> None:
        for names in (a, b):
            topics = WorkspaceTopics(
                names.tenant,
                WorkspaceTopicsArgs(names=names, connection=connection, revoke_principal_on_delete=True),
            )
            pulumi.export(f"{names.tenant}-password", topics.password)

    stack = pulumi_runner.inline_stack("ws-topics", program, backend_dir, "components-workspace-topics")
    try:
        outputs = (await asyncio.to_thread(stack.up, on_output=lambda _line: None)).outputs
        creds = {n.tenant: _sasl(connection, n.kafka_principal, outputs[f"{n.tenant}-password"].value) for n in (a, b)}
        await _produce(creds[a.tenant], a.topic("events"))  # positive control
        assert await _consume(creds[a.tenant], a.topic("events"), f"{a.topic_prefix}reader") == b"hello"
        with pytest.raises(TopicAuthorizationFailedError):
            await _produce(creds[a.tenant], b.topic("events"))
        with pytest.raises(TopicAuthorizationFailedError):
            await _consume(creds[a.tenant], b.topic("events"), f"{a.topic_prefix}reader")
        with pytest.raises(GroupAuthorizationFailedError):
            await _consume(creds[a.tenant], a.topic("events"), f"{b.topic_prefix}reader")
    finally:
        await asyncio.to_thread(stack.destroy, on_output=lambda _line: None)
        stack.workspace.remove_stack("ws-topics")
