"""SQL against a workspace's schema, on a connection already inside the request's transaction (role and context
set). The statements themselves are compiled in `statements.py`; the catalogue and DDL queries live here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
import asyncpg.pool

from executor.tables.statements import Column, Statement, Table
from falcone.naming import WorkspaceNames
from falcone.rls import CREATE_TABLE_FUNCTION

if TYPE_CHECKING:
    Connection: TypeAlias = asyncpg.pool.PoolConnectionProxy[asyncpg.Record] | asyncpg.Connection[asyncpg.Record]
else:
    Connection = Any

_COLUMNS = """
SELECT a.attname, format_type(a.atttypid, NULL), NOT a.attnotnull,
       a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '',
       coalesce(a.attnum = ANY (i.indkey), false)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY a.attnum
"""

_TABLES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY 1
"""


@dataclass(frozen=True)
class Result:
    total: int | None
    rows: int
    body: str  # a JSON array


async def table(connection: Connection, schema: str, name: str) -> Table | None:
    rows = await connection.fetch(_COLUMNS, schema, name)
    if not rows:
        return None
    columns = {row[0]: Column(name=row[0], type=row[1], nullable=row[2], has_default=row[3]) for row in rows}
    primary_key = tuple(row[0] for row in rows if row[4])
    return Table(schema=schema, name=name, columns=columns, primary_key=primary_key)


async def table_names(connection: Connection, schema: str) -> list[str]:
    return [row[0] for row in await connection.fetch(_TABLES, schema)]


async def run(connection: Connection, statement: Statement) -> Result:
    row = await connection.fetchrow(statement.sql, *statement.params)
    assert row is not None  # every compiled statement returns exactly one row
    return Result(total=row[0], rows=row[1], body=row[2])


async def planned_rows(connection: Connection, statement: Statement) -> int:
    plan = json.loads(await connection.fetchval(statement.sql, *statement.params))
    return int(plan[0]["Plan"]["Plan Rows"])


async def create_table(connection: Connection, names: WorkspaceNames, name: str, columns: list[dict[str, Any]]) -> None:
    """Through the schema's SECURITY DEFINER function (see falcone/rls.py): RLS, policy and grants included."""
    function = f'"{names.schema}"."{CREATE_TABLE_FUNCTION}"'
    await connection.execute(f"SELECT {function}($1::text, $2::jsonb)", name, json.dumps(columns))
