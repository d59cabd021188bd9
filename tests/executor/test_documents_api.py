"""The MongoDB surface through HTTP on the real workspaces: CRUD, query, aggregate, pagination and errors."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest
from bson.objectid import ObjectId

from executor.app import create_app
from tests.executor.conftest import Workspace, World
from tests.executor.documents_fixtures import filter_param, mongo_admin, mongo_workspaces

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]
__all__ = ["mongo_admin"]  # a fixture of this module's tests
PROBLEM = "application/problem+json"
BASE = "/v1/mongo/collections"


@pytest.fixture(scope="module")
def workspace(world: World) -> Workspace:
    return mongo_workspaces(world)[0]


def _id(document: dict[str, Any]) -> str:
    value = document["_id"]
    return str(value["$oid"]) if isinstance(value, dict) else str(value)


async def test_owner_inserts_reads_updates_replaces_and_deletes_a_document(
    workspace: Workspace, client: httpx2.AsyncClient
) -> None:
    headers = workspace.headers()
    created = await client.post(
        f"{BASE}/crud/documents",
        json={"title": "write tests", "n": 1, "due": {"$date": "2030-01-02T03:04:05Z"}},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    document = created.json()
    assert ObjectId.is_valid(document["_id"]["$oid"])
    assert document["due"] == {"$date": "2030-01-02T03:04:05Z"}
    assert "tenant_id" not in document
    assert "workspace_id" not in document
    path = f"{BASE}/crud/documents/{_id(document)}"
    assert (await client.get(path, headers=headers)).json() == document

    patched = await client.patch(path, json={"$set": {"title": "done"}, "$inc": {"n": 2}}, headers=headers)
    assert patched.status_code == 200, patched.text
    assert (patched.json()["title"], patched.json()["n"]) == ("done", 3)
    plain = await client.patch(path, json={"extra": True}, headers=headers)  # fields without operators: $set
    assert plain.json()["extra"] is True
    assert plain.json()["title"] == "done"

    replaced = await client.put(path, json={"title": "replaced"}, headers=headers)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json() == {"_id": document["_id"], "title": "replaced"}

    assert (await client.delete(path, headers=headers)).status_code == 204
    gone = await client.get(path, headers=headers)
    assert (gone.status_code, gone.headers["content-type"]) == (404, PROBLEM)
    assert (await client.delete(path, headers=headers)).status_code == 404
    assert (await client.patch(path, json={"$set": {"a": 1}}, headers=headers)).status_code == 404
    assert (await client.put(path, json={"a": 1}, headers=headers)).status_code == 404


async def test_inserts_are_stamped_with_the_credentials_tenant_and_workspace(
    workspace: Workspace, client: httpx2.AsyncClient, mongo_admin: Any
) -> None:
    created = await client.post(f"{BASE}/stamped/documents", json={"_id": "s-1", "a": 1}, headers=workspace.headers())
    assert created.json() == {"_id": "s-1", "a": 1}
    stored = await mongo_admin[workspace.names.mongo_database]["stamped"].find_one({"_id": "s-1"})
    assert stored == {"_id": "s-1", "a": 1, "tenant_id": workspace.names.tenant, "workspace_id": workspace.names.slug}
    # A replacement keeps the stamp too.
    await client.put(f"{BASE}/stamped/documents/s-1", json={"b": 2}, headers=workspace.headers())
    stored = await mongo_admin[workspace.names.mongo_database]["stamped"].find_one({"_id": "s-1"})
    assert stored == {"_id": "s-1", "b": 2, "tenant_id": workspace.names.tenant, "workspace_id": workspace.names.slug}


async def test_insert_many_ids_and_duplicates(workspace: Workspace, client: httpx2.AsyncClient) -> None:
    headers = workspace.headers()
    url = f"{BASE}/ids/documents"
    oid = str(ObjectId())
    batch = [{"_id": "alpha"}, {"_id": {"$oid": oid}}, {"v": 3}]
    created = await client.post(url, json=batch, headers=headers)
    assert created.status_code == 201, created.text
    items = created.json()["items"]
    assert [items[0]["_id"], items[1]["_id"]] == ["alpha", {"$oid": oid}]
    assert (await client.get(f"{url}/alpha", headers=headers)).json() == {"_id": "alpha"}
    assert (await client.get(f"{url}/{oid}", headers=headers)).json() == {"_id": {"$oid": oid}}

    duplicate = await client.post(url, json=[{"_id": "beta"}, {"_id": "alpha"}, {"_id": "gamma"}], headers=headers)
    assert duplicate.status_code == 409, duplicate.text
    assert duplicate.json()["inserted"] == 1  # ordered: beta stored, alpha refused, gamma never tried
    assert (await client.get(f"{url}/beta", headers=headers)).status_code == 200
    assert (await client.get(f"{url}/gamma", headers=headers)).status_code == 404
    assert (await client.post(url, json={"_id": "alpha"}, headers=headers)).status_code == 409

    for bad in ({"_id": oid}, {"_id": 5}, {"_id": {"a": 1}}, {"_id": "x" * 300}):
        refused = await client.post(url, json=bad, headers=headers)
        assert (refused.status_code, refused.headers["content-type"]) == (400, PROBLEM), bad
    assert (await client.post(url, json=[], headers=headers)).status_code == 400


async def test_list_pages_every_document_once_in_id_order(workspace: Workspace, client: httpx2.AsyncClient) -> None:
    headers = workspace.headers()
    url = f"{BASE}/paged/documents"
    strings = [{"_id": f"doc-{n:02d}", "n": n} for n in range(12)]
    objects = [{"n": 100 + n} for n in range(9)]
    assert (await client.post(url, json=strings + objects, headers=headers)).status_code == 201
    seen: list[int] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 5, **filter_param({"n": {"$gte": 0}})}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(url, params=params, headers=headers)).json()
        seen += [item["n"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # Strings sort before ObjectIds; ObjectIds in insertion order.
    assert seen == list(range(12)) + list(range(100, 109))

    sorted_page = await client.get(url, params={"sort": '{"n": -1}', "limit": 3}, headers=headers)
    assert [item["n"] for item in sorted_page.json()["items"]] == [108, 107, 106]
    assert sorted_page.json()["next_cursor"] is None
    both = await client.get(url, params={"sort": '{"n": -1}', "cursor": cursor or "eyJfaWQiOiJ4In0"}, headers=headers)
    assert both.status_code == 400
    for bad in ("!!", "bm90IGpzb24", "eyJfaWQiOjF9"):  # not base64, not JSON, an _id this API never issues
        refused = await client.get(url, params={"cursor": bad}, headers=headers)
        assert (refused.status_code, refused.headers["content-type"]) == (400, PROBLEM), bad
    empty = await client.get(url, params={"limit": 0}, headers=headers)
    assert empty.json() == {"items": [], "next_cursor": None}


async def test_query_filters_projects_sorts_skips_and_counts(workspace: Workspace, client: httpx2.AsyncClient) -> None:
    headers = workspace.headers()
    url = f"{BASE}/queried"
    docs = [{"_id": f"q{n}", "n": n, "even": n % 2 == 0, "tags": ["x"] if n < 3 else []} for n in range(10)]
    assert (await client.post(f"{url}/documents", json=docs, headers=headers)).status_code == 201
    body = {
        "filter": {"even": True, "n": {"$gte": 2}},
        "projection": {"n": 1, "_id": 0},
        "sort": {"n": -1},
        "skip": 1,
        "limit": 2,
        "count": True,
    }
    result = await client.post(f"{url}/query", json=body, headers=headers)
    assert result.status_code == 200, result.text
    assert result.json() == {"items": [{"n": 6}, {"n": 4}], "total": 4, "next_skip": 3}
    last = await client.post(f"{url}/query", json={**body, "skip": 3}, headers=headers)
    assert last.json() == {"items": [{"n": 2}], "total": 4, "next_skip": None}
    regex = await client.post(
        f"{url}/query", json={"filter": {"_id": {"$regex": "^q[12]$"}}, "sort": {"_id": 1}}, headers=headers
    )
    assert [item["_id"] for item in regex.json()["items"]] == ["q1", "q2"]
    listed = await client.get(
        f"{url}/documents", params=filter_param({"tags": "x", "n": {"$in": [1, 2, 7]}}), headers=headers
    )
    assert [item["n"] for item in listed.json()["items"]] == [1, 2]
    extra = await client.post(f"{url}/query", json={"filter": {}, "unknown": 1}, headers=headers)
    assert (extra.status_code, extra.headers["content-type"]) == (422, PROBLEM)


async def test_aggregate_groups_within_the_workspace(workspace: Workspace, client: httpx2.AsyncClient) -> None:
    headers = workspace.headers()
    url = f"{BASE}/sales"
    docs = [{"region": r, "amount": a} for r, a in [("n", 5), ("n", 7), ("s", 1), ("s", 2), ("e", 10)]]
    assert (await client.post(f"{url}/documents", json=docs, headers=headers)).status_code == 201
    pipeline = [
        {"$group": {"_id": "$region", "total": {"$sum": "$amount"}, "n": {"$sum": 1}}},
        {"$sort": {"total": -1}},
    ]
    result = await client.post(f"{url}/aggregate", json={"pipeline": pipeline}, headers=headers)
    assert result.status_code == 200, result.text
    assert result.json() == {
        "items": [
            {"_id": "n", "total": 12, "n": 2},
            {"_id": "e", "total": 10, "n": 1},
            {"_id": "s", "total": 3, "n": 2},
        ],
        "truncated": False,
    }
    facets = {"$facet": {"big": [{"$match": {"amount": {"$gte": 7}}}, {"$count": "c"}], "all": [{"$count": "c"}]}}
    faceted = await client.post(f"{url}/aggregate", json={"pipeline": [facets]}, headers=headers)
    assert faceted.json()["items"] == [{"big": [{"c": 2}], "all": [{"c": 5}]}]
    # The stamp is not echoed, even where a stage would show whole documents.
    shown = await client.post(f"{url}/aggregate", json={"pipeline": [{"$limit": 1}]}, headers=headers)
    assert "tenant_id" not in shown.json()["items"][0]


async def test_bulk_update_and_delete_need_a_filter(workspace: Workspace, client: httpx2.AsyncClient) -> None:
    headers = workspace.headers()
    url = f"{BASE}/bulk/documents"
    docs = [{"_id": f"b{n}", "n": n} for n in range(6)]
    assert (await client.post(url, json=docs, headers=headers)).status_code == 201
    updated = await client.patch(
        url, params=filter_param({"n": {"$lt": 3}}), json={"$set": {"low": True}}, headers=headers
    )
    assert updated.json() == {"matched": 3, "modified": 3}
    for method in ("PATCH", "DELETE"):
        body = {"$set": {"x": 1}} if method == "PATCH" else None
        for params in ({}, {"filter": "{}"}):
            refused = await client.request(method, url, params=params, json=body, headers=headers)
            assert (refused.status_code, refused.headers["content-type"]) == (400, PROBLEM), (method, params)
    everything = await client.patch(url, params={"all": "true"}, json={"$inc": {"n": 10}}, headers=headers)
    assert everything.json() == {"matched": 6, "modified": 6}
    deleted = await client.delete(url, params=filter_param({"low": True}), headers=headers)
    assert deleted.json() == {"deleted": 3}
    remaining = (await client.get(url, headers=headers)).json()["items"]
    assert sorted(item["n"] for item in remaining) == [13, 14, 15]
    assert (await client.delete(url, params={"all": "true"}, headers=headers)).json() == {"deleted": 3}


async def test_collections_lists_the_workspaces_collections_only(
    workspace: Workspace, client: httpx2.AsyncClient
) -> None:
    headers = workspace.headers()
    assert (await client.post(f"{BASE}/listed-one/documents", json={"a": 1}, headers=headers)).status_code == 201
    listed = await client.get(BASE, headers=headers)
    assert listed.status_code == 200
    assert "listed-one" in listed.json()["items"]
    assert "_falcone" not in listed.json()["items"]  # the provisioner's marker


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/bad/documents", {"params": {"filter": "{not json"}}),
        ("GET", "/bad/documents", {"params": {"filter": "[1, 2]"}}),
        ("GET", "/bad/documents", {"params": {"filter": '{"d": {"$date": "soon"}}'}}),
        ("GET", "/bad/documents", {"params": {"sort": '{"n": 2}'}}),
        ("GET", "/bad/documents", {"params": {"sort": '{"n": true}'}}),
        ("GET", "/bad/documents", {"params": {"filter": '{"n": {"$bogus": 1}}'}}),
        ("POST", "/bad/documents", {"json": {"n": 2**70}}),
        ("POST", "/bad/documents", {"json": {"a.b": 1}}),
        ("POST", "/bad/documents", {"json": {"a": {"$set": 1}}}),
        ("POST", "/bad/documents", {"json": {"a": {"$binary": {}}}}),
        ("POST", "/bad/documents", {"content": '{"s": "\\ud800"}', "headers": {"content-type": "application/json"}}),
        ("PATCH", "/bad/documents/x", {"json": {"$set": {"a": 1}, "b": 2}}),
        ("PATCH", "/bad/documents/x", {"json": {"$setOnInsert": {"a": 1}}}),
        ("PATCH", "/bad/documents/x", {"json": {"$set": {"_id": "y"}}}),
        ("PATCH", "/bad/documents/x", {"json": {"$set": {}}}),
        ("PUT", "/bad/documents/x", {"json": {"_id": "other"}}),
        ("POST", "/bad/query", {"json": {"sort": {"$natural": 1}}}),
        ("POST", "/bad/aggregate", {"json": {"pipeline": [{"$match": {}, "$limit": 1}]}}),
        ("POST", "/bad/aggregate", {"json": {"pipeline": [{"$geoNear": {}}]}}),
        ("POST", "/bad/aggregate", {"json": {"pipeline": [{"$facet": {"a": [{"$facet": {}}]}}]}}),
    ],
)
async def test_bad_input_is_a_400_problem(
    workspace: Workspace, client: httpx2.AsyncClient, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    headers = {**kwargs.pop("headers", {}), **workspace.headers()}
    response = await client.request(method, f"{BASE}{path}", headers=headers, **kwargs)
    assert (response.status_code, response.headers["content-type"]) == (400, PROBLEM), response.text
    assert response.json()["detail"]


async def test_collection_names_outside_the_pattern_are_refused(
    workspace: Workspace, client: httpx2.AsyncClient
) -> None:
    for name in ("_falcone", "system.users", "a" * 65, "9lives", "$cmd"):
        response = await client.get(f"{BASE}/{name}/documents", headers=workspace.headers())
        assert (response.status_code, response.headers["content-type"]) == (422, PROBLEM), name


async def test_a_page_ends_at_the_byte_budget_and_its_cursor_continues(world: World) -> None:
    workspace = mongo_workspaces(world)[1]
    app = create_app(world.settings.model_copy(update={"mongo_max_response_bytes": 2048}))
    async with (
        app.router.lifespan_context(app),
        httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://executor") as small,
    ):
        url = f"{BASE}/budget/documents"
        docs = [{"_id": f"big-{n}", "text": "x" * 900} for n in range(5)]
        assert (await small.post(url, json=docs, headers=workspace.headers())).status_code == 201
        seen: list[str] = []
        cursor, pages = None, 0
        while True:
            params: dict[str, str] = {"cursor": cursor} if cursor else {}
            page = (await small.get(url, params=params, headers=workspace.headers())).json()
            assert len(json.dumps(page["items"])) < 2048 + 1000  # one document past the budget at most
            seen += [item["_id"] for item in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [f"big-{n}" for n in range(5)]
        assert pages >= 2
        aggregated = await small.post(
            f"{BASE}/budget/aggregate", json={"pipeline": [{"$sort": {"_id": 1}}]}, headers=workspace.headers()
        )
        assert aggregated.json()["truncated"] is True


async def test_workspace_clients_are_bounded_and_reopened_on_demand(world: World) -> None:
    app = create_app(world.settings.model_copy(update={"mongo_max_clients": 1}))
    async with (
        app.router.lifespan_context(app),
        httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://executor") as bounded,
    ):
        workspaces = mongo_workspaces(world)
        for workspace in [*workspaces[:3], workspaces[0]]:
            listed = await bounded.get(BASE, headers=workspace.headers())
            assert listed.status_code == 200, listed.text
            assert app.state.documents.clients.open_clients() == 1
