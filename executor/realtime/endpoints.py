"""`/v1/realtime`: subscribe to the changes of one of the workspace's tables or document collections.

- `GET /v1/realtime/collections/{name}`: Server-Sent Events of a PostgreSQL table: `ready` once listening, then
  `insert`, `update` (the row as the subscriber reads it) and `delete` (its key) events, `: heartbeat` comments,
  and `error` or `end` as the last event.
- `GET /v1/realtime/mongo/collections/{name}`: the same for a MongoDB collection (`insert`, `update`, `replace`
  with the document, `delete` with its key), documents as relaxed Extended JSON.
- `WS …/ws` under both: the same as JSON text messages with a `type`.

Who subscribes is decided as for any request (a credential header, or an anon key in `?apikey=` for browsers,
see executor/identity/subscriber.py); everything is checked before the stream starts, so a refusal is a plain
problem response (or the WebSocket's denial response).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing

from fastapi import APIRouter, WebSocket
from fastapi.responses import StreamingResponse

from executor.identity.schemas import Identity
from executor.identity.subscriber import Subscriber, subscriber_identity
from executor.realtime.dependencies import Realtime
from executor.realtime.service import RealtimeService, Subscription
from executor.streaming import SubscriptionStream, deny, relay
from falcone.http.problems import Problem, problem_responses

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
    return _change_stream(await realtime.subscribe(identity, name))


@router.websocket("/collections/{name}/ws")
async def subscribe_table_websocket(websocket: WebSocket, name: str) -> None:
    """Not in the OpenAPI document (it has no WebSocket operations): see docs/executor/realtime.md."""
    await _websocket(websocket, lambda realtime, identity: realtime.subscribe(identity, name))


@router.get("/mongo/collections/{name}", response_class=StreamingResponse, responses=_STREAM)
async def subscribe_collection(name: str, identity: Subscriber, realtime: Realtime) -> StreamingResponse:
    return _change_stream(await realtime.subscribe_documents(identity, name))


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
        await deny(websocket, problem)
        return
    await relay(websocket, subscription, {"error": 1011, "end": 1000}, separators=(",", ":"))


def _change_stream(subscription: Subscription) -> StreamingResponse:
    return SubscriptionStream(subscription, _server_sent(subscription))


async def _server_sent(subscription: Subscription) -> AsyncGenerator[str]:
    async with aclosing(subscription.events()) as events:
        async for kind, payload in events:
            if kind == "heartbeat":
                yield ": heartbeat\n\n"
            else:
                yield f"event: {kind}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n"
