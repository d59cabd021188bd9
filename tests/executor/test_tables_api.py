"""The PostgreSQL surface through HTTP: the documents API and the PostgREST mount, on the real workspaces."""

from __future__ import annotations

import httpx2
import pytest

from executor.app import create_app
from tests.executor.conftest import Seed, World

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]
PROBLEM = "application/problem+json"


async def test_owner_inserts_reads_updates_and_deletes_documents(world: World, client: httpx2.AsyncClient) -> None:
    ws = world.workspaces[1]
    created = await client.post(
        "/v1/collections/todos/documents", json={"data": {"title": "write tests"}}, headers=ws.headers()
    )
    assert created.status_code == 201, created.text
    document = created.json()
    assert document["data"] == {"title": "write tests"}
    assert "tenant_id" not in document  # the context columns stay out of documents
    path = f"/v1/collections/todos/documents/{document['id']}"
    assert (await client.get(path, headers=ws.headers())).json() == document
    patched = await client.patch(path, json={"data": {"title": "done"}}, headers=ws.headers())
    assert patched.json() == {"id": document["id"], "data": {"title": "done"}}
    assert (await client.delete(path, headers=ws.headers())).status_code == 204
    gone = await client.get(path, headers=ws.headers())
    assert (gone.status_code, gone.headers["content-type"]) == (404, PROBLEM)
    assert (await client.delete(path, headers=ws.headers())).status_code == 404


async def test_documents_list_filters_and_pages_with_a_cursor(
    world: World, seed: Seed, client: httpx2.AsyncClient
) -> None:
    ws = world.workspaces[4]
    headers = ws.headers()
    rows = [{"title": f"page {n}", "rank": 100 + n} for n in range(7)]
    assert (await client.post("/v1/collections/notes/documents", json=rows, headers=headers)).status_code == 201
    seen: list[int] = []
    cursor = None
    for _ in range(10):
        params: dict[str, str | int] = {"rank": "gte.100", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/collections/notes/documents", params=params, headers=headers)).json()
        seen += [item["rank"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(100, 107))
    filtered = await client.get(
        "/v1/collections/notes/documents", params={"done": "is.true", "select": "title"}, headers=headers
    )
    assert filtered.json()["items"] == [{"title": f"{seed.marker[ws.label]} second"}]
    bad = await client.get("/v1/collections/notes/documents", params={"cursor": "!!"}, headers=headers)
    assert bad.status_code == 400


async def test_query_body_filters_orders_counts_and_pages(world: World, seed: Seed, client: httpx2.AsyncClient) -> None:
    ws = world.workspaces[3]
    headers = ws.headers()
    marker = seed.marker[ws.label]
    rows = [{"title": f"{marker} q{n}", "rank": 200 + n, "done": n % 2 == 0} for n in range(6)]
    assert (await client.post("/v1/collections/notes/documents", json=rows, headers=headers)).status_code == 201
    body = {
        "select": "title,rank",
        "where": {"rank": ["gte.200", "lt.206"], "or": "(done.is.true,rank.eq.201)"},
        "order": "rank.desc",
        "count": "exact",
    }
    found = await client.post("/v1/collections/notes/query", json=body, headers=headers)
    assert found.status_code == 200, found.text
    page = found.json()
    assert [item["rank"] for item in page["items"]] == [204, 202, 201, 200]
    assert page["count"] == 4
    assert set(page["items"][0]) == {"title", "rank"}
    # keyset paging through the same filters, as the GET listing does
    first = await client.post(
        "/v1/collections/notes/query", json={"where": {"rank": "gte.200"}, "limit": 4}, headers=headers
    )
    second = await client.post(
        "/v1/collections/notes/query",
        json={"where": {"rank": "gte.200"}, "limit": 4, "cursor": first.json()["next_cursor"]},
        headers=headers,
    )
    ranks = [item["rank"] for item in first.json()["items"] + second.json()["items"]]
    assert sorted(ranks) == list(range(200, 206))
    assert second.json()["next_cursor"] is None
    # anon keys read through it too (a query changes nothing); unknown fields and misplaced words are refused
    anon = await client.post(
        "/v1/collections/notes/query", json={"where": {"rank": "eq.203"}}, headers=ws.headers("anon")
    )
    assert anon.status_code == 200
    assert [item["rank"] for item in anon.json()["items"]] == [203]
    bodies: list[dict[str, object]] = [{"where": {"limit": "5"}}, {"filter": {}}, {"where": {"rank": "bogus.1"}}]
    for bad in bodies:
        refused = await client.post("/v1/collections/notes/query", json=bad, headers=headers)
        assert refused.status_code in {400, 422}, refused.text
        assert refused.headers["content-type"] == PROBLEM


async def test_collection_is_described_and_listed(world: World, seed: Seed, client: httpx2.AsyncClient) -> None:
    _ = seed
    ws = world.workspaces[0]
    described = (await client.get("/v1/collections/notes", headers=ws.headers())).json()
    assert described["primary_key"] == ["id"]
    assert [column["name"] for column in described["columns"]] == ["id", "title", "done", "rank", "tags", "meta"]
    assert {"notes", "todos"} <= set((await client.get("/v1/collections", headers=ws.headers())).json()["items"])
    assert (await client.get("/v1/collections/nope", headers=ws.headers())).status_code == 404
    duplicate = await client.post(
        "/v1/collections", json={"name": "notes", "columns": [{"name": "x", "type": "text"}]}, headers=ws.headers()
    )
    assert duplicate.status_code == 409
    unknown_type = await client.post(
        "/v1/collections", json={"name": "t2", "columns": [{"name": "x", "type": "money"}]}, headers=ws.headers()
    )
    assert (unknown_type.status_code, unknown_type.headers["content-type"]) == (422, PROBLEM)


async def test_postgrest_filters_order_and_select(world: World, seed: Seed, client: httpx2.AsyncClient) -> None:
    ws = world.workspaces[2]
    marker = seed.marker[ws.label]

    async def get(query: str) -> list[dict[str, object]]:
        # the seeded rows only: other tests (realtime) add rows to this table
        response = await client.get(f"/rest/v1/notes?{query}&title=like.{marker}*", headers=ws.headers())
        assert response.status_code == 200, (query, response.text)
        result: list[dict[str, object]] = response.json()
        return result

    assert await get("select=title&rank=eq.1") == [{"title": f"{marker} first"}]
    assert await get("select=rank&rank=neq.1") == [{"rank": 2}]  # SQL's NULL semantics, as PostgREST
    assert await get("select=rank&order=rank.desc.nullslast") == [{"rank": 2}, {"rank": 1}, {"rank": None}]
    assert await get("select=rank&order=rank.desc.nullsfirst&limit=2") == [{"rank": None}, {"rank": 2}]
    assert await get("select=rank&rank=gt.1") == [{"rank": 2}]
    assert await get("select=rank&rank=lte.1") == [{"rank": 1}]
    assert await get("select=rank&rank=in.(1,2)&order=rank") == [{"rank": 1}, {"rank": 2}]
    assert await get("select=rank&rank=is.null") == [{"rank": None}]
    assert await get("select=rank&rank=not.is.null&order=rank") == [{"rank": 1}, {"rank": 2}]
    assert await get("select=rank&title=like.*second") == [{"rank": 2}]
    assert await get("select=rank&title=ilike.*SECOND") == [{"rank": 2}]
    assert await get("select=rank&tags=cs.{a}") == [{"rank": 1}]
    assert await get("select=rank&tags=cd.{a,b}&rank=not.is.null&order=rank") == [{"rank": 1}, {"rank": 2}]
    assert await get("select=rank&or=(rank.eq.1,done.is.true)&order=rank") == [{"rank": 1}, {"rank": 2}]
    assert await get("select=rank&and=(rank.gte.1,or(done.is.true,tags.cs.{z}))") == [{"rank": 2}]
    assert await get("select=rank&not.or=(rank.eq.1,rank.is.null)") == [{"rank": 2}]
    assert await get("select=owner:meta->>owner&rank=eq.1") == [{"owner": marker}]
    assert await get("select=rank&meta->>owner=eq." + marker) == [{"rank": 1}]
    assert await get("select=r:rank::text&rank=eq.2") == [{"r": "2"}]
    assert await get("select=rank&title=like(any).{*first,*second}&order=rank") == [{"rank": 1}, {"rank": 2}]
    assert await get("select=rank&order=rank&limit=1&offset=1") == [{"rank": 2}]
    everything = await get("")
    assert len(everything) >= 3
    assert "tenant_id" not in everything[0]


async def test_postgrest_counts_ranges_and_singular_objects(
    world: World, seed: Seed, client: httpx2.AsyncClient
) -> None:
    ws = world.workspaces[0]
    headers = ws.headers()
    # the seeded rows only: other tests (realtime) add rows to this table
    seeded = "id=in.(" + ",".join(map(str, seed.todo_ids[ws.label])) + ")"
    exact = await client.get(
        f"/rest/v1/todos?select=id&order=id&limit=2&{seeded}", headers={**headers, "Prefer": "count=exact"}
    )
    assert exact.status_code == 206
    assert exact.headers["content-range"] == "0-1/3"
    ranged = await client.get(f"/rest/v1/todos?select=id&order=id&{seeded}", headers={**headers, "Range": "1-2"})
    assert ranged.headers["content-range"] == "1-2/*"
    assert [row["id"] for row in ranged.json()] == seed.todo_ids[ws.label][1:3]
    for mode in ("planned", "estimated"):
        counted = await client.get("/rest/v1/todos?select=id", headers={**headers, "Prefer": f"count={mode}"})
        assert counted.status_code in {200, 206}
        assert counted.headers["content-range"].split("/")[1].isdigit()
    head = await client.head(f"/rest/v1/todos?{seeded}", headers={**headers, "Prefer": "count=exact"})
    assert (head.status_code, head.headers["content-range"], head.content) == (200, "0-2/3", b"")
    single = await client.get(
        f"/rest/v1/todos?id=eq.{seed.todo_ids[ws.label][0]}",
        headers={**headers, "Accept": "application/vnd.pgrst.object+json"},
    )
    assert single.json()["id"] == seed.todo_ids[ws.label][0]
    several = await client.get("/rest/v1/todos", headers={**headers, "Accept": "application/vnd.pgrst.object+json"})
    assert (several.status_code, several.json()["code"]) == (406, "PGRST116")
    beyond = await client.get("/rest/v1/todos?offset=50", headers={**headers, "Prefer": "count=exact"})
    assert beyond.status_code == 416


async def test_postgrest_writes_upserts_and_refuses_unfiltered_changes(
    world: World, client: httpx2.AsyncClient
) -> None:
    ws = world.workspaces[3]
    headers = ws.headers()
    made = await client.post(
        "/v1/collections",
        json={
            "name": "people",
            "columns": [
                {"name": "email", "type": "text", "primary_key": True},
                {"name": "name", "type": "text"},
                {"name": "visits", "type": "integer", "default": 0},
            ],
        },
        headers=headers,
    )
    assert made.status_code == 201, made.text
    represent = {**headers, "Prefer": "return=representation"}
    bulk = await client.post(
        "/rest/v1/people", json=[{"email": "a@x", "name": "A"}, {"email": "b@x", "name": "B"}], headers=represent
    )
    assert (bulk.status_code, len(bulk.json())) == (201, 2)
    assert bulk.json()[0]["visits"] == 0
    uneven = await client.post(
        "/rest/v1/people",
        json=[{"email": "e@x"}, {"email": "f@x", "visits": 3}],
        headers={**headers, "Prefer": "missing=default"},
    )
    assert uneven.status_code == 400  # a row without `visits` would get NULL, not the default
    minimal = await client.post("/rest/v1/people", json={"email": "c@x", "name": "C"}, headers=headers)
    assert (minimal.status_code, minimal.content) == (201, b"")
    conflict = await client.post("/rest/v1/people", json={"email": "a@x", "name": "again"}, headers=headers)
    assert (conflict.status_code, conflict.json()["code"]) == (409, "23505")
    merged = await client.post(
        "/rest/v1/people?on_conflict=email",
        json=[{"email": "a@x", "name": "A2"}, {"email": "d@x", "name": "D"}],
        headers={**headers, "Prefer": "return=representation,resolution=merge-duplicates"},
    )
    assert sorted(row["name"] for row in merged.json()) == ["A2", "D"]
    ignored = await client.post(
        "/rest/v1/people",
        json={"email": "a@x", "name": "ignored"},
        headers={**headers, "Prefer": "return=representation,resolution=ignore-duplicates"},
    )
    assert ignored.json() == []
    updated = await client.patch("/rest/v1/people?email=eq.b@x", json={"visits": 5}, headers=represent)
    assert updated.json() == [{"email": "b@x", "name": "B", "visits": 5}]
    assert (await client.patch("/rest/v1/people?email=eq.b@x", json={"visits": 6}, headers=headers)).status_code == 204
    unfiltered = await client.patch("/rest/v1/people", json={"visits": 0}, headers=headers)
    assert (unfiltered.status_code, unfiltered.headers["content-type"]) == (400, PROBLEM)
    assert (await client.delete("/rest/v1/people", headers=headers)).status_code == 400
    too_many = await client.delete(
        "/rest/v1/people?visits=gte.0", headers={**headers, "Prefer": "handling=strict,max-affected=1"}
    )
    assert too_many.status_code == 400
    assert len((await client.get("/rest/v1/people", headers=headers)).json()) == 4  # rolled back
    deleted = await client.delete("/rest/v1/people?email=in.(c@x,d@x)", headers=represent)
    assert sorted(row["email"] for row in deleted.json()) == ["c@x", "d@x"]
    everything = await client.delete("/rest/v1/people", headers={**headers, "Prefer": "unfiltered=allow"})
    assert everything.status_code == 204
    assert (await client.get("/rest/v1/people", headers=headers)).json() == []


async def test_bad_requests_are_clear_problems(world: World, seed: Seed, client: httpx2.AsyncClient) -> None:
    _ = seed
    ws = world.workspaces[0]
    for query, status in (
        ("nosuchcolumn=eq.1", 400),
        ("id=eq.notanumber", 400),
        ("id=bogus.1", 400),
        ("select=rel(*)", 400),
        ("order=id.sideways", 400),
        ("limit=-1", 400),
        ("or=(id.eq.1", 400),
        ("data->>a->b=eq.1&id=in.(", 400),
    ):
        response = await client.get(f"/rest/v1/todos?{query}", headers=ws.headers())
        assert (response.status_code, response.headers["content-type"]) == (status, PROBLEM), query
        body = response.json()
        assert body["detail"]
        assert body["message"] == body["detail"]  # PostgREST clients read `message`
    not_json = await client.post(
        "/rest/v1/todos", content=b"{", headers={**ws.headers(), "Content-Type": "application/json"}
    )
    assert not_json.status_code == 400
    not_object = await client.post("/rest/v1/todos", json=[1, 2], headers=ws.headers())
    assert not_object.status_code == 400
    missing = await client.get("/rest/v1/nosuchtable", headers=ws.headers())
    assert (missing.status_code, missing.json()["code"]) == (404, "PGRST205")


async def test_health_readiness_metrics_and_openapi(client: httpx2.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    metrics = await client.get("/metrics")
    assert "executor_requests_total" in metrics.text
    assert 'route="/rest/v1/{table}"' in metrics.text  # templates, never raw paths
    spec = (await client.get("/v1/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    assert {"/rest/v1/{table}", "/v1/collections/{name}/documents/{document_id}"} <= set(spec["paths"])


async def test_workspace_pools_are_bounded_and_reopened_on_demand(world: World, seed: Seed) -> None:
    """With room for one pool, alternating workspaces closes the least recently used pool and reopens it later."""
    app = create_app(world.settings.model_copy(update={"max_pools": 1}))
    async with (
        app.router.lifespan_context(app),
        httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://executor") as bounded,
    ):
        for workspace in [*world.workspaces[:3], world.workspaces[0]]:
            listed = await bounded.get("/rest/v1/todos?select=data", headers=workspace.headers())
            assert listed.status_code == 200
            owners = {row["data"].get("owner") for row in listed.json()}
            assert seed.marker[workspace.label] in owners
            assert owners <= {seed.marker[workspace.label], None}  # None: rows other tests wrote there
            assert len(app.state.tables.pools.open_pools()) == 1
