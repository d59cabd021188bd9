"""SQL of realtime subscriptions, on a connection inside the subscriber's transaction (its role and context set):
whether it may watch a table, and the changed rows read back as it would read them itself."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from executor.tables import repository as tables_repository
from executor.tables import statements
from executor.tables.grammar import Condition, Field, Logic, Query
from executor.tables.repository import Connection
from executor.tables.statements import Table
from falcone.rls import CHANGE_TRIGGER

_WATCHABLE = """
SELECT has_table_privilege(c.oid, 'SELECT'),
       EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = $3 AND t.tgenabled <> 'D')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2
"""


async def watchable(connection: Connection, table: Table) -> tuple[bool, bool]:
    """(the caller's role may SELECT it, it carries the enabled change trigger)."""
    row = await connection.fetchrow(_WATCHABLE, table.schema, table.name, CHANGE_TRIGGER)
    return (False, False) if row is None else (bool(row[0]), bool(row[1]))


def key_of(table: Table, values: dict[str, Any]) -> tuple[str, ...]:
    """A row's primary key as comparable text (the notification and the row both come from PostgreSQL's JSON)."""
    return tuple(json.dumps(values.get(column), sort_keys=True) for column in table.primary_key)


def _text(value: Any) -> str:
    """A key value as the filter grammar takes it (text, cast by PostgreSQL to the column's type)."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


async def rows(connection: Connection, table: Table, keys: Sequence[dict[str, Any]]) -> dict[tuple[str, ...], Any]:
    """The rows with these primary keys that the caller can SELECT, by `key_of`, as the documents API shows them
    (every column but the context columns)."""
    matches = tuple(
        Logic("and", tuple(Condition(Field(column), "eq", _text(key[column])) for column in table.primary_key))
        for key in keys
    )
    statement = statements.read(table, Query(where=(Logic("or", matches),)), limit=len(keys), count=False)
    result = await tables_repository.run(connection, statement)
    found: list[dict[str, Any]] = json.loads(result.body)
    return {key_of(table, row): row for row in found}
