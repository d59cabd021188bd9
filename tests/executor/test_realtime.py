"""Realtime subscriptions to PostgreSQL tables on the real platform: Server-Sent Events and WebSocket on a real
`python -m executor`, writes through the data API, the request checks, and the stream's own life (heartbeats,
its end, a lost feed, capacity).

The isolation matrix is in test_realtime_isolation.py; the helpers here serve both.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import psycopg
import pytest
from httpx2.websockets import ASGIWebSocketTransport, AsyncWebSocketSession, WebSocketDisconnect, WebSocketUpgradeError
from psycopg import sql
from uuid_utils.compat import uuid7

from executor.app import create_app
from falcone import rls
from falcone.plans import Capability
from tests.executor.conftest import Workspace, World

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]

# Bounds every wait for an event, so a failure is an error instead of a hang (never a timing assertion).
WAIT_S = 60.0
Event = tuple[str, dict[str, Any]]


def table_path(name: str = "todos") -> str:
    return f"/v1/realtime/collections/{name}"


def ws_path(name: str = "todos") -> str:
    return f"/v1/realtime/collections/{name}/ws"


def marker(label: str) -> str:
    return f"{label}-{uuid7()}"


@asynccontextmanager
async def real_client(executor_url: str) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=executor_url, timeout=WAIT_S) as http:
        yield http


class Changes:
    """An open subscription's events, read on demand (SSE or WebSocket alike)."""

    def __init__(self, ready: dict[str, Any], events: AsyncIterator[Event]) -> None:
        self.ready, self._events = ready, events

    async def next(self) -> Event:
        async with asyncio.timeout(WAIT_S):
            return await anext(self._events)

    async def until(self, done: Callable[[Event], bool]) -> list[Event]:
        """Events up to and including the first for which `done` holds."""
        seen = [await self.next()]
        while not done(seen[-1]):
            seen.append(await self.next())
        return seen


async def _sse_events(source: httpx2.EventSource) -> AsyncIterator[Event]:
    async for event in source:
        yield event.event, dict(json.loads(event.data))


async def _ws_events(ws: AsyncWebSocketSession) -> AsyncIterator[Event]:
    while True:
        message = json.loads(await ws.receive_text())
        kind = message.pop("type")
        if kind != "heartbeat":
            yield kind, message


@asynccontextmanager
async def sse(
    http: httpx2.AsyncClient, headers: dict[str, str], name: str = "todos", **params: str
) -> AsyncIterator[Changes]:
    async with http.sse(table_path(name), headers=headers, params=params) as source:
        response = source.response
        if response.status_code != 200:
            await response.aread()
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/event-stream")
        changes = Changes({}, _sse_events(source))
        kind, changes.ready = await changes.next()
        assert kind == "ready", (kind, changes.ready)
        yield changes


@asynccontextmanager
async def websocket(
    http: httpx2.AsyncClient, headers: dict[str, str], name: str = "todos", **params: str
) -> AsyncIterator[Changes]:
    async with http.websocket(ws_path(name), headers=headers, params=params) as ws:
        changes = Changes({}, _ws_events(ws))
        kind, changes.ready = await changes.next()
        assert kind == "ready", (kind, changes.ready)
        yield changes


def is_change(op: str, key: dict[str, Any]) -> Callable[[Event], bool]:
    return lambda event: event[0] == op and event[1].get("key") == key


async def insert_todo(client: httpx2.AsyncClient, workspace: Workspace, tag: str) -> int:
    inserted = await client.post(
        "/v1/collections/todos/documents", json={"data": {"tag": tag}}, headers=workspace.headers()
    )
    assert inserted.status_code == 201, inserted.text
    return int(inserted.json()["id"])


async def todo_lifecycle(
    client: httpx2.AsyncClient, workspace: Workspace, tag: str, subscribers: list[Changes]
) -> tuple[int, list[list[Event]]]:
    """Insert, update, then delete one row of `todos`, each write once every subscriber has the previous one's
    event (an insert read back after the delete would find no row, and rightly deliver nothing); the row's id and
    each subscriber's events."""
    row = await insert_todo(client, workspace, tag)
    seen: list[list[Event]] = [[] for _ in subscribers]

    async def wait(op: str) -> None:
        for events, changes in zip(seen, subscribers, strict=True):
            events += await changes.until(is_change(op, {"id": row}))

    await wait("insert")
    path = f"/v1/collections/todos/documents/{row}"
    updated = await client.patch(path, json={"data": {"tag": tag, "done": True}}, headers=workspace.headers())
    assert updated.status_code == 200, updated.text
    await wait("update")
    deleted = await client.delete(path, headers=workspace.headers())
    assert deleted.status_code == 204, deleted.text
    await wait("delete")
    return row, seen


def problem(response: httpx2.Response, status: int) -> bool:
    return response.status_code == status and response.headers["content-type"] == "application/problem+json"


# --- what a subscriber receives ---------------------------------------------------------------------------------


async def test_sse_delivers_inserts_updates_and_deletes_as_the_subscriber_reads_them(
    world: World, client: httpx2.AsyncClient, executor_url: str
) -> None:
    workspace = world.workspaces[0]
    tag = marker(workspace.label)
    # A service key in a header, and an anon key in the query string (as a browser's EventSource must).
    async with (
        real_client(executor_url) as http,
        sse(http, workspace.headers()) as service,
        sse(http, {}, apikey=workspace.anon_key) as browser,
    ):
        assert service.ready == {"table": "todos", "primary_key": ["id"]}
        row, seen = await todo_lifecycle(client, workspace, tag, [service, browser])
    for events in seen:
        assert events == [
            # The row as a read shows it: the context columns are the credential's, never echoed.
            (
                "insert",
                {"table": "todos", "op": "insert", "key": {"id": row}, "record": {"id": row, "data": {"tag": tag}}},
            ),
            (
                "update",
                {
                    "table": "todos",
                    "op": "update",
                    "key": {"id": row},
                    "record": {"id": row, "data": {"tag": tag, "done": True}},
                },
            ),
            ("delete", {"table": "todos", "op": "delete", "key": {"id": row}}),
        ]


async def test_a_table_created_through_the_api_publishes_its_changes(
    world: World, client: httpx2.AsyncClient, executor_url: str
) -> None:
    workspace = world.workspaces[1]
    name = f"rt_api_{uuid7().hex[:8]}"
    columns = [{"name": "code", "type": "text", "primary_key": True}, {"name": "n", "type": "integer"}]
    created = await client.post("/v1/collections", json={"name": name, "columns": columns}, headers=workspace.headers())
    assert created.status_code == 201, created.text
    async with real_client(executor_url) as http, websocket(http, workspace.headers(), name) as changes:
        assert changes.ready["primary_key"] == ["code"]
        rows = [{"code": f"c{n}", "n": n} for n in range(150)]  # more than one read-back batch
        inserted = await client.post(f"/v1/collections/{name}/documents", json=rows, headers=workspace.headers())
        assert inserted.status_code == 201, inserted.text
        events = [await changes.next() for _ in rows]
    assert [event[1]["record"] for event in events] == rows  # each row, in commit order
    assert {event[0] for event in events} == {"insert"}


async def test_a_key_too_large_for_a_notification_still_announces_the_change(
    world: World, client: httpx2.AsyncClient, executor_url: str
) -> None:
    workspace = world.workspaces[2]
    name = f"rt_big_{uuid7().hex[:8]}"
    columns = [{"name": "code", "type": "text", "primary_key": True}]
    created = await client.post("/v1/collections", json={"name": name, "columns": columns}, headers=workspace.headers())
    assert created.status_code == 201, created.text
    big, small = "k" * (rls.MAX_PAYLOAD_BYTES + 100), "small"
    async with real_client(executor_url) as http, sse(http, workspace.headers(), name) as changes:
        for code in (big, small):  # the write is not refused for its notification's size
            inserted = await client.post(
                f"/v1/collections/{name}/documents", json={"code": code}, headers=workspace.headers()
            )
            assert inserted.status_code == 201, inserted.text
        assert await changes.next() == ("insert", {"table": name, "op": "insert", "key": None, "record": None})
        assert await changes.next() == (
            "insert",
            {"table": name, "op": "insert", "key": {"code": small}, "record": {"code": small}},
        )


# --- refusals, before any byte is streamed ----------------------------------------------------------------------


async def test_subscribing_without_a_credential_or_with_an_invalid_one_is_401(
    world: World, client: httpx2.AsyncClient, executor_url: str
) -> None:
    workspace = world.workspaces[0]
    for headers in ({}, {"apikey": "flc_service_not-a-key"}, {"x-tenant-id": workspace.names.tenant}):
        refused = await client.get(table_path(), headers=headers)
        assert problem(refused, 401), (headers, refused.text)
        async with real_client(executor_url) as http:
            with pytest.raises(WebSocketUpgradeError) as upgrade:
                async with http.websocket(ws_path(), headers=headers):
                    pass
        assert problem(upgrade.value.response, 401)
    # Only an anon key may travel in a URL (it is public by design); a service key there is refused.
    in_url = await client.get(table_path(), params={"apikey": workspace.service_key})
    assert problem(in_url, 401)
    async with real_client(executor_url) as http, sse(http, workspace.headers()) as changes:
        assert changes.ready["table"] == "todos"  # control: the owner's credential subscribes


async def test_an_unknown_collection_is_404_and_one_without_the_change_trigger_400(
    world: World, client: httpx2.AsyncClient, executor_app: Any
) -> None:
    workspace = world.workspaces[3]
    for name in ("nope", "x" * 80, "todos'--", "pg_class", "TODOS"):
        refused = await client.get(table_path(name), headers=workspace.headers())
        assert problem(refused, 404), (name, refused.text)
    # A table made out of band (by the admin, as the migrator) has no change trigger: it publishes nothing.
    plain = f"plain_{uuid7().hex[:8]}"
    with psycopg.connect(world.admin_dsn(workspace.database), autocommit=True) as admin:
        admin.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(workspace.names.db_role("migrator"))))
        admin.execute(
            sql.SQL("CREATE TABLE {}.{} (id int PRIMARY KEY)").format(
                sql.Identifier(workspace.names.schema), sql.Identifier(plain)
            )
        )
    refused = await client.get(table_path(plain), headers=workspace.headers())
    assert problem(refused, 400), refused.text
    transport = ASGIWebSocketTransport(app=executor_app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://executor") as http:
        with pytest.raises(WebSocketDisconnect) as closed:
            async with http.websocket(ws_path("nope"), headers=workspace.headers()):
                pass
    assert closed.value.code == 1008


# --- the stream's own life ---------------------------------------------------------------------------------------


@asynccontextmanager
async def own_executor(world: World, **settings: Any) -> AsyncIterator[httpx2.AsyncClient]:
    """An executor of its own (in process, WebSocket transport) with `settings` changed."""
    app = create_app(world.settings.model_copy(update=settings))
    async with (
        app.router.lifespan_context(app),
        httpx2.AsyncClient(transport=ASGIWebSocketTransport(app=app), base_url="http://executor") as http,
    ):
        yield http


async def test_a_quiet_stream_sends_heartbeats_and_ends_at_its_longest_life(world: World) -> None:
    workspace = world.workspaces[0]
    async with (
        own_executor(world, subscribe_heartbeat_s=0.1, realtime_max_stream_s=1.0) as http,
        http.websocket(ws_path(), headers=workspace.headers()) as ws,
    ):
        kinds: list[str] = []
        while not kinds or kinds[-1] not in ("end", "error"):
            async with asyncio.timeout(WAIT_S):
                kinds.append(json.loads(await ws.receive_text())["type"])
    assert kinds[0] == "ready"
    assert "heartbeat" in kinds
    assert kinds[-1] == "end"
    assert set(kinds) == {"ready", "heartbeat", "end"}


async def test_a_lost_change_feed_ends_the_stream_and_a_new_subscription_listens_again(
    world: World, client: httpx2.AsyncClient, executor_url: str
) -> None:
    workspace = world.workspaces[1]
    async with real_client(executor_url) as http:
        async with sse(http, workspace.headers()) as changes:
            with psycopg.connect(world.admin_dsn(workspace.database), autocommit=True) as admin:
                killed = admin.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = 'falcone-executor-realtime' AND usename = %s",
                    (workspace.names.db_role("executor"),),
                ).fetchone()
            assert killed is not None
            assert killed[0] >= 1
            kind, payload = await changes.next()
            assert (kind, payload["status"]) == ("error", 503), payload
        tag = marker(workspace.label)
        async with sse(http, workspace.headers()) as again:
            row = await insert_todo(client, workspace, tag)
            assert await again.next() == (
                "insert",
                {"table": "todos", "op": "insert", "key": {"id": row}, "record": {"id": row, "data": {"tag": tag}}},
            )


async def test_subscriptions_beyond_the_workspaces_share_are_429(world: World) -> None:
    first, second = world.workspaces[2], world.workspaces[3]
    async with own_executor(world, realtime_max_subscriptions=1) as http:
        async with http.websocket(ws_path(), headers=first.headers()) as open_one:
            assert json.loads(await open_one.receive_text())["type"] == "ready"
            with pytest.raises(WebSocketDisconnect) as refused:
                async with http.websocket(ws_path(), headers=first.headers()):
                    pass
            assert (refused.value.code, "realtime subscriptions" in refused.value.reason) == (1008, True)
            # Another workspace has a share of its own.
            async with http.websocket(ws_path(), headers=second.headers()) as other:
                assert json.loads(await other.receive_text())["type"] == "ready"
        # Closing gives the share back (once the server has noticed the close: bounded, not timed).
        async with asyncio.timeout(WAIT_S):
            while True:
                try:
                    async with http.websocket(ws_path(), headers=first.headers()) as again:
                        assert json.loads(await again.receive_text())["type"] == "ready"
                        break
                except WebSocketDisconnect:  # still refused: the closed one is not released yet
                    await asyncio.sleep(0.05)


# --- MongoDB collections -----------------------------------------------------------------------------------------


def mongo_path(name: str) -> str:
    return f"/v1/realtime/mongo/collections/{name}"


def mongo_workspaces(world: World) -> list[Workspace]:
    return [workspace for workspace in world.workspaces if workspace.allows(Capability.MONGO)]


@asynccontextmanager
async def mongo_sse(
    http: httpx2.AsyncClient, headers: dict[str, str], name: str, **params: str
) -> AsyncIterator[Changes]:
    async with http.sse(mongo_path(name), headers=headers, params=params) as source:
        response = source.response
        if response.status_code != 200:
            await response.aread()
        assert response.status_code == 200, response.text
        changes = Changes({}, _sse_events(source))
        kind, changes.ready = await changes.next()
        assert kind == "ready", (kind, changes.ready)
        yield changes


async def new_collection(client: httpx2.AsyncClient, workspace: Workspace, name: str) -> None:
    """Collections exist once written to: one document, deleted again."""
    path = f"/v1/mongo/collections/{name}/documents"
    created = await client.post(path, json={"_id": "first"}, headers=workspace.headers())
    assert created.status_code == 201, created.text
    deleted = await client.delete(f"{path}/first", headers=workspace.headers())
    assert deleted.status_code == 204, deleted.text


async def document_lifecycle(
    client: httpx2.AsyncClient, workspace: Workspace, name: str, key: str, tag: str, subscribers: list[Changes]
) -> list[list[Event]]:
    """Insert, update, replace, then delete document `key`, each write once every subscriber has the previous
    one's event."""
    path, headers = f"/v1/mongo/collections/{name}/documents", workspace.headers()
    seen: list[list[Event]] = [[] for _ in subscribers]
    for op, write in (
        ("insert", client.post(path, json={"_id": key, "tag": tag}, headers=headers)),
        ("update", client.patch(f"{path}/{key}", json={"$set": {"done": True}}, headers=headers)),
        ("replace", client.put(f"{path}/{key}", json={"tag": tag, "n": 2}, headers=headers)),
        ("delete", client.delete(f"{path}/{key}", headers=headers)),
    ):
        response = await write
        assert response.status_code in (200, 201, 204), response.text
        for events, changes in zip(seen, subscribers, strict=True):
            events += await changes.until(is_change(op, {"_id": key}))
    return seen


async def test_mongo_sse_delivers_inserts_updates_replaces_and_deletes_without_the_stamp(
    world: World, client: httpx2.AsyncClient, executor_url: str
) -> None:
    workspace = mongo_workspaces(world)[0]
    name, tag = f"rt-{uuid7().hex[:8]}", marker(workspace.label)
    await new_collection(client, workspace, name)
    async with (
        real_client(executor_url) as http,
        mongo_sse(http, workspace.headers(), name) as service,
        mongo_sse(http, {}, name, apikey=workspace.anon_key) as browser,
    ):
        # Deletes are matched to the stamp on the pre-image, which the collection now records.
        assert service.ready == {"collection": name, "deletes": True}
        seen = await document_lifecycle(client, workspace, name, "doc-1", tag, [service, browser])
    for events in seen:
        assert events == [
            (
                "insert",
                {"collection": name, "op": "insert", "key": {"_id": "doc-1"}, "document": {"_id": "doc-1", "tag": tag}},
            ),
            (
                "update",
                {
                    "collection": name,
                    "op": "update",
                    "key": {"_id": "doc-1"},
                    "document": {"_id": "doc-1", "tag": tag, "done": True},
                },
            ),
            (
                "replace",
                {
                    "collection": name,
                    "op": "replace",
                    "key": {"_id": "doc-1"},
                    "document": {"_id": "doc-1", "tag": tag, "n": 2},
                },
            ),
            ("delete", {"collection": name, "op": "delete", "key": {"_id": "doc-1"}}),
        ]


async def test_mongo_websocket_delivers_object_ids_as_extended_json(
    world: World, client: httpx2.AsyncClient, executor_url: str
) -> None:
    workspace = mongo_workspaces(world)[1]
    name = f"rt-{uuid7().hex[:8]}"
    await new_collection(client, workspace, name)
    async with (
        real_client(executor_url) as http,
        http.websocket(f"{mongo_path(name)}/ws", headers=workspace.headers()) as ws,
    ):
        changes = Changes({}, _ws_events(ws))
        assert (await changes.next())[0] == "ready"
        inserted = await client.post(
            f"/v1/mongo/collections/{name}/documents",
            json={"when": {"$date": "2026-01-02T03:04:05Z"}},
            headers=workspace.headers(),
        )
        assert inserted.status_code == 201, inserted.text
        kind, event = await changes.next()
    assert kind == "insert"
    assert set(event["key"]["_id"]) == {"$oid"}
    assert event["document"] == {"_id": event["key"]["_id"], "when": {"$date": "2026-01-02T03:04:05Z"}}


async def test_mongo_refusals_before_streaming(world: World, client: httpx2.AsyncClient) -> None:
    workspace = mongo_workspaces(world)[2]
    for name in ("never-written", "bad name", "$cmd", "x" * 100):
        refused = await client.get(mongo_path(name), headers=workspace.headers())
        assert problem(refused, 404), (name, refused.text)
    assert problem(await client.get(mongo_path("notes")), 401)
    for without in (w for w in world.workspaces if not w.allows(Capability.MONGO)):
        absent = await client.get(mongo_path("notes"), headers=without.headers())
        assert problem(absent, 404), absent.text
        assert "no document database" in absent.json()["detail"]
