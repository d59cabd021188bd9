"""Kafka through aiokafka with SASL SCRAM-SHA-256: the admin creates a topic, produces and consumes;
a SCRAM user without ACLs is authenticated but denied (the authorizer denies by default)."""

import asyncio
import secrets
from typing import Any

import pytest

# aiokafka/aiobotocore ship no type information (the ignores go quiet once pyproject lists them).
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # type: ignore[import-untyped, unused-ignore]
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped, unused-ignore]
from aiokafka.errors import TopicAuthorizationFailedError  # type: ignore[import-untyped, unused-ignore]
from kafka.admin import KafkaAdminClient, ScramMechanism, UserScramCredentialUpsertion

from localplatform.endpoints import KafkaEndpoint

pytestmark = pytest.mark.platform

OUTSIDER = "falcone-smoke-outsider"


def _sasl(ep: KafkaEndpoint, user: str, password: str) -> dict[str, Any]:
    return {
        "bootstrap_servers": ep.bootstrap_servers,
        "security_protocol": ep.security_protocol,
        "sasl_mechanism": ep.sasl_mechanism,
        "sasl_plain_username": user,
        "sasl_plain_password": password,
    }


def _kafka_python_admin(ep: KafkaEndpoint) -> Any:
    return KafkaAdminClient(**_sasl(ep, ep.admin_user, ep.admin_password))


async def test_admin_produce_consume_and_unauthorized_user(kafka_endpoint: KafkaEndpoint) -> None:
    ep = kafka_endpoint
    admin_cfg = _sasl(ep, ep.admin_user, ep.admin_password)
    topic = f"smoke-{secrets.token_hex(4)}"
    admin = AIOKafkaAdminClient(**admin_cfg)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])

        producer = AIOKafkaProducer(**admin_cfg)
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"hello falcone", key=b"k1")
        finally:
            await producer.stop()

        consumer = AIOKafkaConsumer(topic, auto_offset_reset="earliest", **admin_cfg)
        await consumer.start()
        try:
            message = await asyncio.wait_for(consumer.getone(), timeout=30)
        finally:
            await consumer.stop()
        assert (message.key, message.value) == (b"k1", b"hello falcone")

        # A valid SCRAM user with no ACLs may log in but not write (allow.everyone.if.no.acl.found=false).
        # The user is upserted (fresh password each run), never deleted: on Kafka 3.9.1/3.9.2 a
        # RemoveUserScramCredentialRecord in the metadata log makes the broker come back after a restart
        # with no SCRAM users at all (admin included). See localplatform/kafka.py.
        password = secrets.token_hex(16)
        upsert = UserScramCredentialUpsertion(OUTSIDER, ScramMechanism.SCRAM_SHA_256, password)
        kp_admin = await asyncio.to_thread(_kafka_python_admin, ep)
        try:
            assert await asyncio.to_thread(kp_admin.alter_user_scram_credentials, [upsert]) == {OUTSIDER: None}
        finally:
            await asyncio.to_thread(kp_admin.close)
        outsider = AIOKafkaProducer(**_sasl(ep, OUTSIDER, password), request_timeout_ms=10_000)
        await outsider.start()
        try:
            with pytest.raises(TopicAuthorizationFailedError):
                await outsider.send_and_wait(topic, b"not allowed")
        finally:
            await outsider.stop()
    finally:
        await admin.delete_topics([topic])
        await admin.close()
