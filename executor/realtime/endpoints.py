"""`/v1/realtime`: subscribe to the changes of one of the workspace's tables or document collections.

- `GET /v1/realtime/collections/{name}`: Server-Sent Events of a PostgreSQL table: `ready` once listening, then
  `insert`, `update` (the row as the subscriber reads it) and `delete` (its key) events, `: heartbeat` comments,
  and `error` or `end` as the last event.
- `GET /v1/realtime/mongo/collections/{name}`: the same for a MongoDB collection (`insert`, `update`, `replace`
  with the document, `delete` with its key), documents as relaxed Extended JSON.
- `WS …/ws` under both: the same as JSON text messages with a `type`.

Who subscribes is decided as for any request (a credential header, or an anon key in `?apikey=` for browsers,
see executor/events/dependencies.py); everything is checked before the stream starts, so a refusal is a plain
problem response (or the WebSocket's denial response).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.types import Receive, Scope, Send

from executor.events.dependencies import Subscriber, subscriber_identity
from executor.identity.schemas import Identity
from executor.realtime.dependencies import Realtime
from executor.realtime.service import RealtimeService, Subscription
from falcone.http.problems import MEDIA_TYPE, TITLES, Problem, problem_responses

router = APIRouter(prefix="/v1/realtime", tags=["realtime"])

_STREAM = {
    200: {
        "description": "Server-Sent Events: `ready`, then `insert`/`update`/`delete`; `: heartbeat` comments; "
        "`error` or `end` last",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    **problem_responses(400, 401, 403, 404, 422, 429, 503),
    404: {"description": "no such collection in the caller's workspace"},
}


@router.get("/collections/{name}", response_class=StreamingResponse, responses=_STREAM)
async def subscribe_table(name: str, identity: Subscriber, realtime: Realtime) -> StreamingResponse:
    return ChangeStream(await realtime.subscribe(identity, name))


@router.websocket("/collections/{name}/ws")
async def subscribe_table_websocket(websocket: WebSocket, name: str) -> None:
    """Not in the OpenAPI document (it has no WebSocket operations): see docs/executor/realtime.md."""
    await _websocket(websocket, lambda realtime, identity: realtime.subscribe(identity, name))


@router.get("/mongo/collections/{name}", response_class=StreamingResponse, responses=_STREAM)
async def subscribe_collection(name: str, identity: Subscriber, realtime: Realtime) -> StreamingResponse:
    return ChangeStream(await realtime.subscribe_documents(identity, name))


@router.websocket("/mongo/collections/{name}/ws")
async def subscribe_collection_websocket(websocket: WebSocket, name: str) -> None:
    """Not in the OpenAPI document: see docs/executor/realtime.md."""
    await _websocket(websocket, lambda realtime, identity: realtime.subscribe_documents(identity, name))


async def _websocket(
    websocket: WebSocket, subscribe: Callable[[RealtimeService, Identity], Awaitable[Subscription]]
) -> None:
    try:
        identity = await subscriber_identity(websocket)
        subscription = await subscribe(websocket.app.state.realtime, identity)
    except Problem as problem:
        await _deny(websocket, problem)
        return
    await websocket.accept()
    left = asyncio.create_task(_until_disconnect(websocket))
    try:
        async with aclosing(subscription.events()) as events:
            async for kind, payload in events:
                if left.done():
                    return
                await websocket.send_text(json.dumps({"type": kind, **payload}, separators=(",", ":")))
                if kind in ("error", "end"):
                    await websocket.close(code=1011 if kind == "error" else 1000)
                    return
    except WebSocketDisconnect:
        pass
    finally:
        left.cancel()
        await subscription.close()


class ChangeStream(StreamingResponse):
    """A text/event-stream that closes its subscription however the response ends (client gone, cancelled)."""

    media_type = "text/event-stream"

    def __init__(self, subscription: Subscription) -> None:
        self.subscription, self.stream = subscription, _server_sent(subscription)
        super().__init__(self.stream, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.stream.aclose()
            await self.subscription.close()


async def _server_sent(subscription: Subscription) -> AsyncGenerator[str]:
    async with aclosing(subscription.events()) as events:
        async for kind, payload in events:
            if kind == "heartbeat":
                yield ": heartbeat\n\n"
            else:
                yield f"event: {kind}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n"


async def _until_disconnect(websocket: WebSocket) -> None:
    """Client messages mean nothing here; reading them is how a close is noticed."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


async def _deny(websocket: WebSocket, problem: Problem) -> None:
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
