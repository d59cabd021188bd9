"""`/v1/events`: the workspace's Kafka topics by short name.

- `GET  /v1/events/topics`: the topics and their partitions.
- `POST /v1/events/topics/{topic}/publish`: records in, each one's partition and offset out once all in-sync
  replicas have it (503 with Retry-After otherwise); anon keys may not publish.
- `GET  /v1/events/topics/{topic}/subscribe`: Server-Sent Events (`ready`, `record`, `error` events and heartbeat
  comments); `WS /v1/events/topics/{topic}/ws`: the same as JSON text messages with a `type`.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Annotated

from fastapi import APIRouter, Query, Request, WebSocket
from fastapi.responses import StreamingResponse

from executor.events.dependencies import Events
from executor.events.schemas import GROUP_PATTERN, Delivered, PublishIn, PublishOut, Start, TopicList, TopicOut
from executor.events.service import EventsService, Subscription
from executor.identity.dependencies import CurrentIdentity
from executor.identity.subscriber import Subscriber, subscriber_identity
from executor.streaming import SubscriptionStream, deny, relay
from falcone.http.problems import Problem, problem_responses

router = APIRouter(prefix="/v1/events", tags=["events"])

_ERRORS = problem_responses(401, 404, 422, 429, 503)
_ERRORS[404]["description"] = "no such topic in the caller's workspace, or the workspace has no event topics"
_STREAM = {
    200: {
        "description": "Server-Sent Events: `ready` (positions), then `record`s; `: heartbeat` comments",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    **_ERRORS,
}
StartQuery = Annotated[Start, Query(alias="from", description="without a group, or for a group's first read")]
GroupQuery = Annotated[
    str | None,
    Query(pattern=GROUP_PATTERN.pattern, description="a consumer group: share the partitions, resume where it left"),
]


@router.get("/topics", response_model=TopicList, responses=_ERRORS)
async def list_topics(identity: CurrentIdentity, events: Events) -> TopicList:
    topics = await events.topics(identity)
    return TopicList(items=[TopicOut(name=name, partitions=count) for name, count in sorted(topics.items())])


@router.post("/topics/{topic}/publish", response_model=PublishOut, responses={**_ERRORS, **problem_responses(403, 413)})
async def publish(topic: str, body: PublishIn, identity: CurrentIdentity, events: Events) -> PublishOut:
    delivered = await events.publish(identity, topic, body.records)
    return PublishOut(
        topic=topic,
        records=[Delivered(partition=m.partition, offset=m.offset, timestamp=m.timestamp or -1) for m in delivered],
    )


@router.get("/topics/{topic}/subscribe", response_class=StreamingResponse, responses=_STREAM)
async def subscribe(
    topic: str,
    request: Request,
    identity: Subscriber,
    events: Events,
    start: StartQuery = "latest",
    group: GroupQuery = None,
) -> StreamingResponse:
    subscription = await events.subscribe(identity, topic, start, group)
    return SubscriptionStream(subscription, _server_sent(subscription, request))


@router.websocket("/topics/{topic}/ws")
async def subscribe_websocket(websocket: WebSocket, topic: str) -> None:
    """Not in the OpenAPI document (it has no WebSocket operations): see docs/executor/events.md."""
    events: EventsService = websocket.app.state.events
    try:
        start, group = _options(websocket)
        identity = await subscriber_identity(websocket)
        subscription = await events.subscribe(identity, topic, start, group)
    except Problem as problem:
        await deny(websocket, problem)
        return
    await relay(websocket, subscription, {"error": 1011})


async def _server_sent(subscription: Subscription, request: Request) -> AsyncGenerator[str]:
    async with aclosing(subscription.events()) as stream:
        async for event in stream:
            if event is None:
                if await request.is_disconnected():
                    return
                continue
            kind, payload = event
            if kind == "heartbeat":
                yield ": heartbeat\n\n"
                continue
            ident = f"id: {payload['partition']}:{payload['offset']}\n" if kind == "record" else ""
            yield f"event: {kind}\n{ident}data: {json.dumps(payload)}\n\n"
            if kind == "error":
                return


def _options(websocket: WebSocket) -> tuple[Start, str | None]:
    """The query options of the SSE route, checked by hand: FastAPI would close a WebSocket without a reason."""
    start, group = websocket.query_params.get("from", "latest"), websocket.query_params.get("group")
    if start not in ("latest", "earliest"):
        raise Problem(422, "`from` is latest or earliest")
    if group is not None and not re.fullmatch(GROUP_PATTERN, group):
        raise Problem(422, f"`group` must match {GROUP_PATTERN.pattern}")
    return ("earliest" if start == "earliest" else "latest"), group
