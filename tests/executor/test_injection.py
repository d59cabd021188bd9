"""Injection through every part of the query grammar: values, column names, JSON keys, order, select, on_conflict.
None succeeds (the other tenants' rows and the table itself are intact afterwards), none yields a 500."""

from __future__ import annotations

from urllib.parse import quote

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.executor.conftest import NOTES_COLUMNS, Seed, World

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]

PAYLOADS = [
    "1; DROP TABLE todos; --",
    "1' OR '1'='1",
    "1) OR (1=1",
    "' UNION SELECT tenant_id, NULL FROM todos --",
    '"; SELECT pg_sleep(5); --',
    "$1",
    "\\' OR 1=1 --",
    "1::text) OR true --",
    "%00",
    "ws_a__b.todos",
    "(SELECT current_setting('app.tenant_id'))",
]


async def _all_ok(world: World, seed: Seed, client: httpx2.AsyncClient) -> None:
    """Every workspace still has its own rows and only those."""
    for workspace in world.workspaces:
        listed = await client.get("/rest/v1/todos?select=id,data", headers=workspace.headers())
        assert listed.status_code == 200
        owners = {row["data"].get("owner") for row in listed.json()}
        assert seed.marker[workspace.label] in owners
        assert owners <= {seed.marker[workspace.label], None}  # None: rows other tests wrote there


def _assert_refused_or_harmless(response: httpx2.Response, foreign_markers: list[str]) -> None:
    assert response.status_code < 500, response.text
    assert not any(marker in response.text for marker in foreign_markers), response.text


async def test_sql_in_filter_values_is_data(world: World, seed: Seed, client: httpx2.AsyncClient) -> None:
    workspace = world.workspaces[0]
    foreign = [m for label, m in seed.marker.items() if label != workspace.label]
    for payload in PAYLOADS:
        for query in (
            f"id=eq.{quote(payload)}",
            f"data->>owner=eq.{quote(payload)}",
            f"data->>owner=like.{quote(payload)}",
            f"id=in.({quote(payload)},1)",
            f"or=(data->>owner.eq.{quote(payload)},id.eq.1)",
            f"data=cs.{quote(payload)}",
        ):
            response = await client.get(f"/rest/v1/todos?{query}", headers=workspace.headers())
            _assert_refused_or_harmless(response, foreign)
            if response.status_code == 200:
                assert response.json() == []  # the payload matched nothing: it was compared as a value
    await _all_ok(world, seed, client)


async def test_sql_in_column_names_order_and_select_is_refused(
    world: World, seed: Seed, client: httpx2.AsyncClient
) -> None:
    workspace = world.workspaces[2]
    foreign = [m for label, m in seed.marker.items() if label != workspace.label]
    for payload in PAYLOADS:
        encoded = quote(payload)
        for query in (
            f"{encoded}=eq.1",
            f"select={encoded}",
            f"select=id,{encoded}",
            f"select=x:{encoded}",
            f"select=id::{encoded}",
            f"order={encoded}",
            f"order=id.{encoded}",
            f"data->>{encoded}=eq.1",
            f"select=data->{encoded}",
            f"or=({encoded}.eq.1)",
        ):
            response = await client.get(f"/rest/v1/todos?{query}", headers=workspace.headers())
            _assert_refused_or_harmless(response, foreign)
        upsert = await client.post(
            f"/rest/v1/todos?on_conflict={encoded}",
            json={"id": 1, "data": {}},
            headers={**workspace.headers(), "Prefer": "resolution=merge-duplicates"},
        )
        _assert_refused_or_harmless(upsert, foreign)
        assert upsert.status_code == 400
        body_key = await client.post("/rest/v1/todos", json={payload: 1}, headers=workspace.headers())
        assert body_key.status_code == 400
        table = await client.get(f"/rest/v1/{encoded}", headers=workspace.headers())
        assert table.status_code in {400, 404}
    # Quoted JSON keys are parameters too: a key with quotes selects nothing and breaks nothing.
    keyed = await client.get('/rest/v1/todos?select=v:data->>"owner\'; --"', headers=workspace.headers())
    assert keyed.status_code == 200
    assert all(row["v"] is None for row in keyed.json())
    await _all_ok(world, seed, client)


async def test_injection_in_created_table_definitions_is_refused(world: World, client: httpx2.AsyncClient) -> None:
    workspace = world.workspaces[4]
    for definition in (
        {"name": "t; drop table todos", "columns": [{"name": "x", "type": "text"}]},
        {"name": "ok_table", "columns": [{"name": "x; drop table todos", "type": "text"}]},
        {"name": "ok_table", "columns": [{"name": "x", "type": "text); drop table todos; --"}]},
        {"name": "ok_table", "columns": [{"name": "tenant_id", "type": "text"}]},
        {"name": "ok_table", "columns": [{"name": "x", "type": "text", "default_expression": "pg_sleep(1)"}]},
    ):
        response = await client.post("/v1/collections", json=definition, headers=workspace.headers())
        assert response.status_code in {400, 422}, (definition, response.text)
    # A default with quotes is a value: stored as given.
    made = await client.post(
        "/v1/collections",
        json={"name": "quoted", "columns": [{"name": "x", "type": "text", "default": "it's'); --"}]},
        headers=workspace.headers(),
    )
    assert made.status_code == 201, made.text
    row = await client.post(
        "/rest/v1/quoted", json={}, headers={**workspace.headers(), "Prefer": "return=representation"}
    )
    assert row.json()[0]["x"] == "it's'); --"
    assert (await client.get("/rest/v1/todos", headers=workspace.headers())).status_code == 200


_KEYS = st.sampled_from(
    [
        "id",
        "data",
        "data->>owner",
        "data->n",
        "select",
        "order",
        "limit",
        "offset",
        "or",
        "and",
        "not.or",
        "columns",
        "on_conflict",
        "x",
        "id;",
        '"id"',
        "data->>'a'",
        "*",
        "",
    ]
)
_OPERATORS = st.sampled_from(
    [
        "eq",
        "neq",
        "gt",
        "gte",
        "lt",
        "lte",
        "like",
        "ilike",
        "in",
        "is",
        "cs",
        "cd",
        "ov",
        "fts",
        "not.eq",
        "like(any)",
        "eq(all)",
        "match",
        "isdistinct",
        "bogus",
        "fts(english)",
        "fts(nosuchconfig)",
    ]
)
_VALUES = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["null", "true", "(1,2)", "{1,2}", '{"a":1}', "()", "(", "*", "1.5", "-1", "99999999999999999999"]),
)


@st.composite
def _query_strings(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        key = draw(st.one_of(_KEYS, st.text(max_size=12)))
        operator = draw(_OPERATORS)
        value = draw(_VALUES)
        parts.append(
            f"{quote(key)}={quote(operator)}.{quote(value)}" if draw(st.booleans()) else f"{quote(key)}={quote(value)}"
        )
    return "&".join(parts)


@pytest.fixture(scope="module")
async def fuzz_table(world: World, seed: Seed, client: httpx2.AsyncClient) -> str:
    """Writes of the generated queries go to a table of their own (they may change or delete any of its rows)."""
    _ = seed
    workspace = world.workspaces[5]
    columns = [*NOTES_COLUMNS, {"name": "data", "type": "jsonb"}]
    created = await client.post(
        "/v1/collections", json={"name": "fuzz", "columns": columns}, headers=workspace.headers()
    )
    assert created.status_code == 201, created.text
    rows = [{"title": f"row {n}", "rank": n, "tags": ["a"], "data": {"owner": "fuzz", "n": n}} for n in range(5)]
    filled = await client.post("/rest/v1/fuzz", json=rows, headers=workspace.headers())
    assert filled.status_code == 201, filled.text
    return "fuzz"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    query=_query_strings(),
    method=st.sampled_from(["GET", "GET", "PATCH", "DELETE"]),
    table=st.sampled_from(["todos", "notes", "fuzz"]),
)
async def test_generated_query_strings_never_yield_a_500(
    world: World, fuzz_table: str, client: httpx2.AsyncClient, query: str, method: str, table: str
) -> None:
    workspace = world.workspaces[5]
    headers = {**workspace.headers(), "Prefer": "return=representation"}
    if method == "GET":
        response = await client.get(f"/rest/v1/{table}?{query}", headers=headers)
    elif method == "PATCH":
        response = await client.patch(f"/rest/v1/{fuzz_table}?{query}", json={"title": "generated"}, headers=headers)
    else:
        response = await client.delete(f"/rest/v1/{fuzz_table}?{query}", headers=headers)
    assert response.status_code < 500, (method, query, response.text)
    documents = await client.get(f"/v1/collections/{table}/documents?{query}", headers=headers)
    assert documents.status_code < 500, (query, documents.text)
