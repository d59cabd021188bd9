"""Tenant isolation of the events surface, black-box through HTTP and WebSocket, one test per threat.

The world's Kafka-capable plans (growth, regulated, enterprise) give 3 tenants x 2 workspaces. Every pair
(victim, attacker) of distinct workspaces is tried, same-tenant pairs included; each denial has the owner's
success next to it as control. A topic is named by its short name and only ever looked up under the caller's own
prefix, so a crafted name (another workspace's full Kafka name, say) is simply not one of the caller's topics.
"""

from __future__ import annotations

import asyncio
import itertools
from contextlib import AsyncExitStack
from typing import Any

import httpx2
import pytest
from httpx2.websockets import ASGIWebSocketTransport, WebSocketDisconnect

from tests.executor.conftest import Workspace, World
from tests.executor.test_events import (
    TOPIC,
    kafka_workspaces,
    marker,
    publish,
    publish_path,
    real_client,
    sse,
    subscribe_path,
    workspaces_without_kafka,
    ws_path,
)

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]


def _pairs(world: World) -> list[tuple[Workspace, Workspace]]:
    return list(itertools.permutations(kafka_workspaces(world), 2))


def _crafted(victim: Workspace) -> list[str]:
    """Names an attacker might try for the victim's topic: its Kafka name, and variants of it."""
    full = victim.names.topic(TOPIC)
    return [full, f".{full}", f"{full}.", full.upper(), f"{victim.names.slug}.{TOPIC}", f"..%2F{full}"]


def _absent(response: httpx2.Response) -> bool:
    return response.status_code == 404 and response.headers["content-type"] == "application/problem+json"


async def _ws_refusal(executor_app: Any, path: str, headers: dict[str, str]) -> WebSocketDisconnect:
    """The in-process WebSocket handshake's refusal (this transport has no denial responses: a close with the
    reason, 1008 for a client error)."""
    transport = ASGIWebSocketTransport(app=executor_app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://executor") as http:
        with pytest.raises(WebSocketDisconnect) as closed:
            async with http.websocket(path, headers=headers):
                pass
    return closed.value


async def test_foreign_credential_cannot_publish_to_another_workspaces_topic(
    world: World, client: httpx2.AsyncClient
) -> None:
    for victim, attacker in _pairs(world):
        body = {"records": [{"value": f"planted by {attacker.label}"}]}
        for name in _crafted(victim):
            planted = await client.post(publish_path(name), json=body, headers=attacker.headers())
            assert _absent(planted), (victim.label, attacker.label, name, planted.text)
    for workspace in kafka_workspaces(world):  # control: each owner publishes to its own topic
        owned = await client.post(publish_path(), json={"records": [{"value": "own"}]}, headers=workspace.headers())
        assert owned.status_code == 200, owned.text


async def test_foreign_credential_cannot_subscribe_to_another_workspaces_topic(
    world: World, client: httpx2.AsyncClient, executor_app: Any
) -> None:
    for victim, attacker in _pairs(world):
        for name in _crafted(victim):
            for kind in ("service", "anon"):
                streamed = await client.get(subscribe_path(name), headers=attacker.headers(kind))
                assert _absent(streamed), (victim.label, attacker.label, name, kind, streamed.text)
        refusal = await _ws_refusal(executor_app, ws_path(victim.names.topic(TOPIC)), attacker.headers())
        assert refusal.code == 1008
        assert "no topic" in refusal.reason


async def test_a_subscriber_receives_only_its_own_workspaces_records(world: World, executor_url: str) -> None:
    """Every workspace subscribes at once, twice: plainly, and with a crafted group id (the same short group name
    everywhere, and the victim's Kafka group id as a name); then every workspace publishes a record of its own.
    Each subscriber reads up to its own workspace's closing record and must have seen nothing else."""
    workspaces = kafka_workspaces(world)
    victim_of = {w.label: workspaces[(i + 1) % len(workspaces)] for i, w in enumerate(workspaces)}
    tags = {w.label: marker(w.label) for w in workspaces}
    ends = {w.label: marker(f"end-{w.label}") for w in workspaces}
    async with real_client(executor_url) as http, AsyncExitStack() as open_streams:
        streams = []
        for workspace in workspaces:
            victim_group = f"{victim_of[workspace.label].names.topic_prefix}shared"
            for params in ({}, {"group": "shared"}, {"group": victim_group}):
                stream = await open_streams.enter_async_context(sse(http, workspace.headers(), **params))
                streams.append((workspace, stream))
        for workspace in workspaces:
            await publish(http, workspace, [tags[workspace.label]])
        for workspace in workspaces:
            await publish(http, workspace, [ends[workspace.label]])
        seen = await asyncio.gather(*(stream.until(ends[workspace.label]) for workspace, stream in streams))
    foreign = set(tags.values()) | set(ends.values())
    for (workspace, _), records in zip(streams, seen, strict=True):
        values = [record["value"] for record in records]
        assert tags[workspace.label] in values  # control: its own record arrived
        assert not (set(values) & (foreign - {tags[workspace.label], ends[workspace.label]})), workspace.label


async def test_anon_key_cannot_publish_in_any_workspace(world: World, client: httpx2.AsyncClient) -> None:
    for workspace in kafka_workspaces(world):
        refused = await client.post(
            publish_path(), json={"records": [{"value": "anon"}]}, headers=workspace.headers("anon")
        )
        assert refused.status_code == 403, (workspace.label, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        listed = await client.get("/v1/events/topics", headers=workspace.headers("anon"))
        assert listed.status_code == 200  # control: the anon key reads


async def test_a_workspace_without_kafka_has_no_event_topics(
    world: World, client: httpx2.AsyncClient, executor_app: Any
) -> None:
    for workspace in workspaces_without_kafka(world):
        for kind in ("service", "anon"):
            headers = workspace.headers(kind)
            listed = await client.get("/v1/events/topics", headers=headers)
            streamed = await client.get(subscribe_path(), headers=headers)
            assert _absent(listed)
            assert _absent(streamed)
        published = await client.post(publish_path(), json={"records": [{"value": 1}]}, headers=workspace.headers())
        assert _absent(published)
        refusal = await _ws_refusal(executor_app, ws_path(), workspace.headers())
        assert refusal.code == 1008
        assert "no event topics" in refusal.reason


async def test_a_presented_but_invalid_credential_fails_closed(
    world: World, client: httpx2.AsyncClient, executor_app: Any
) -> None:
    workspace = kafka_workspaces(world)[0]
    forged = {"apikey": workspace.service_key[:-4] + "AAAA"}
    bearer = {"Authorization": "Bearer not-a-jwt"}
    for headers in (forged, bearer, {}):
        assert (await client.get("/v1/events/topics", headers=headers)).status_code == 401
        published = await client.post(publish_path(), json={"records": [{"value": 1}]}, headers=headers)
        assert published.status_code == 401
        assert (await client.get(subscribe_path(), headers=headers)).status_code == 401
        refusal = await _ws_refusal(executor_app, ws_path(), headers)
        assert refusal.code == 1008
    query = await client.get(subscribe_path(), params={"apikey": workspace.anon_key[:-4] + "AAAA"})
    assert query.status_code == 401
    # Control: the real key works.
    assert (await client.get("/v1/events/topics", headers=workspace.headers())).status_code == 200
