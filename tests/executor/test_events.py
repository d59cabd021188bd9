"""The events surface on the real Kafka: publish (acks=all) and subscribe over SSE and WebSocket on a real
`python -m executor`, the request checks, consumer groups, and 503 + Retry-After when the brokers cannot answer.

The isolation matrix is in test_events_isolation.py; the helpers here serve both.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx2
import hvac
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from httpx2.websockets import AsyncWebSocketSession, WebSocketUpgradeError
from uuid_utils.compat import uuid7

from executor.app import create_app
from executor.events.service import consumer_group
from falcone.plans import Capability
from tests.executor.conftest import Workspace, World

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]

TOPIC = "events"  # the workspace stack's default topic
# Bounds every wait for the broker, so a failure is an error instead of a hang (never a timing assertion).
WAIT_S = 60.0


def kafka_workspaces(world: World) -> list[Workspace]:
    return [workspace for workspace in world.workspaces if workspace.allows(Capability.KAFKA)]


def workspaces_without_kafka(world: World) -> list[Workspace]:
    return [workspace for workspace in world.workspaces if not workspace.allows(Capability.KAFKA)]


def publish_path(topic: str = TOPIC) -> str:
    return f"/v1/events/topics/{topic}/publish"


def subscribe_path(topic: str = TOPIC) -> str:
    return f"/v1/events/topics/{topic}/subscribe"


def ws_path(topic: str = TOPIC) -> str:
    return f"/v1/events/topics/{topic}/ws"


def marker(label: str) -> str:
    return f"{label}-{uuid7()}"


@asynccontextmanager
async def real_client(executor_url: str) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=executor_url, timeout=WAIT_S) as http:
        yield http


class Stream:
    """An open SSE subscription: its `ready` payload, then records read on demand."""

    def __init__(self, ready: dict[str, Any], events: AsyncIterator[httpx2.ServerSentEvent]) -> None:
        self.ready, self._events = ready, events

    async def records(self, count: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        async with asyncio.timeout(WAIT_S):
            while len(found) < count:
                event = await anext(self._events)
                assert event.event == "record", event
                found.append(dict(json.loads(event.data)))
        return found

    async def until(self, value: Any) -> list[dict[str, Any]]:
        """Records up to and including the one whose value is `value`."""
        found: list[dict[str, Any]] = []
        while not found or found[-1]["value"] != value:
            found += await self.records(1)
        return found


@asynccontextmanager
async def sse(
    http: httpx2.AsyncClient, headers: dict[str, str], topic: str = TOPIC, **params: str
) -> AsyncIterator[Stream]:
    async with http.sse(subscribe_path(topic), headers=headers, params=params) as source:
        response = source.response
        if response.status_code != 200:
            await response.aread()
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/event-stream")
        events = aiter(source)
        async with asyncio.timeout(WAIT_S):
            ready = await anext(events)
        assert ready.event == "ready", ready
        yield Stream(dict(json.loads(ready.data)), events)


async def ws_records(ws: AsyncWebSocketSession, count: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    async with asyncio.timeout(WAIT_S):
        while len(found) < count:
            message = json.loads(await ws.receive_text())
            if message["type"] == "record":
                found.append(message)
            else:
                assert message["type"] == "heartbeat", message
    return found


async def publish(
    http: httpx2.AsyncClient, workspace: Workspace, values: list[Any], topic: str = TOPIC
) -> list[dict[str, Any]]:
    records = [{"value": value} for value in values]
    response = await http.post(publish_path(topic), json={"records": records}, headers=workspace.headers())
    assert response.status_code == 200, response.text
    delivered: list[dict[str, Any]] = response.json()["records"]
    assert len(delivered) == len(values)
    return delivered


# --- topics ------------------------------------------------------------------------------------------------------


async def test_a_workspace_lists_its_own_topics_by_short_name(world: World, client: httpx2.AsyncClient) -> None:
    for workspace in kafka_workspaces(world):
        for kind in ("service", "anon"):
            listed = await client.get("/v1/events/topics", headers=workspace.headers(kind))
            assert listed.status_code == 200, listed.text
            [topic] = listed.json()["items"]
            assert topic["name"] == TOPIC
            assert topic["partitions"] >= 1
    for workspace in workspaces_without_kafka(world):
        absent = await client.get("/v1/events/topics", headers=workspace.headers())
        assert absent.status_code == 404
        assert absent.headers["content-type"] == "application/problem+json"
        assert "no event topics" in absent.json()["detail"]


# --- publish and subscribe ---------------------------------------------------------------------------------------


async def test_published_records_are_acknowledged_and_delivered_over_sse(world: World, executor_url: str) -> None:
    workspace = kafka_workspaces(world)[0]
    async with real_client(executor_url) as http, sse(http, workspace.headers()) as stream:
        assert stream.ready["topic"] == TOPIC
        assert stream.ready["from"] == "latest"
        tag = marker(workspace.label)
        records: list[dict[str, Any]] = [
            {"key": "order-1", "value": {"tag": tag, "n": 1, "nested": [1, "two", None]}, "headers": {"source": "t"}},
            {"key": "order-1", "value": [tag, 2.5, True]},
            {"value": tag},
            {"value": None, "headers": {"kind": "tombstone-ish", "unicode": "été ✓"}},
        ]
        published = await http.post(publish_path(), json={"records": records}, headers=workspace.headers())
        assert published.status_code == 200, published.text
        assert published.json()["topic"] == TOPIC
        acknowledged = published.json()["records"]
        received = await stream.records(len(records))
    # Kafka orders records within a partition only: match each acknowledgement to its delivery by position.
    delivered = {(r["partition"], r["offset"]): r for r in received}
    positions = [(a["partition"], a["offset"]) for a in acknowledged]
    assert sorted(delivered) == sorted(positions)
    in_publish_order = [delivered[position] for position in positions]
    assert [r["value"] for r in in_publish_order] == [r["value"] for r in records]
    assert [r["key"] for r in in_publish_order] == ["order-1", "order-1", None, None]
    assert in_publish_order[0]["headers"] == {"source": "t"}
    assert in_publish_order[3]["headers"] == {"kind": "tombstone-ish", "unicode": "été ✓"}
    assert all(r["topic"] == TOPIC and r["timestamp"] > 0 for r in received)
    # Records with one key share a partition, in order.
    assert acknowledged[1]["offset"] == acknowledged[0]["offset"] + 1


async def test_earliest_replays_records_published_before_the_subscription(world: World, executor_url: str) -> None:
    workspace = kafka_workspaces(world)[1]
    async with real_client(executor_url) as http:
        tag = marker(workspace.label)
        [first] = await publish(http, workspace, [tag])
        async with sse(http, workspace.headers(), **{"from": "earliest"}) as stream:
            assert stream.ready["from"] == "earliest"
            replayed = await stream.until(tag)
    assert (replayed[-1]["partition"], replayed[-1]["offset"]) == (first["partition"], first["offset"])


async def test_websocket_delivers_published_records(world: World, executor_url: str) -> None:
    workspace = kafka_workspaces(world)[2]
    # Headers, like any client; and an anon key in the query string, as a browser must.
    async with (
        real_client(executor_url) as http,
        http.websocket(ws_path(), headers=workspace.headers()) as service,
        http.websocket(ws_path(), params={"apikey": workspace.anon_key}) as browser,
    ):
        for ws in (service, browser):
            ready = json.loads(await ws.receive_text())
            assert ready["type"] == "ready"
            assert ready["topic"] == TOPIC
        tag = marker(workspace.label)
        [acknowledged] = await publish(http, workspace, [{"tag": tag}])
        for ws in (service, browser):
            [record] = await ws_records(ws, 1)
            assert record["value"] == {"tag": tag}
            assert (record["partition"], record["offset"]) == (acknowledged["partition"], acknowledged["offset"])


async def test_anon_key_subscribes_through_the_query_string_but_cannot_publish(
    world: World, client: httpx2.AsyncClient, executor_url: str
) -> None:
    workspace = kafka_workspaces(world)[3]
    refused = await client.post(
        publish_path(), json={"records": [{"value": "from a browser"}]}, headers=workspace.headers("anon")
    )
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    async with real_client(executor_url) as http, sse(http, {}, apikey=workspace.anon_key) as stream:
        tag = marker(workspace.label)
        await publish(http, workspace, [tag])  # control: the service key publishes
        assert (await stream.until(tag))[-1]["value"] == tag
    # The anon key never got a record of its own in: the topic holds the service key's records only.
    async with real_client(executor_url) as http, sse(http, {}, apikey=workspace.anon_key, **{"from": "earliest"}) as s:
        end = marker("end")
        await publish(http, workspace, [end])
        assert "from a browser" not in [record["value"] for record in await s.until(end)]


async def test_only_an_anon_key_may_travel_in_the_query_string(
    world: World, client: httpx2.AsyncClient, executor_url: str
) -> None:
    workspace = kafka_workspaces(world)[0]
    in_url = await client.get(subscribe_path(), params={"apikey": workspace.service_key})
    assert in_url.status_code == 401, in_url.text
    assert "query string" in in_url.json()["detail"]
    # Two different credentials (header and query) are refused, as for any route.
    both = await client.get(
        subscribe_path(), params={"apikey": workspace.anon_key}, headers={"apikey": workspace.service_key}
    )
    assert both.status_code == 401
    with pytest.raises(WebSocketUpgradeError) as upgrade:
        async with (
            real_client(executor_url) as http,
            http.websocket(ws_path(), params={"apikey": workspace.service_key}),
        ):
            pass
    assert upgrade.value.response.status_code == 401
    assert upgrade.value.response.headers["content-type"] == "application/problem+json"


async def test_a_group_resumes_after_its_committed_offset_and_is_left_on_disconnect(
    world: World, executor_url: str
) -> None:
    workspace = kafka_workspaces(world)[4]
    group = f"readers-{uuid7().hex[:8]}"
    first, second = marker("first"), marker("second")
    async with real_client(executor_url) as http:
        async with sse(http, workspace.headers(), group=group) as stream:
            assert stream.ready["group"] == group
            [delivered] = await publish(http, workspace, [first])
            assert (await stream.until(first))[-1]["value"] == first
            # Committed once sent: the group's offset moves past `first` while the subscriber is still there.
            await wait_for_commit(world, consumer_group(workspace.names, group), delivered["offset"] + 1)
        # Gone: the group must be empty again (the consumer stopped), then a record arrives while nobody listens.
        await wait_for_empty_group(world, consumer_group(workspace.names, group))
        await publish(http, workspace, [second])
        async with sse(http, workspace.headers(), group=group, **{"from": "earliest"}) as stream:
            # Resumed after the committed `first` (not from the earliest record), so `second` comes first.
            [resumed] = await stream.records(1)
    assert resumed["value"] == second


@asynccontextmanager
async def kafka_admin(world: World) -> AsyncIterator[AIOKafkaAdminClient]:
    kafka = world.deployment.backends.kafka
    assert kafka is not None
    admin = AIOKafkaAdminClient(**kafka.client_settings())
    await admin.start()
    try:
        async with asyncio.timeout(WAIT_S):
            yield admin
    finally:
        await admin.close()


async def wait_for_empty_group(world: World, group_id: str) -> None:
    async with kafka_admin(world) as admin:
        while True:
            [description] = await admin.describe_consumer_groups([group_id])
            [group] = description.groups
            if group[1] == group_id and group[2] == "Empty":
                return
            await asyncio.sleep(0.2)


async def wait_for_commit(world: World, group_id: str, offset: int) -> None:
    async with kafka_admin(world) as admin:
        while True:
            committed = await admin.list_consumer_group_offsets(group_id)
            if any(meta.offset >= offset for meta in committed.values()):
                return
            await asyncio.sleep(0.2)


async def test_a_record_written_by_another_client_of_the_workspace_is_handed_over_untouched(
    world: World, executor_url: str
) -> None:
    """The workspace's principal may produce straight to Kafka; bytes that are not JSON reach subscribers as
    `value_base64` (and a JSON text as its value)."""
    workspace = kafka_workspaces(world)[5]
    vault = world.deployment.backends.vault
    assert vault is not None
    kv: Any = hvac.Client(url=vault.address, token=vault.token).secrets.kv.v2  # untyped in types-hvac
    secret = kv.read_secret_version(
        path=f"{workspace.names.vault_prefix}/events",
        mount_point=world.deployment.outputs.vault_mount,
        raise_on_deleted_version=True,
    )["data"]["data"]
    settings = world.settings
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        security_protocol=settings.kafka_security_protocol,
        sasl_mechanism=settings.kafka_sasl_mechanism,
        sasl_plain_username=secret["principal"],
        sasl_plain_password=secret["password"],
        acks="all",
    )
    raw, text = b"\xff\x00 not json", marker("raw")
    async with real_client(executor_url) as http, sse(http, workspace.headers()) as stream:
        await producer.start()
        try:
            await producer.send_and_wait(workspace.names.topic(TOPIC), raw, key=b"\xfe")
            await producer.send_and_wait(workspace.names.topic(TOPIC), json.dumps(text).encode())
        finally:
            await producer.stop()
        binary, textual = await stream.records(2)
    assert binary["value"] is None
    assert base64.b64decode(binary["value_base64"]) == raw
    assert binary["key"] == "\ufffd"
    assert textual["value"] == text
    assert "value_base64" not in textual


# --- bad input ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"records": []},
        {"records": [{"value": i} for i in range(101)]},
        {"records": [{"value": 1, "partition": 0}]},
        {"records": [{"key": "k"}]},
        {"records": [{"value": 1, "headers": {"h": 1}}]},
        {"records": [{"value": 1, "headers": {"": "empty name"}}]},
        {"records": [{"value": 1, "key": "x" * 1025}]},
        [{"value": 1}],
    ],
    ids=[
        "empty",
        "no-records",
        "too-many",
        "extra-field",
        "no-value",
        "header-not-text",
        "empty-header",
        "long-key",
        "array",
    ],
)
async def test_bad_publish_requests_are_422_problems(world: World, client: httpx2.AsyncClient, body: Any) -> None:
    workspace = kafka_workspaces(world)[0]
    refused = await client.post(publish_path(), json=body, headers=workspace.headers())
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"records": [{"value": NaN}]}',
        b'{"records": [{"value": 1, "key": "\\ud800"}]}',
        b'{"records": [{"value": 1, "headers": {"\\udfff": "x"}}]}',
        b'{"records": [{"value": 1}]',
    ],
    ids=["nan", "lone-surrogate-key", "lone-surrogate-header", "truncated"],
)
async def test_values_kafka_cannot_carry_are_422_problems(world: World, client: httpx2.AsyncClient, raw: bytes) -> None:
    workspace = kafka_workspaces(world)[0]
    headers = {**workspace.headers(), "content-type": "application/json"}
    refused = await client.post(publish_path(), content=raw, headers=headers)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"


async def test_bad_subscription_options_are_422_problems(
    world: World, client: httpx2.AsyncClient, executor_url: str
) -> None:
    workspace = kafka_workspaces(world)[0]
    for params in ({"from": "yesterday"}, {"group": "../other"}, {"group": "a" * 101}, {"group": ""}):
        refused = await client.get(subscribe_path(), params=params, headers=workspace.headers())
        assert refused.status_code == 422, (params, refused.text)
        with pytest.raises(WebSocketUpgradeError) as upgrade:
            async with (
                real_client(executor_url) as http,
                http.websocket(ws_path(), params=params, headers=workspace.headers()),
            ):
                pass
        assert upgrade.value.response.status_code == 422, params


async def test_an_unknown_topic_is_a_404_problem(world: World, client: httpx2.AsyncClient) -> None:
    workspace = kafka_workspaces(world)[0]
    for topic in ("nope", "events2", "EVENTS", "events.", ".events"):
        published = await client.post(
            publish_path(topic), json={"records": [{"value": 1}]}, headers=workspace.headers()
        )
        assert published.status_code == 404, (topic, published.text)
        subscribed = await client.get(subscribe_path(topic), headers=workspace.headers())
        assert subscribed.status_code == 404
        assert subscribed.headers["content-type"] == "application/problem+json"
    control = await client.post(publish_path(), json={"records": [{"value": 1}]}, headers=workspace.headers())
    assert control.status_code == 200


# --- the brokers cannot answer -----------------------------------------------------------------------------------


@contextmanager
def black_hole() -> Iterator[str]:
    """A loopback port that accepts connections and never answers (a hung broker)."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        server.close()


def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize("broker", ["closed-port", "hung"])
async def test_unreachable_brokers_answer_503_with_retry_after(world: World, broker: str) -> None:
    workspace = kafka_workspaces(world)[0]
    with black_hole() as hung:
        bootstrap = closed_port() if broker == "closed-port" else hung
        settings = world.settings.model_copy(
            update={"kafka_bootstrap": bootstrap, "kafka_timeout_s": 1.0, "kafka_retry_after_s": 7}
        )
        app = create_app(settings)
        async with (
            app.router.lifespan_context(app),
            httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://executor") as http,
        ):
            responses = [
                await http.post(publish_path(), json={"records": [{"value": 1}]}, headers=workspace.headers()),
                await http.get("/v1/events/topics", headers=workspace.headers()),
                await http.get(subscribe_path(), headers=workspace.headers()),
            ]
            for response in responses:
                assert response.status_code == 503, response.text
                assert response.headers["retry-after"] == "7"
                assert response.headers["content-type"] == "application/problem+json"
            # Control: the same app still serves the workspace's other data, and a starter workspace still has no
            # topics at all (404, not 503: Vault answers without the brokers).
            rows = await http.get("/rest/v1/todos", headers=workspace.headers())
            assert rows.status_code == 200
            starter = await http.get("/v1/events/topics", headers=workspaces_without_kafka(world)[0].headers())
            assert starter.status_code == 404
