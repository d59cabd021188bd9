"""The PostgREST grammar and its compilation, without servers: what reaches the SQL text and what goes as a
parameter."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from executor.tables import statements
from executor.tables.grammar import Condition, Field, GrammarError, Logic, parse_query
from executor.tables.statements import Column, Table

TABLE = Table(
    schema="ws_acme__prod",
    name="todos",
    columns={
        "id": Column("id", "bigint", False, True),
        "title": Column("title", "text", True, False),
        "data": Column("data", "jsonb", True, True),
        "tags": Column("tags", "text[]", True, False),
        "tenant_id": Column("tenant_id", "text", False, True),
    },
    primary_key=("id",),
)


def _parse(query: str) -> list[tuple[str, str]]:
    return [tuple(part.split("=", 1)) for part in query.split("&")]  # type: ignore[misc]


def test_filters_logic_trees_and_quoted_values_parse() -> None:
    query = parse_query(_parse('id=not.in.(1,"2,3")&or=(title.eq."a,b",and(id.gt.1,data->>k.is.null))'))
    assert query.where[0] == Condition(Field("id"), "in", ("1", "2,3"), negated=True)
    logic = query.where[1]
    assert isinstance(logic, Logic)
    assert logic.children[0] == Condition(Field("title"), "eq", "a,b")
    nested = logic.children[1]
    assert isinstance(nested, Logic)
    assert nested.operator == "and"
    assert nested.children[1] == Condition(Field("data", (("->>", "k"),)), "is", "null")


def test_select_aliases_casts_and_order_modifiers_parse() -> None:
    query = parse_query(_parse("select=id,t:title,n:data->n::int,*&order=data->>k.desc.nullslast,id"))
    assert [(item.alias, item.field.default_name, item.cast) for item in query.select] == [
        (None, "id", None),
        ("t", "title", None),
        ("n", "n", "integer"),
        (None, "*", None),
    ]
    assert [(item.field.column, item.descending, item.nulls) for item in query.order] == [
        ("data", True, "last"),
        ("id", False, None),
    ]


@pytest.mark.parametrize(
    "query",
    [
        "id=eq",
        "id=nope.1",
        "or=(id.eq.1",
        "select=rel(*)",
        "select=id::money",
        "order=id.sideways",
        "limit=1e3",
        "offset=-1",
        "rel.col=eq.1",
        "id=like(any).x",
        "id=in.1,2",
        "id=is.maybe",
        "select=a b",
    ],
)
def test_malformed_queries_are_grammar_errors(query: str) -> None:
    with pytest.raises(GrammarError):
        parse_query(_parse(query))


def test_values_and_json_keys_are_parameters_never_sql() -> None:
    hostile = "x'); DROP TABLE todos; --"
    query = parse_query([("title", f"eq.{hostile}"), (f'data->>"{hostile}"', "eq.1"), ("id", f'in.(1,"{hostile}")')])
    compiled = statements.read(TABLE, query, limit=10, count=True)
    assert "DROP" not in compiled.sql
    assert hostile in compiled.params
    assert ["1", hostile] in compiled.params


def test_unknown_columns_and_context_columns_are_refused() -> None:
    with pytest.raises(GrammarError):
        statements.read(TABLE, parse_query([("nope", "eq.1")]), limit=1, count=False)
    with pytest.raises(GrammarError):
        statements.insert(TABLE, parse_query([]), "[]", ["tenant_id"], representation=True, resolution=None)
    star = statements.read(TABLE, parse_query([]), limit=1, count=False).sql
    assert '"tenant_id"' not in star


@given(st.lists(st.tuples(st.text(max_size=15), st.text(max_size=25)), max_size=5))
def test_any_query_string_parses_or_is_a_grammar_error(params: list[tuple[str, str]]) -> None:
    try:
        query = parse_query(params)
        statements.read(TABLE, query, limit=10, count=True)
    except GrammarError:
        pass
