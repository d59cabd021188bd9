"""`Idempotency-Key` on POST (draft-ietf-httpapi-idempotency-key-header): a retried request gets the first
answer instead of doing the work twice.

Records are per authenticated subject, so two principals never share keys. For 24 hours, the same key with the
same method, path and body replays the stored status, headers and body (with `Idempotency-Replayed: true`); with
another request it is a 422; while the first request still runs, a 409 with Retry-After. Requests without a
verified credential are not recorded (authentication refuses them). A 5xx is not stored: the work did not happen
(its transaction rolled back), so a retry with the same key runs again. The response is stored before it is
sent, so a client that saw it can always have it replayed.

Both services use it, each with its own credential check (`Subjects`) and records table in the metadata database.
Pure ASGI so the whole response is captured; the body is read here, inside the body-limit middleware.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import structlog
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from falcone.http.idempotency import repository
from falcone.http.problems import problem_response

# The request's verified subject (its credential checked the way the endpoint will check it), or None: no
# credential, or one the endpoint will refuse. Nothing is recorded for None.
Subjects = Callable[[Scope], Awaitable[str | None]]
# The metadata pool the records live in, from the app's state (it exists once the lifespan has run).
Pools = Callable[[Scope], asyncpg.Pool]

HEADER = b"idempotency-key"
REPLAYED = b"idempotency-replayed"
# An sf-string (quoted) or its bare content, as clients often send it: visible ASCII without quote or backslash.
_CONTENT = r"[\x21\x23-\x5b\x5d-\x7e]{1,255}"
KEY = re.compile(rf'^(?:"({_CONTENT})"|({_CONTENT}))$')
REUSED = "https://falcone.dev/problems/idempotency-key-reused"
IN_FLIGHT = "https://falcone.dev/problems/idempotency-key-in-flight"

log = structlog.get_logger("falcone.idempotency")


class IdempotencyMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        subject: Subjects,
        pool: Pools,
        table: str = repository.TABLES[0],
        ttl: timedelta = timedelta(hours=24),
        lease: timedelta = timedelta(minutes=5),
        purge_every: timedelta = timedelta(minutes=10),
    ) -> None:
        # `lease`: a claim older than this without an answer belongs to a request that died; the key is free again.
        self.app, self.ttl, self.lease, self.purge_every = app, ttl, lease, purge_every.total_seconds()
        self.subject, self.pool, self.records = subject, pool, repository.Records(table)
        self._purged_at: float | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        values = [value for name, value in scope["headers"] if name == HEADER]
        if not values:
            await self.app(scope, receive, send)
            return
        matched = KEY.fullmatch(values[0].decode("latin-1")) if len(values) == 1 else None
        if matched is None:
            detail = "Idempotency-Key must be one value of 1 to 255 visible ASCII characters"
            await problem_response(Request(scope), 400, detail)(scope, receive, send)
            return
        subject = await self.subject(scope)
        if subject is None:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:  # the client went away
            return
        await self._once(scope, _replaying(body, receive), send, subject, matched.group(1) or matched.group(2), body)

    async def _once(self, scope: Scope, receive: Receive, send: Send, subject: str, key: str, body: bytes) -> None:
        pool = self.pool(scope)
        method = scope["method"]
        path = scope["path"] + (f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else "")
        body_hash = hashlib.sha256(body).hexdigest()
        identity = {"subject": subject, "key": key}
        async with pool.acquire() as connection, connection.transaction():
            if self._purged_at is None or time.monotonic() - self._purged_at > self.purge_every:
                self._purged_at = time.monotonic()
                await self.records.purge(connection, self.ttl)
            claimed = await self.records.claim(
                connection, **identity, method=method, path=path, body_hash=body_hash, ttl=self.ttl, lease=self.lease
            )
            existing = None if claimed else await self.records.get(connection, subject, key)
        if claimed is None:
            await self._answer_existing(scope, receive, send, existing, (method, path, body_hash))
            return

        start: Message | None = None
        chunks: list[bytes] = []
        answered = False

        async def capture(message: Message) -> None:
            # The whole response is stored (or the claim released) before its first byte leaves, so a client
            # that saw an answer can always have it replayed; background tasks run after the client has it.
            nonlocal start, answered
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            status, headers, content = start["status"], list(start.get("headers", [])), b"".join(chunks)
            if status >= 500:
                await self._release(pool, identity, claimed)
            elif _no_store(headers):
                # A secret shown once (an API key, a client secret) is never kept; the replay says so instead.
                await self._store(pool, identity, claimed, *_not_replayed(scope))
            else:
                await self._store(pool, identity, claimed, status, headers, content)
            answered = True
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": content})

        try:
            await self.app(scope, receive, capture)
        finally:
            if not answered:  # the app raised (the 500 is answered outside) or never answered
                await self._release(pool, identity, claimed)

    async def _answer_existing(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        existing: dict[str, Any] | None,
        request: tuple[str, str, str],
    ) -> None:
        if existing is None:  # the holder just released it (its request failed): the client may retry now
            existing = {"method": None, "status_code": None}
        elif (existing["method"], existing["path"], existing["body_hash"]) != request:
            detail = "this Idempotency-Key was used with another request (method, path or body); use a new key"
            await problem_response(Request(scope), 422, detail, type_=REUSED)(scope, receive, send)
            return
        if existing["status_code"] is None:
            response = problem_response(
                Request(scope), 409, "a request with this Idempotency-Key is still in progress", type_=IN_FLIGHT
            )
            response.headers["retry-after"] = "1"
            await response(scope, receive, send)
            return
        headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in existing["response_headers"]]
        await send(
            {
                "type": "http.response.start",
                "status": existing["status_code"],
                "headers": [*headers, (REPLAYED, b"true")],
            }
        )
        await send({"type": "http.response.body", "body": existing["response_body"]})

    async def _store(
        self,
        pool: asyncpg.Pool,
        identity: dict[str, str],
        claimed: datetime,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> None:
        stored = [[name.decode("latin-1"), value.decode("latin-1")] for name, value in headers]
        try:
            async with pool.acquire() as connection:
                await self.records.complete(
                    connection, **identity, claimed_at=claimed, status_code=status, headers=stored, body=body
                )
        except Exception as error:  # the work is done; the client gets its answer, a retry waits for the lease
            log.error("idempotency record not completed", error=str(error), key=identity["key"])

    async def _release(self, pool: asyncpg.Pool, identity: dict[str, str], claimed: datetime) -> None:
        try:
            async with pool.acquire() as connection:
                await self.records.release(connection, **identity, claimed_at=claimed)
        except Exception as error:  # the lease frees the key later
            log.error("idempotency claim not released", error=str(error), key=identity["key"])


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """The app reads the body already read here, then whatever comes next (a disconnect)."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _no_store(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(name.lower() == b"cache-control" and b"no-store" in value.lower() for name, value in headers)


def _not_replayed(scope: Scope) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    body = {
        "type": "about:blank",
        "title": "Gone",
        "status": 410,
        "detail": "the first answer to this Idempotency-Key carried a secret that is shown only once and is not "
        "stored; the request was carried out. Revoke or rotate that credential if its answer was lost.",
        "instance": scope.get("path", ""),
    }
    return 410, [(b"content-type", b"application/problem+json")], json.dumps(body).encode()
