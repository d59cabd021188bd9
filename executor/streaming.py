"""What the events and realtime streams share: a subscription served as Server-Sent Events or as WebSocket
messages, closed however the client leaves, and a WebSocket refused before its handshake."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from typing import Any, Protocol

from fastapi import WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.types import Receive, Scope, Send

from falcone.http.problems import MEDIA_TYPE, TITLES, Problem

# (kind, payload); None is an idle tick (nothing arrived), a chance to notice a client that left.
Event = tuple[str, dict[str, Any]] | None


class Subscription(Protocol):
    def events(self) -> AsyncGenerator[Event]: ...

    async def close(self) -> None: ...


class SubscriptionStream(StreamingResponse):
    """A text/event-stream that closes its subscription however the response ends (client gone, cancelled,
    never started), so the consumer or listener behind it is always stopped."""

    media_type = "text/event-stream"

    def __init__(self, subscription: Subscription, stream: AsyncGenerator[str]) -> None:
        self.subscription, self.stream = subscription, stream
        super().__init__(stream, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.stream.aclose()
            await self.subscription.close()


async def relay(
    websocket: WebSocket,
    subscription: Subscription,
    last: Mapping[str, int],
    separators: tuple[str, str] | None = None,
) -> None:
    """Accept, then send each event as a JSON text message with its `type` until the client leaves or an event
    whose kind is in `last` (kind → close code) has gone out; the subscription is closed either way."""
    await websocket.accept()
    left = asyncio.create_task(_until_disconnect(websocket))
    try:
        async with aclosing(subscription.events()) as events:
            async for event in events:
                if left.done():
                    return
                if event is None:
                    continue
                kind, payload = event
                await websocket.send_text(json.dumps({"type": kind, **payload}, separators=separators))
                if kind in last:
                    await websocket.close(code=last[kind])
                    return
    except WebSocketDisconnect:
        pass
    finally:
        left.cancel()
        await subscription.close()


async def _until_disconnect(websocket: WebSocket) -> None:
    """Client messages mean nothing here; reading them is how a close is noticed."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


async def deny(websocket: WebSocket, problem: Problem) -> None:
    """The refusal as an HTTP problem response where the server can send one (ASGI denial response), otherwise
    a close before the handshake: 1008 (policy) for 4xx, 1013 (try again later) for 5xx."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        body: dict[str, Any] = {
            "type": problem.type,
            "title": TITLES.get(problem.status, "Error"),
            "status": problem.status,
            "detail": problem.detail,
            "instance": websocket.url.path,
            **problem.extensions,
        }
        response = JSONResponse(body, problem.status, headers=problem.headers, media_type=MEDIA_TYPE)
        await websocket.send_denial_response(response)
    else:
        await websocket.close(code=1013 if problem.status >= 500 else 1008, reason=problem.detail[:120])
