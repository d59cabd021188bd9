"""Kafka clients of a workspace, logged in as the workspace's own SCRAM principal (Vault secret `events`).

That principal's ACLs allow read, write and describe on the workspace's topic prefix and read on its consumer-group
prefix, nothing else (components/workspace_topics.py), so a client cannot reach another workspace's topics whatever
a request asks. Producers (acks=all, idempotent) are kept one per workspace and bounded like the PostgreSQL pools
(executor/data/pools.py): beyond `max_producers` the least recently used one is closed. Consumers belong to one
subscription each and are stopped with it.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from executor.cache import ClientCache
from executor.data.credentials import SecretsUnavailableError, VaultCredentials
from executor.events.schemas import Start
from executor.settings import ExecutorSettings
from falcone.naming import WorkspaceNames

CLIENT_ID = "falcone-executor"


@dataclass
class WorkspaceProducer:
    producer: AIOKafkaProducer
    # The workspace's topics as the broker describes them to its principal: Kafka name → partition count.
    topics: dict[str, int] = field(default_factory=dict)
    listed_at: float = float("-inf")


class WorkspaceProducers:
    def __init__(self, credentials: VaultCredentials, settings: ExecutorSettings) -> None:
        self.credentials, self.settings = credentials, settings
        self._producers: ClientCache[WorkspaceProducer] = ClientCache(settings.max_producers, self._stop)

    async def get(self, names: WorkspaceNames) -> WorkspaceProducer:
        """The workspace's producer, started. Raises NoCapabilityError (the plan has no Kafka),
        SecretsUnavailableError, TimeoutError or a KafkaError when the brokers cannot be reached."""
        return await self._producers.get(names.kafka_principal, lambda: self._open(names))

    async def topics(self, names: WorkspaceNames) -> dict[str, int]:
        """The workspace's topics by short name → partitions, listed at most every `topics_ttl_s`."""
        entry = await self.get(names)
        if time.monotonic() - entry.listed_at >= self.settings.topics_ttl_s:
            async with asyncio.timeout(self.settings.kafka_timeout_s):
                cluster = await entry.producer.client.fetch_all_metadata()
            # The broker lists only what the principal may describe; the prefix check keeps that true even if an
            # ACL were ever wider than the workspace.
            prefix = names.topic_prefix
            entry.topics = {
                topic[len(prefix) :]: len(cluster.partitions_for_topic(topic) or ())
                for topic in cluster.topics()
                if topic.startswith(prefix) and len(topic) > len(prefix)
            }
            entry.listed_at = time.monotonic()
        return entry.topics

    def discard(self, names: WorkspaceNames) -> None:
        """Forget a producer that failed: the next request opens a new one with freshly read credentials."""
        self._producers.discard(names.kafka_principal)

    async def _open(self, names: WorkspaceNames) -> WorkspaceProducer:
        producer = AIOKafkaProducer(
            **await login(self.credentials, self.settings, names),
            client_id=CLIENT_ID,
            acks="all",
            enable_idempotence=True,
            # A record the brokers have not acknowledged by then fails instead of waiting in the buffer forever.
            request_timeout_ms=int(self.settings.kafka_timeout_s * 1000),
        )
        await _start(producer, self.settings.kafka_timeout_s)
        return WorkspaceProducer(producer)

    async def _stop(self, entry: WorkspaceProducer) -> None:
        await stop(entry.producer, self.settings.kafka_timeout_s)

    def open_producers(self) -> int:
        return len(self._producers)

    async def close(self) -> None:
        await self._producers.close()


async def login(credentials: VaultCredentials, settings: ExecutorSettings, names: WorkspaceNames) -> dict[str, Any]:
    """Client settings as the workspace's principal."""
    secret = await credentials.secret(names, "events")
    # The secret must describe this very workspace: a mix-up in the store must not hand out another principal.
    if secret.get("principal") != names.kafka_principal or not secret.get("password"):
        raise SecretsUnavailableError("the workspace's stored Kafka credentials name another principal")
    return {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol,
        "sasl_mechanism": settings.kafka_sasl_mechanism,
        "sasl_plain_username": secret["principal"],
        "sasl_plain_password": secret["password"],
    }


async def open_consumer(
    credentials: VaultCredentials,
    settings: ExecutorSettings,
    names: WorkspaceNames,
    topic: str,
    start: Start,
    group: str | None,
) -> AIOKafkaConsumer:
    """A started consumer of one Kafka topic of the workspace. Without a group it reads every partition from
    `start`; with one (a Kafka group id under the workspace's prefix) it resumes from the group's committed
    offsets and shares the partitions with the group's other members (`start` applies when nothing is committed).
    """
    connection = await login(credentials, settings, names)
    consumer = AIOKafkaConsumer(
        *([topic] if group else []),
        **connection,
        client_id=CLIENT_ID,
        group_id=group,
        auto_offset_reset=start,
        # Offsets are committed after the records went out to the subscriber, never before.
        enable_auto_commit=False,
        request_timeout_ms=int(settings.kafka_timeout_s * 1000),
    )
    # With a group, starting includes joining it and waiting for the partitions assigned.
    await _start(consumer, settings.kafka_timeout_s + (settings.kafka_group_join_s if group else 0))
    return consumer


async def _start(client: AIOKafkaProducer | AIOKafkaConsumer, limit_s: float) -> None:
    try:
        async with asyncio.timeout(limit_s):
            await client.start()
    except BaseException:
        await stop(client, limit_s)
        raise


async def stop(client: AIOKafkaProducer | AIOKafkaConsumer, limit_s: float) -> None:
    """Stop, waiting at most `limit_s` seconds for a producer's unsent records (a dead broker must not hold us);
    closing never fails the request or the shutdown that asked for it."""
    with suppress(Exception):
        async with asyncio.timeout(limit_s):
            await client.stop()
