"""Tenant isolation of realtime subscriptions, black-box through SSE and WebSocket, one test per threat.

The world: 4 tenants (starter, growth, regulated, enterprise) x 2 workspaces for PostgreSQL (the starter and
growth tenants' workspaces share one database, so their notifications share one NOTIFY namespace), the last 3
tenants x 2 for MongoDB. Every workspace is a victim and an attacker at once; each denial has the owner's success
next to it as control.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from contextlib import AsyncExitStack
from typing import Any

import httpx2
import psycopg
import pytest
from httpx2.websockets import ASGIWebSocketTransport, WebSocketDisconnect
from pymongo import AsyncMongoClient

from falcone import rls
from tests.executor.conftest import Seed, Workspace, World
from tests.executor.test_realtime import (
    Changes,
    Event,
    document_lifecycle,
    is_change,
    marker,
    mongo_sse,
    mongo_workspaces,
    new_collection,
    problem,
    real_client,
    sse,
    table_path,
    websocket,
    ws_path,
)

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]


def _ids(world: World, workspace: Workspace) -> tuple[int, int]:
    """A row id and a fence id no other workspace uses, so even a delete (key only) says whose it is."""
    base = 900_000 + 1_000 * world.workspaces.index(workspace)
    return base, base + 1


async def _lifecycle(
    client: httpx2.AsyncClient, workspace: Workspace, table: str, row: int, tag: str, changes: Changes
) -> list[Event]:
    """Insert, update and delete row `row`, each write once the subscriber has the previous one's event."""
    seen: list[Event] = []
    headers = workspace.headers()
    body = {"id": row, "data": {"tag": tag}} if table == "todos" else {"id": row, "title": tag}
    patch = {"data": {"tag": tag, "done": True}} if table == "todos" else {"title": tag, "done": True}
    path = f"/v1/collections/{table}/documents"
    for op, write in (
        ("insert", client.post(path, json=body, headers=headers)),
        ("update", client.patch(f"{path}/{row}", json=patch, headers=headers)),
        ("delete", client.delete(f"{path}/{row}", headers=headers)),
    ):
        response = await write
        assert response.status_code in (200, 201, 204), response.text
        seen += await changes.until(is_change(op, {"id": row}))
    return seen


async def test_a_subscriber_receives_only_its_own_workspaces_inserts_updates_and_deletes(
    world: World, seed: Seed, client: httpx2.AsyncClient, executor_url: str
) -> None:
    """Every workspace subscribes to `todos` (declared by its stack) over SSE with its service key and forged
    identity headers naming the next workspace, and to `notes` (created through the API) over a WebSocket with
    its anon key in the query string. Then all of them insert, update and delete a row at once, and finally
    insert a fence row; each subscriber reads up to its own fence and must have seen its own changes, in order,
    and nothing else."""
    _ = seed  # every workspace's `notes`
    workspaces = world.workspaces
    next_of = {w.label: workspaces[(i + 1) % len(workspaces)] for i, w in enumerate(workspaces)}
    tags = {w.label: marker(w.label) for w in workspaces}
    async with real_client(executor_url) as http, AsyncExitStack() as open_streams:
        streams: dict[tuple[str, str], Changes] = {}
        for workspace in workspaces:
            spoof = next_of[workspace.label].names
            forged = {**workspace.headers(), "x-tenant-id": spoof.tenant, "x-workspace-id": spoof.slug}
            streams[workspace.label, "todos"] = await open_streams.enter_async_context(sse(http, forged, "todos"))
            streams[workspace.label, "notes"] = await open_streams.enter_async_context(
                websocket(http, {}, "notes", apikey=workspace.anon_key)
            )

        async def writes(workspace: Workspace) -> dict[str, list[Event]]:
            row, _ = _ids(world, workspace)
            tag, seen = tags[workspace.label], {}
            for table in ("todos", "notes"):
                stream = streams[workspace.label, table]
                seen[table] = await _lifecycle(client, workspace, table, row, tag, stream)
            return seen

        seen = dict(zip((w.label for w in workspaces), await asyncio.gather(*map(writes, workspaces)), strict=True))
        for workspace in workspaces:  # after every workspace's writes: the fences
            _, fence = _ids(world, workspace)
            for table in ("todos", "notes"):
                body = {"id": fence, "data": {}} if table == "todos" else {"id": fence, "title": "fence"}
                fenced = await client.post(f"/v1/collections/{table}/documents", json=body, headers=workspace.headers())
                assert fenced.status_code == 201, fenced.text
        for workspace in workspaces:
            _, fence = _ids(world, workspace)
            for table in ("todos", "notes"):
                stream = streams[workspace.label, table]
                seen[workspace.label][table] += await stream.until(is_change("insert", {"id": fence}))
    for workspace in workspaces:
        row, fence = _ids(world, workspace)
        for table in ("todos", "notes"):
            events = seen[workspace.label][table]
            assert [(kind, payload["key"]) for kind, payload in events] == [
                ("insert", {"id": row}),
                ("update", {"id": row}),
                ("delete", {"id": row}),
                ("insert", {"id": fence}),
            ], (workspace.label, table, events)
            foreign = set(tags.values()) - {tags[workspace.label]}
            assert not any(tag in json.dumps(events) for tag in foreign), (workspace.label, table)
            assert tags[workspace.label] in json.dumps(events[0])  # control: its own row, as it reads it


async def test_a_foreign_credential_cannot_subscribe_to_a_table_only_another_workspace_has(
    world: World, client: httpx2.AsyncClient, executor_app: Any, executor_url: str
) -> None:
    own_table = {w.label: f"rt_only_{i}" for i, w in enumerate(world.workspaces)}
    for workspace in world.workspaces:
        columns = [{"name": "id", "type": "bigint", "primary_key": True}]
        created = await client.post(
            "/v1/collections",
            json={"name": own_table[workspace.label], "columns": columns},
            headers=workspace.headers(),
        )
        assert created.status_code == 201, created.text
    transport = ASGIWebSocketTransport(app=executor_app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://executor") as in_process:
        for victim, attacker in itertools.permutations(world.workspaces, 2):
            name = own_table[victim.label]
            for kind in ("service", "anon"):
                refused = await client.get(table_path(name), headers=attacker.headers(kind))
                assert problem(refused, 404), (victim.label, attacker.label, kind, refused.text)
            with pytest.raises(WebSocketDisconnect) as closed:
                async with in_process.websocket(ws_path(name), headers=attacker.headers()):
                    pass
            assert (closed.value.code, "no table" in closed.value.reason) == (1008, True), closed.value
    async with real_client(executor_url) as http:  # control: each owner subscribes to its own
        for workspace in world.workspaces:
            async with sse(http, workspace.headers("anon"), own_table[workspace.label]) as changes:
                assert changes.ready == {"table": own_table[workspace.label], "primary_key": ["id"]}


def _forgeries(target: Workspace, other: Workspace, target_row: int, other_row: int) -> list[str]:
    """NOTIFY payloads any role of the database could send on the target's channel."""
    theirs = {"tenant_id": other.names.tenant, "workspace_id": other.names.slug}
    ours = {"tenant_id": target.names.tenant, "workspace_id": target.names.slug}
    return [
        # Another workspace's context, with the key of a row the target has: read back, it would be delivered.
        json.dumps({"table": "todos", "op": "insert", "key": {"id": target_row}, **theirs}),
        json.dumps({"table": "todos", "op": "update", "key": {"id": target_row}, **theirs}),
        json.dumps({"table": "todos", "op": "delete", "key": {"id": target_row}, **theirs}),
        # The same tenant, another workspace; and no context at all.
        json.dumps({"table": "todos", "op": "insert", "key": {"id": target_row}, **ours, "workspace_id": "zzz"}),
        json.dumps({"table": "todos", "op": "insert", "key": {"id": target_row}}),
        # The target's context, with the key of a row only the other workspace has: nothing to read back.
        json.dumps({"table": "todos", "op": "insert", "key": {"id": other_row}, **ours}),
        # Keys naming other columns, and what the trigger never sends.
        json.dumps({"table": "todos", "op": "insert", "key": {"tenant_id": other.names.tenant}, **ours}),
        json.dumps({"table": "todos", "op": "truncate", "key": None, **ours}),
        "not json",
        "[1, 2]",
    ]


async def test_forged_notifications_on_a_workspaces_channel_deliver_nothing(
    world: World, client: httpx2.AsyncClient, executor_url: str
) -> None:
    """The channel is the workspace's, but LISTEN/NOTIFY has no privileges: any role of the database may notify
    it. What a notification claims is checked against the subscriber's verified identity, and rows are read back
    under its own role, so a forged notification yields nothing; the next real change still arrives."""
    workspaces = world.workspaces
    rows: dict[str, int] = {}
    for workspace in workspaces:
        inserted = await client.post(
            "/v1/collections/todos/documents", json={"data": {"forgery": "target"}}, headers=workspace.headers()
        )
        assert inserted.status_code == 201, inserted.text
        rows[workspace.label] = int(inserted.json()["id"])
    # Target i's forged key names row 700_000 + i, which only workspace i + 1 has.
    others = {w.label: workspaces[(i + 1) % len(workspaces)] for i, w in enumerate(workspaces)}
    only_elsewhere = {w.label: 700_000 + i for i, w in enumerate(workspaces)}
    for workspace in workspaces:
        inserted = await client.post(
            "/v1/collections/todos/documents",
            json={"id": only_elsewhere[workspace.label], "data": {"forgery": "elsewhere"}},
            headers=others[workspace.label].headers(),
        )
        assert inserted.status_code == 201, inserted.text
    async with real_client(executor_url) as http, AsyncExitStack() as open_streams:
        streams = [await open_streams.enter_async_context(sse(http, w.headers())) for w in workspaces]
        for target in workspaces:
            forgeries = _forgeries(target, others[target.label], rows[target.label], only_elsewhere[target.label])
            with psycopg.connect(world.admin_dsn(target.database), autocommit=True) as admin:
                for payload in forgeries:
                    admin.execute("SELECT pg_notify(%s, %s)", (rls.change_channel(target.names), payload))
        fences = {}
        for workspace in workspaces:
            tag = marker("fence")
            fenced = await client.post(
                "/v1/collections/todos/documents", json={"data": {"tag": tag}}, headers=workspace.headers()
            )
            assert fenced.status_code == 201, fenced.text
            fences[workspace.label] = (int(fenced.json()["id"]), tag)
        for workspace, stream in zip(workspaces, streams, strict=True):
            fence, tag = fences[workspace.label]
            # The first event after the forgeries is the real change.
            assert await stream.next() == (
                "insert",
                {"table": "todos", "op": "insert", "key": {"id": fence}, "record": {"id": fence, "data": {"tag": tag}}},
            ), workspace.label


# --- MongoDB ------------------------------------------------------------------------------------------------------


async def test_a_mongo_subscriber_receives_only_its_own_workspaces_changes(
    world: World, client: httpx2.AsyncClient, executor_url: str
) -> None:
    """Every Mongo workspace (3 tenants x 2) subscribes to a collection of the same name, with forged identity
    headers naming the next workspace; all of them insert, update, replace and delete a document of the same `_id`
    at once, then write a fence. Each subscriber must have seen exactly its own changes."""
    workspaces = mongo_workspaces(world)
    name = "rt-isolation"
    next_of = {w.label: workspaces[(i + 1) % len(workspaces)] for i, w in enumerate(workspaces)}
    tags = {w.label: marker(w.label) for w in workspaces}
    for workspace in workspaces:
        await new_collection(client, workspace, name)
    async with real_client(executor_url) as http, AsyncExitStack() as open_streams:
        streams: dict[str, Changes] = {}
        for workspace in workspaces:
            spoof = next_of[workspace.label].names
            forged = {**workspace.headers(), "x-tenant-id": spoof.tenant, "x-workspace-id": spoof.slug}
            streams[workspace.label] = await open_streams.enter_async_context(mongo_sse(http, forged, name))

        async def writes(workspace: Workspace) -> list[Event]:
            [seen] = await document_lifecycle(
                client, workspace, name, "same-id", tags[workspace.label], [streams[workspace.label]]
            )
            return seen

        seen = dict(zip((w.label for w in workspaces), await asyncio.gather(*map(writes, workspaces)), strict=True))
        for workspace in workspaces:
            fenced = await client.post(
                f"/v1/mongo/collections/{name}/documents", json={"_id": "fence"}, headers=workspace.headers()
            )
            assert fenced.status_code == 201, fenced.text
        for workspace in workspaces:
            seen[workspace.label] += await streams[workspace.label].until(is_change("insert", {"_id": "fence"}))
    for workspace in workspaces:
        events = seen[workspace.label]
        assert [kind for kind, _ in events] == ["insert", "update", "replace", "delete", "insert"], events
        foreign = set(tags.values()) - {tags[workspace.label]}
        assert not any(tag in json.dumps(events) for tag in foreign), workspace.label
        assert tags[workspace.label] in json.dumps(events[0])  # control: its own document


async def test_a_document_stamped_for_another_tenant_never_leaves_the_server(
    world: World, client: httpx2.AsyncClient, executor_url: str
) -> None:
    """Written behind the API's back (a restore gone wrong, a shared database): a document in the workspace's
    collection that carries another workspace's stamp is filtered by the change stream's own `$match`."""
    assert world.deployment.backends.mongo is not None
    workspaces = mongo_workspaces(world)
    name = "rt-stamps"
    admin: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(world.deployment.backends.mongo.uri)
    try:
        for workspace in workspaces:
            await new_collection(client, workspace, name)
        async with real_client(executor_url) as http, AsyncExitStack() as open_streams:
            streams = [await open_streams.enter_async_context(mongo_sse(http, w.headers(), name)) for w in workspaces]
            for index, workspace in enumerate(workspaces):
                other = workspaces[(index + 1) % len(workspaces)].names
                collection = admin[workspace.names.mongo_database][name]
                for stamp in (
                    {"tenant_id": other.tenant, "workspace_id": other.slug},
                    {"tenant_id": workspace.names.tenant, "workspace_id": other.slug},
                    {"tenant_id": workspace.names.tenant},
                    {},
                ):
                    planted = await collection.insert_one({"planted": True, **stamp})
                    await collection.update_one({"_id": planted.inserted_id}, {"$set": {"touched": True}})
                    await collection.delete_one({"_id": planted.inserted_id})
            for workspace, stream in zip(workspaces, streams, strict=True):
                fenced = await client.post(
                    f"/v1/mongo/collections/{name}/documents", json={"_id": "fence"}, headers=workspace.headers()
                )
                assert fenced.status_code == 201, fenced.text
                # The first event after the planted documents is the real one.
                assert await stream.next() == (
                    "insert",
                    {"collection": name, "op": "insert", "key": {"_id": "fence"}, "document": {"_id": "fence"}},
                ), workspace.label
    finally:
        await admin.close()
