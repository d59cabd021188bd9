"""The AST of `grammar.py` compiled to SQL for one table of the caller's schema.

Only two things ever enter the SQL text: identifiers the table's catalogue has (quoted), and type names the
catalogue gave us (`format_type`) or the cast allow-list. Every value, JSON key, limit and offset is a `$n`
parameter, sent as text and cast by PostgreSQL, so a value can never become syntax. Results are built in the
database as one JSON text (`json_agg`), the way PostgREST does, so PostgreSQL's own JSON forms reach the client.

Every statement returns one row: (total or NULL, rows in this page or affected, JSON array text).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from executor.tables.grammar import (
    PATTERNS,
    Condition,
    Field,
    GrammarError,
    Logic,
    OrderItem,
    Query,
    SelectItem,
)
from falcone.rls import CONTEXT_COLUMNS

_TEXT_TYPES = {"text", "character varying", "character", "name", "citext"}
_COMPARISON_SQL = {
    "eq": "=",
    "neq": "<>",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "isdistinct": "IS DISTINCT FROM",
    "like": "LIKE",
    "ilike": "ILIKE",
    "match": "~",
    "imatch": "~*",
    "cs": "@>",
    "cd": "<@",
    "ov": "&&",
    "sl": "<<",
    "sr": ">>",
    "nxr": "&<",
    "nxl": "&>",
    "adj": "-|-",
}
_IS_SQL = {
    "null": "IS NULL",
    "not_null": "IS NOT NULL",
    "true": "IS TRUE",
    "false": "IS FALSE",
    "unknown": "IS UNKNOWN",
}
_TEXT_SEARCH = {
    "fts": "to_tsquery",
    "plfts": "plainto_tsquery",
    "phfts": "phraseto_tsquery",
    "wfts": "websearch_to_tsquery",
}
ALIAS = "_t"


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # format_type() of the column: trusted catalogue text
    nullable: bool
    has_default: bool


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    columns: dict[str, Column]
    primary_key: tuple[str, ...]

    @property
    def qualified(self) -> str:
        return f"{quote(self.schema)}.{quote(self.name)}"

    @property
    def visible(self) -> list[str]:
        """What `*` selects: every column but the context columns RLS keys on."""
        return [name for name in self.columns if name not in CONTEXT_COLUMNS]

    def column(self, name: str) -> Column:
        found = self.columns.get(name)
        if found is None:
            raise UnknownColumnError(self.name, name)
        return found

    def writable(self, name: str) -> Column:
        if name in CONTEXT_COLUMNS:
            raise GrammarError(f"'{name}' is set from the credential, never by the request")
        return self.column(name)


class UnknownColumnError(GrammarError):
    def __init__(self, table: str, column: str) -> None:
        super().__init__(f"column {column!r} does not exist in {table!r}")


@dataclass
class Params:
    values: list[Any] = field(default_factory=list)

    def add(self, value: Any, cast: str = "text") -> str:
        self.values.append(value)
        return f"${len(self.values)}::{cast}"


@dataclass(frozen=True)
class Statement:
    sql: str
    params: list[Any]


def _field_sql(table: Table, target: Field, params: Params) -> tuple[str, str]:
    """(SQL expression, its type) of a field: a column, or a JSON path into one."""
    column = table.column(target.column)
    expression, kind = f"{ALIAS}.{quote(column.name)}", column.type
    for arrow, key in target.path:
        if kind not in {"json", "jsonb"}:
            raise GrammarError(f"'{column.name}' is not a JSON column: JSON arrows do not apply")
        index = key.lstrip("-").isdigit() and len(key) < 10
        operand = params.add(int(key), "integer") if index else params.add(key)
        expression = f"({expression}{arrow}{operand})"
        kind = "text" if arrow == "->>" else kind
    return expression, kind


def _condition_sql(table: Table, condition: Condition, params: Params) -> str:
    expression, kind = _field_sql(table, condition.field, params)
    operator, value = condition.operator, condition.value
    if operator == "is":
        sql = f"{expression} {_IS_SQL[str(value)]}"
    elif operator == "in":
        values = f"{params.add(list(value), 'text[]')}::{_array_of(kind)}" if value else ""
        sql = f"{expression} = ANY({values})" if value else "false"
    elif operator in _TEXT_SEARCH:
        config = f"{params.add(condition.language, 'regconfig')}, " if condition.language else ""
        document = expression if kind == "tsvector" else f"to_tsvector({config}{_as_text(expression, kind)})"
        sql = f"{document} @@ {_TEXT_SEARCH[operator]}({config}{params.add(value)})"
    else:
        assert isinstance(value, str)
        symbol = _COMPARISON_SQL[operator]
        if operator in PATTERNS:
            pattern = value.replace("*", "%") if operator in {"like", "ilike"} else value
            left = _as_text(expression, kind)
            if condition.quantifier:
                sql = f"{left} {symbol} {condition.quantifier.upper()}({params.add(pattern)}::text[])"
            else:
                sql = f"{left} {symbol} {params.add(pattern)}"
        elif condition.quantifier:
            operand = f"{params.add(value)}::{_array_of(kind)}"
            sql = f"{expression} {symbol} {condition.quantifier.upper()}({operand})"
        else:
            operand = params.add(value) if kind in _TEXT_TYPES else f"{params.add(value)}::{kind}"
            sql = f"{expression} {symbol} {operand}"
    return f"NOT ({sql})" if condition.negated else sql


def _as_text(expression: str, kind: str) -> str:
    return expression if kind in _TEXT_TYPES else f"{expression}::text"


def _array_of(kind: str) -> str:
    return kind if kind.endswith("[]") else f"{kind}[]"


def _where_sql(table: Table, items: tuple[Condition | Logic, ...], params: Params) -> str:
    if not items:
        return "true"
    return " AND ".join(f"({_node_sql(table, item, params)})" for item in items)


def _node_sql(table: Table, node: Condition | Logic, params: Params) -> str:
    if isinstance(node, Condition):
        return _condition_sql(table, node, params)
    joiner = " AND " if node.operator == "and" else " OR "
    inner = joiner.join(f"({_node_sql(table, child, params)})" for child in node.children) or "true"
    return f"NOT ({inner})" if node.negated else inner


def _select_sql(table: Table, items: tuple[SelectItem, ...], params: Params) -> str:
    parts: list[str] = []
    for item in items:
        if item.is_star:
            parts.extend(f"{ALIAS}.{quote(name)}" for name in table.visible)
            continue
        expression, _ = _field_sql(table, item.field, params)
        if item.cast:
            expression = f"({expression})::{item.cast}"
        parts.append(f"{expression} AS {quote(item.alias or item.field.default_name)}")
    return ", ".join(parts) or "NULL AS _"


def _order_sql(table: Table, items: tuple[OrderItem, ...], params: Params) -> str:
    if not items:
        return ""
    parts = []
    for item in items:
        expression, _ = _field_sql(table, item.field, params)
        direction = " DESC" if item.descending else " ASC"
        nulls = f" NULLS {item.nulls.upper()}" if item.nulls else ""
        parts.append(f"{expression}{direction}{nulls}")
    return " ORDER BY " + ", ".join(parts)


def _envelope(source: str, total: str = "NULL::bigint") -> str:
    return f"SELECT {total}, count(*), coalesce(json_agg(_r), '[]')::text FROM ({source}) AS _r"  # noqa: S608


def read(table: Table, query: Query, *, limit: int, count: bool, after: str | None = None) -> Statement:
    """A page of rows; `after` is a keyset cursor (the last primary key seen: rows after it, in key order)."""
    params = Params()
    where = _where_sql(table, query.where, params)
    if after is not None:
        key = table.column(table.primary_key[0])
        where = f"({where}) AND {ALIAS}.{quote(key.name)} > {params.add(after)}::{key.type}"
    selected = _select_sql(table, query.select, params)
    order = _order_sql(table, query.order, params)
    source = f"FROM {table.qualified} AS {ALIAS} WHERE {where}"
    page = (
        f"SELECT {selected} {source}{order} "
        f"LIMIT {params.add(limit, 'bigint')} OFFSET {params.add(query.offset, 'bigint')}"
    )
    total = f"(SELECT count(*) {source})" if count else "NULL::bigint"
    return Statement(_envelope(page, total), params.values)


def plan_count(table: Table, query: Query) -> Statement:
    params = Params()
    where = _where_sql(table, query.where, params)
    return Statement(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {table.qualified} AS {ALIAS} WHERE {where}", params.values)  # noqa: S608


def _returning(table: Table, query: Query, params: Params, representation: bool) -> str:
    return _select_sql(table, query.select, params) if representation else "1 AS _"


def insert(
    table: Table,
    query: Query,
    rows_json: str,
    columns: list[str],
    *,
    representation: bool,
    resolution: str | None,
) -> Statement:
    """`resolution`: None (plain insert), "merge-duplicates" or "ignore-duplicates" (upsert on `on_conflict`,
    the primary key by default)."""
    params = Params()
    rows = params.add(rows_json, "json")
    names = ", ".join(quote(table.writable(name).name) for name in columns)
    conflict = ""
    if resolution is not None:
        targets = query.on_conflict or table.primary_key
        if not targets:
            raise GrammarError(f"{table.name!r} has no primary key: name the conflict columns with on_conflict")
        target_sql = ", ".join(quote(table.column(name).name) for name in targets)
        updates = [name for name in columns if name not in targets]
        if resolution == "merge-duplicates" and updates:
            assignments = ", ".join(f"{quote(name)} = EXCLUDED.{quote(name)}" for name in updates)
            conflict = f" ON CONFLICT ({target_sql}) DO UPDATE SET {assignments}"
        else:
            conflict = f" ON CONFLICT ({target_sql}) DO NOTHING"
    returning = _returning(table, query, params, representation)
    if columns:
        source = f"({names}) SELECT {names} FROM json_populate_recordset(NULL::{table.qualified}, {rows})"  # noqa: S608
    else:  # objects without keys: a row of defaults for each
        source = f"SELECT FROM json_array_elements({rows})"
    statement = f"INSERT INTO {table.qualified} AS {ALIAS} {source}{conflict} RETURNING {returning}"
    return Statement(f"WITH _w AS ({statement}) " + _envelope("SELECT * FROM _w"), params.values)  # noqa: S608


def update(table: Table, query: Query, patch_json: str, columns: list[str], *, representation: bool) -> Statement:
    if not columns:
        raise GrammarError("the body names no column to change")
    params = Params()
    patch = params.add(patch_json, "json")
    assignments = ", ".join(f"{quote(table.writable(name).name)} = _p.{quote(name)}" for name in columns)
    where = _where_sql(table, query.where, params)
    returning = _returning(table, query, params, representation)
    statement = (
        f"UPDATE {table.qualified} AS {ALIAS} SET {assignments} "  # noqa: S608
        f"FROM (SELECT * FROM json_populate_record(NULL::{table.qualified}, {patch})) AS _p "
        f"WHERE {where} RETURNING {returning}"
    )
    return Statement(f"WITH _w AS ({statement}) " + _envelope("SELECT * FROM _w"), params.values)  # noqa: S608


def delete(table: Table, query: Query, *, representation: bool) -> Statement:
    params = Params()
    where = _where_sql(table, query.where, params)
    returning = _returning(table, query, params, representation)
    statement = f"DELETE FROM {table.qualified} AS {ALIAS} WHERE {where} RETURNING {returning}"  # noqa: S608
    return Statement(f"WITH _w AS ({statement}) " + _envelope("SELECT * FROM _w"), params.values)  # noqa: S608
