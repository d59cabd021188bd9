"""Runs queued operations: durable in PostgreSQL, one at a time per stack, up to `max_parallel` stacks at once.

The queue is the `operations` table. The dispatcher claims what may start (see repository._RUNNABLE), runs each
in a task whose Pulumi work happens in threads, streams the engine's events into `operation_events`, keeps a
heartbeat, and records the end. When the process dies mid-run, `recover` (at the next start) finds the
operations it owned, releases their stacks and queues them again (or fails them after too many attempts).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import asyncpg
import structlog
from pulumi import automation as auto

from automation.operations import repository
from automation.operations.engine import StackEngine, command_error, summarize

log = structlog.get_logger("automation.operations")
T = TypeVar("T")
MAX_ATTEMPTS = 3
HEARTBEAT_SECONDS = 5.0
STALE_AFTER = timedelta(seconds=60)


class OperationFailed(Exception):  # noqa: N818 (a failed operation, not an error of ours)
    """A handler's refusal with a reason the user can act on (not a crash)."""


@dataclass
class RunContext:
    """What a handler gets: the engine, the pool, and a way to run blocking work with the events recorded."""

    operation: dict[str, Any]
    engine: StackEngine
    pool: asyncpg.Pool
    _events: asyncio.Queue[tuple[str, dict[str, Any]] | None] = field(default_factory=asyncio.Queue)

    def event(self, type_: str, payload: dict[str, Any]) -> None:
        self._events.put_nowait((type_, payload))

    async def in_thread(self, work: Callable[[Callable[[auto.EngineEvent], None]], T]) -> T:
        """Run `work(on_event)` in a worker thread; its engine events reach the operation's event log."""
        loop = asyncio.get_running_loop()

        def on_event(event: auto.EngineEvent) -> None:
            summary = summarize(event)
            if summary is not None:
                loop.call_soon_threadsafe(self._events.put_nowait, summary)

        return await asyncio.to_thread(work, on_event)

    @property
    def message(self) -> str:
        op = self.operation
        return f"{op['kind']} {op['id']} correlation-id={op['correlation_id']}"

    @property
    def tags(self) -> dict[str, str]:
        return {"falcone:operation": self.operation["id"], "falcone:correlation-id": self.operation["correlation_id"]}


class Handler(Protocol):
    async def run(self, context: RunContext) -> dict[str, Any]: ...

    async def failed(self, context: RunContext, reason: str) -> None: ...


FinishedHook = Callable[[dict[str, Any]], Awaitable[None]]


class Dispatcher:
    def __init__(
        self,
        pool: asyncpg.Pool,
        engine: StackEngine,
        handlers: dict[str, Handler],
        *,
        worker: str,
        max_parallel: int,
        on_finished: list[FinishedHook] | None = None,
    ) -> None:
        self.pool, self.engine, self.handlers = pool, engine, handlers
        self.worker, self.max_parallel = worker, max_parallel
        self.on_finished = on_finished or []
        self._wake = asyncio.Event()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def wake(self) -> None:
        self._wake.set()

    @property
    def running(self) -> list[str]:
        return sorted(self._running)

    async def start(self) -> None:
        await self.recover()
        self._tasks = [asyncio.create_task(self._loop()), asyncio.create_task(self._heartbeat())]

    async def stop(self) -> None:
        """Stop claiming; operations in flight keep their `running` row and are recovered at the next start."""
        for task in [*self._tasks, *self._running.values()]:
            task.cancel()
        for task in [*self._tasks, *self._running.values()]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def recover(self) -> list[str]:
        """Operations a dead process left `running`: release their stacks, then queue them again or fail them."""
        recovered = []
        async with self.pool.acquire() as connection, connection.transaction():
            stale_before = datetime.now(UTC) - STALE_AFTER
            for operation in await repository.interrupted(connection, self.worker, stale_before):
                released = await asyncio.to_thread(self.engine.release, operation["stack"])
                note = {"reason": "the service stopped during this operation", "released": released}
                if operation["attempts"] >= MAX_ATTEMPTS:
                    reason = f"interrupted {operation['attempts']} times; giving up (retry to try again)"
                    await repository.append_events(connection, operation["id"], [("interrupted", note)])
                    await repository.finish(connection, operation["id"], status="failed", outputs=None, error=reason)
                    failed_context = RunContext(operation, self.engine, self.pool)
                    await self.handlers[operation["kind"]].failed(failed_context, reason)
                else:
                    await repository.append_events(connection, operation["id"], [("interrupted", note)])
                    await repository.requeue(connection, operation["id"])
                recovered.append(operation["id"])
                log.warning("operation interrupted", operation=operation["id"], stack=operation["stack"], **note)
        if recovered:
            self.wake()
        return recovered

    async def _loop(self) -> None:
        while True:
            while len(self._running) < self.max_parallel:
                operation = await self._claim()
                if operation is None:
                    break
                self._running[operation["id"]] = asyncio.create_task(self._run(operation))
            self._wake.clear()
            # Woken by a new operation or a finished one; the timeout covers other instances' queues.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=2.0)

    async def _claim(self) -> dict[str, Any] | None:
        async with self.pool.acquire() as connection:
            try:
                return await repository.claim(connection, self.worker)
            except asyncpg.UniqueViolationError:
                return None  # another instance started that stack's operation a moment ago

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            if self._running:
                async with self.pool.acquire() as connection:
                    await repository.heartbeat(connection, list(self._running))

    async def _run(self, operation: dict[str, Any]) -> None:
        context = RunContext(operation, self.engine, self.pool)
        writer = asyncio.create_task(self._write_events(context))
        started = time.monotonic()
        status, outputs, error = "succeeded", None, None
        context.event("status", {"status": "running", "attempt": operation["attempts"]})
        try:
            outputs = await self.handlers[operation["kind"]].run(context)
        except asyncio.CancelledError:
            context._events.put_nowait(None)
            raise  # shutdown: the row stays `running` and is recovered at the next start
        except Exception as exc:  # every failure ends the operation with a reason; nothing stays "running"
            status = "failed"
            error = str(exc) if isinstance(exc, OperationFailed) else command_error(exc)
            log.warning("operation failed", operation=operation["id"], kind=operation["kind"], error=error)
            try:
                await self.handlers[operation["kind"]].failed(context, error)
            except Exception:
                log.exception("recording the failure failed", operation=operation["id"])
        context.event("status", {"status": status, **({"error": error} if error else {})})
        context._events.put_nowait(None)
        await writer
        async with self.pool.acquire() as connection:
            finished = await repository.finish(connection, operation["id"], status=status, outputs=outputs, error=error)
        finished["duration_seconds"] = time.monotonic() - started
        log.info("operation finished", operation=operation["id"], kind=operation["kind"], status=status)
        for hook in self.on_finished:
            try:
                await hook(finished)
            except Exception:
                log.exception("operation hook failed", operation=operation["id"])
        del self._running[operation["id"]]
        self.wake()

    async def _write_events(self, context: RunContext) -> None:
        done = False
        while not done:
            batch = [await context._events.get()]
            while not context._events.empty():
                batch.append(context._events.get_nowait())
            done = batch[-1] is None
            events = [item for item in batch if item is not None]
            if events:
                async with self.pool.acquire() as connection:
                    await repository.append_events(connection, context.operation["id"], events)
            if not done:
                await asyncio.sleep(0.2)  # batch the engine's bursts
