"""Pure-ASGI middleware: correlation ids (accepted or generated, echoed, available to handlers and logs) and a
request body size limit enforced while reading, so an oversized body is refused without being buffered."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uuid_utils.compat import uuid7

HEADER = "x-correlation-id"
# Accepted as given when it looks like an id; anything else is replaced (it ends up in logs and audit events).
ACCEPTABLE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def correlation_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("correlation_id", ""))


class CorrelationIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(HEADER.encode(), b"").decode("latin-1")
        value = given if ACCEPTABLE.fullmatch(given) else str(uuid7())
        scope.setdefault("state", {})["correlation_id"] = value

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (HEADER.encode(), value.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)


class RejectNulMiddleware:
    """NUL in the path or query string is refused with 400: no identifier or filter of ours may hold it, and
    PostgreSQL text cannot store it (it would fail deep in a handler instead)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _has_nul(scope):
            await _send_problem(scope, send, 400, "Bad Request", "the path or query string contains a NUL character")
            return
        await self.app(scope, receive, send)


def _has_nul(scope: Scope) -> bool:
    raw = bytes(scope.get("raw_path") or scope.get("path", "").encode()) + b"?" + bytes(scope.get("query_string", b""))
    return b"%00" in raw or b"\x00" in raw or "\x00" in scope.get("path", "")


async def _send_problem(scope: Scope, send: Send, status: int, title: str, detail: str) -> None:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": scope.get("path", "").replace("\x00", ""),
        "correlation_id": scope.get("state", {}).get("correlation_id", ""),
    }
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class BodyLimitMiddleware:
    """`max_bytes` for every request, unless `route_limit` gives the request a limit of its own (the executor's
    object uploads are larger than its 1 MB data requests); it returns that limit, or None for `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int, route_limit: Callable[[Scope], int | None] | None = None) -> None:
        self.app, self.max_bytes, self.route_limit = app, max_bytes, route_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        own = self.route_limit(scope) if self.route_limit is not None else None
        max_bytes = self.max_bytes if own is None else own
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await self._refuse(scope, send, max_bytes)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(scope, send, max_bytes)

    async def _refuse(self, scope: Scope, send: Send, max_bytes: int) -> None:
        detail = f"the request body is larger than {max_bytes} bytes"
        await _send_problem(scope, send, 413, "Content Too Large", detail)


class _TooLarge(Exception):  # noqa: N818
    pass
