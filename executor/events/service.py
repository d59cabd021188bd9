"""Events for a verified identity: the workspace's topics by short name, publishing that answers only after all
in-sync replicas acknowledged, and subscriptions confined to one of the workspace's topics.

Broker trouble is never a silent drop: a publish is a 200 with every record's offset, or a 503 with Retry-After
(the records were then not confirmed: they may or may not have been written, so a retry may duplicate them).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import CommitFailedError, KafkaError, MessageSizeTooLargeError
from aiokafka.structs import ConsumerRecord, RecordMetadata, TopicPartition

from executor.data.credentials import NoCapabilityError, SecretsUnavailableError, VaultCredentials
from executor.events import clients
from executor.events.schemas import RecordIn, Start
from executor.identity.schemas import Identity
from executor.settings import ExecutorSettings
from falcone.http.problems import Problem
from falcone.naming import WorkspaceNames

log = structlog.get_logger("executor.events")
# How often a subscription looks for records (and so notices a client that left), in seconds.
POLL_S = 1.0
# (kind, payload): `ready` once positioned, then `record`s and `heartbeat`s, and `error` as the last one; None is
# an idle poll, on which the transport checks that its client is still there.
Event = tuple[str, dict[str, Any]] | None


def consumer_group(names: WorkspaceNames, group: str) -> str:
    """A client's group name as a Kafka group id: under the workspace's prefix, the only groups its ACLs allow."""
    return f"{names.topic_prefix}{group}"


class EventsService:
    def __init__(self, settings: ExecutorSettings, credentials: VaultCredentials) -> None:
        self.settings, self.credentials = settings, credentials
        self.producers = clients.WorkspaceProducers(credentials, settings)
        self._subscriptions: Counter[str] = Counter()

    async def topics(self, identity: Identity) -> dict[str, int]:
        """The workspace's topics: short name → partitions."""
        async with self._broker(identity.names):
            return await self.producers.topics(identity.names)

    async def publish(self, identity: Identity, topic: str, records: Sequence[RecordIn]) -> list[RecordMetadata]:
        if identity.read_only:
            raise Problem(403, "an anonymous key may subscribe to events, not publish them")
        names = identity.names
        kafka_topic, _ = await self._kafka_topic(names, topic)
        async with self._broker(names, discard=True):
            producer = (await self.producers.get(names)).producer
            try:
                async with asyncio.timeout(self.settings.kafka_timeout_s):
                    # Queued in order (the idempotent producer keeps it), then acknowledged together.
                    deliveries = [await producer.send(kafka_topic, **record.encoded()) for record in records]
                    return list(await asyncio.gather(*deliveries))
            except MessageSizeTooLargeError:
                raise Problem(413, "a record is larger than the brokers accept") from None

    async def subscribe(self, identity: Identity, topic: str, start: Start, group: str | None) -> Subscription:
        """A positioned subscription (every record published after it is ready is delivered). The caller
        must close it."""
        names = identity.names
        kafka_topic, partitions = await self._kafka_topic(names, topic)
        key = names.kafka_principal
        if self._subscriptions[key] >= self.settings.max_subscriptions:
            raise Problem(
                429,
                f"this workspace has {self.settings.max_subscriptions} open subscriptions on this server",
                headers={"Retry-After": str(self.settings.kafka_retry_after_s)},
            )
        self._subscriptions[key] += 1
        try:
            async with self._broker(names):
                group_id = consumer_group(names, group) if group else None
                consumer = await clients.open_consumer(
                    self.credentials, self.settings, names, kafka_topic, start, group_id
                )
                try:
                    positions = await _position(
                        consumer, kafka_topic, partitions, start, group is not None, self.settings.kafka_timeout_s
                    )
                except BaseException:
                    await clients.stop(consumer, self.settings.kafka_timeout_s)
                    raise
        except BaseException:
            self._release(key)
            raise
        ready = {"topic": topic, "from": start, "group": group, "positions": positions}
        return Subscription(consumer, ready, self.settings, lambda: self._release(key))

    async def close(self) -> None:
        await self.producers.close()

    async def _kafka_topic(self, names: WorkspaceNames, topic: str) -> tuple[str, int]:
        """The Kafka name and partition count of one of the workspace's topics; anything else, another
        workspace's included, is absent (the name is only ever looked up under the workspace's own prefix)."""
        async with self._broker(names):
            topics = await self.producers.topics(names)
        if topic not in topics:
            raise Problem(404, f"no topic {topic!r} in this workspace")
        return names.topic(topic), topics[topic]

    def _release(self, key: str) -> None:
        self._subscriptions[key] -= 1
        if self._subscriptions[key] <= 0:
            del self._subscriptions[key]

    @asynccontextmanager
    async def _broker(self, names: WorkspaceNames, *, discard: bool = False) -> AsyncIterator[None]:
        """Kafka and Vault failures as problems: no capability → 404, unreachable → 503 with Retry-After."""
        try:
            yield
        except NoCapabilityError:
            raise Problem(404, "this workspace has no event topics (its plan has no Kafka)") from None
        except (SecretsUnavailableError, KafkaError, TimeoutError, OSError) as error:
            log.warning("event brokers unavailable", principal=names.kafka_principal, error=repr(error))
            if discard:
                self.producers.discard(names)
            raise self.unavailable() from None

    def unavailable(self) -> Problem:
        return Problem(
            503,
            "the event brokers did not answer in time; nothing was confirmed, retry later",
            headers={"Retry-After": str(self.settings.kafka_retry_after_s)},
        )


async def _position(
    consumer: AIOKafkaConsumer, topic: str, partitions: int, start: Start, grouped: bool, limit_s: float
) -> dict[str, int]:
    """Pin the consumer's position on each of its partitions, so that `ready` means: anything published from now
    on is delivered. A consumer outside a group takes every partition of the topic (numbered from 0)."""
    async with asyncio.timeout(limit_s):
        if not grouped:
            every = [TopicPartition(topic, partition) for partition in range(partitions)]
            consumer.assign(every)
            if start == "earliest":
                await consumer.seek_to_beginning(*every)
            else:
                await consumer.seek_to_end(*every)
        assigned: set[TopicPartition] = consumer.assignment()
        return {str(tp.partition): await consumer.position(tp) for tp in sorted(assigned)}


class Subscription:
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        ready: dict[str, Any],
        settings: ExecutorSettings,
        release: Callable[[], None],
    ) -> None:
        self.consumer, self.ready, self.settings, self._release = consumer, ready, settings, release
        self.topic: str = ready["topic"]
        self.grouped = ready["group"] is not None
        self._closed = False

    async def events(self) -> AsyncGenerator[Event]:
        yield "ready", self.ready
        quiet_since = time.monotonic()
        while True:
            try:
                batch = await self.consumer.getmany(timeout_ms=int(POLL_S * 1000), max_records=100)
            except KafkaError as error:
                # The brokers themselves keep being retried inside the consumer; this is a refusal (e.g. the
                # topic was deleted): the stream ends with it.
                log.warning("subscription failed", topic=self.topic, error=repr(error))
                yield "error", {"status": 503, "detail": "the subscription lost its topic; subscribe again later"}
                return
            records = [record for partition in sorted(batch) for record in batch[partition]]
            for record in records:
                yield "record", record_out(self.topic, record)
            if records:
                quiet_since = time.monotonic()
                if self.grouped:
                    await self._commit()
            elif time.monotonic() - quiet_since >= self.settings.subscribe_heartbeat_s:
                quiet_since = time.monotonic()
                yield "heartbeat", {}
            else:
                yield None

    async def _commit(self) -> None:
        """The group's offsets advance past what this subscriber was sent (at-least-once across reconnects)."""
        try:
            await self.consumer.commit()
        except (CommitFailedError, KafkaError) as error:
            # A rebalance moved the partitions: their new owner resumes from the last commit.
            log.info("group commit skipped", topic=self.topic, error=repr(error))

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._release()
            with suppress(Exception):
                await clients.stop(self.consumer, self.settings.kafka_timeout_s)


def record_out(topic: str, record: ConsumerRecord[bytes, bytes]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "topic": topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp,
        "key": None if record.key is None else record.key.decode(errors="replace"),
        "headers": {name: bytes(value or b"").decode(errors="replace") for name, value in record.headers},
    }
    try:
        out["value"] = None if record.value is None else json.loads(record.value, parse_constant=_not_json)
    except ValueError:
        # Written by some other Kafka client of the workspace, not as JSON: handed over untouched.
        out["value"] = None
        out["value_base64"] = base64.b64encode(record.value or b"").decode()
    return out


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")
