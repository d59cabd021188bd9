"""Copies committed audit rows to the platform's Kafka audit topic, oldest first, and marks them published.

The rows are the outbox: a row is marked only after Kafka acknowledged it (acks=all, idempotent producer), in
the transaction that read it, so a failure anywhere leaves it unpublished and it is sent again later: nothing
is lost, and Kafka may see a row twice (at-least-once). While Kafka or PostgreSQL is down the publisher retries
with exponential backoff and never gives up. Committed events wake it through PostgreSQL NOTIFY (any instance's
commits, never a rolled back one); a slow poll covers a lost listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer

from automation.audit import repository
from automation.audit.schemas import AuditEvent
from automation.db import Connection

log = structlog.get_logger("automation.audit")


class AuditPublisher:
    def __init__(
        self,
        pool: asyncpg.Pool,
        kafka_settings: dict[str, Any],
        topic: str,
        *,
        batch_size: int = 100,
        poll_seconds: float = 5.0,
        retry_seconds: float = 0.5,
        max_retry_seconds: float = 30.0,
    ) -> None:
        self.pool, self.kafka_settings, self.topic = pool, kafka_settings, topic
        self.batch_size, self.poll_seconds = batch_size, poll_seconds
        self.retry_seconds, self.max_retry_seconds = retry_seconds, max_retry_seconds
        # Consecutive failed attempts and the last error: what readiness and an operator look at.
        self.failures = 0
        self.last_error: str | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._producer: AIOKafkaProducer | None = None
        self._listener: Connection | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="audit-publisher")

    async def stop(self) -> None:
        """Stop between batches or mid-batch (a cancelled batch stays unpublished and is sent next time)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        self._wake.set()

    async def publish_pending(self) -> int:
        """Publish one batch; the number of rows published (0: nothing pending, or another instance publishes)."""
        producer = await self._ensure_producer()
        async with self.pool.acquire() as connection, connection.transaction():
            if not await repository.lock_publisher(connection):
                return 0
            rows = await repository.unpublished(connection, self.batch_size)
            if not rows:
                return 0
            deliveries = [await producer.send(self.topic, **_message(row)) for row in rows]
            await asyncio.gather(*deliveries)
            await repository.mark_published(connection, [row["event_id"] for row in rows])
        return len(rows)

    async def _run(self) -> None:
        delay = self.retry_seconds
        try:
            while True:
                self._wake.clear()
                await self._ensure_listener()
                try:
                    while await self.publish_pending() == self.batch_size:
                        pass
                except Exception as error:  # the publisher must outlive any broker or database failure
                    self.failures += 1
                    self.last_error = f"{type(error).__name__}: {error}"
                    log.warning("audit publishing failed", error=self.last_error, retry_in=delay)
                    await self._close_producer()
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.max_retry_seconds)
                    continue
                if self.failures:
                    log.info("audit publishing recovered", after_failures=self.failures)
                self.failures, self.last_error, delay = 0, None, self.retry_seconds
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
        finally:
            await self._close_producer()
            await self._close_listener()

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                **self.kafka_settings, acks="all", enable_idempotence=True, request_timeout_ms=15_000
            )
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()

    async def _ensure_listener(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        await self._close_listener()
        try:
            self._listener = await self.pool.acquire(timeout=10)
            await self._listener.add_listener(repository.CHANNEL, self._notified)
        except Exception as error:  # polling still works; the next round tries again
            log.warning("audit listener unavailable", error=str(error))
            await self._close_listener()

    async def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(Exception):
                await listener.remove_listener(repository.CHANNEL, self._notified)
            with contextlib.suppress(Exception):
                await self.pool.release(listener)

    def _notified(self, *_: Any) -> None:
        self._wake.set()


def _message(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "value": json.dumps(AuditEvent.of(row).wire()).encode(),
        # The tenant is the key: one tenant's events stay in order on one partition.
        "key": row["tenant_id"].encode() if row["tenant_id"] else None,
        "headers": [("correlation-id", row["correlation_id"].encode()), ("event-id", row["event_id"].encode())],
        "timestamp_ms": int(row["at"].timestamp() * 1000),
    }
