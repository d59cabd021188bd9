"""Table operations for a verified identity: the workspace's pool, one transaction under the identity's role, the
table's catalogue (cached), a compiled statement, and database errors turned into problems."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any, Literal, NoReturn

import asyncpg
import structlog

from executor.data import session
from executor.data.credentials import NoDatabaseError, SecretsUnavailableError
from executor.data.pools import WorkspacePools
from executor.identity.schemas import Identity
from executor.settings import ExecutorSettings
from executor.tables import repository, statements
from executor.tables.grammar import Condition, Field, GrammarError, OrderItem, Query
from executor.tables.statements import Table, UnknownColumnError
from falcone.http.problems import Problem
from falcone.naming import WorkspaceNames

log = structlog.get_logger("executor.tables")
CountMode = Literal["exact", "planned", "estimated"]
Resolution = Literal["merge-duplicates", "ignore-duplicates"]


def problem(status: int, detail: str, code: str, hint: str | None = None, details: str | None = None) -> Problem:
    """A problem that is also a PostgREST error (`message`, `code`, `hint`, `details`) for PostgREST clients."""
    return Problem(status, detail, code=code, message=detail, hint=hint, details=details)


# SQLSTATE → HTTP status for errors a request can cause; anything else is ours (500, logged).
_STATUS_BY_STATE = {
    "42501": 403,  # insufficient privilege, including a row that fails the policy's WITH CHECK
    "42P01": 404,
    "23505": 409,
    "23503": 409,
    "23P01": 409,
    "42P07": 409,  # the table exists
    "25006": 403,  # a write in a read-only transaction
    "57014": 503,  # statement timeout
    "40001": 503,
    "40P01": 503,
}
_STATUS_BY_CLASS = {"22": 400, "23": 400, "42": 400, "54": 400, "21": 400, "0A": 400, "P0": 400, "53": 503}


def database_problem(error: asyncpg.PostgresError) -> Problem:
    state = error.sqlstate or ""
    status = _STATUS_BY_STATE.get(state) or _STATUS_BY_CLASS.get(state[:2])
    if status is None:
        log.error("unexpected database error", sqlstate=state, error=str(error))
        return problem(500, "the database refused the request unexpectedly", state)
    detail = getattr(error, "message", None) or str(error)
    if state == "42501":
        detail = f"the credential's role may not do this: {detail}"
    return problem(status, str(detail), state, getattr(error, "hint", None), getattr(error, "detail", None))


@dataclass(frozen=True)
class Page:
    body: str  # JSON array text
    rows: int
    total: int | None


class TablesService:
    def __init__(self, settings: ExecutorSettings, pools: WorkspacePools) -> None:
        self.settings, self.pools = settings, pools
        self._tables: dict[tuple[str, str], tuple[float, Table]] = {}

    # --- sessions and catalogue ------------------------------------------------------------------------------

    @asynccontextmanager
    async def _transaction(self, identity: Identity, *, readonly: bool) -> AsyncIterator[session.Connection]:
        names = identity.names
        try:
            pool = await self.pools.get(names)
        except NoDatabaseError:
            raise problem(404, "this workspace has no PostgreSQL database", "PGRST205") from None
        except (SecretsUnavailableError, OSError, asyncpg.PostgresError) as error:
            log.error("workspace database unavailable", schema=names.schema, error=str(error))
            raise problem(503, "the workspace's database is unavailable; retry later", "PGRST000") from None
        try:
            async with session.transaction(
                pool, identity, readonly=readonly, statement_timeout_ms=self.settings.statement_timeout_ms
            ) as connection:
                yield connection
        except asyncpg.PostgresError as error:
            if error.sqlstate in {"42P01", "42703"}:
                self._forget(names)
            raise database_problem(error) from None
        except (asyncpg.InterfaceError, OSError) as error:
            if isinstance(error, ValueError):  # a value asyncpg could not encode for its parameter
                raise problem(400, f"a value does not fit its column: {error}", "22000") from None
            log.error("workspace database connection failed", schema=names.schema, error=str(error))
            raise problem(503, "the workspace's database is unavailable; retry later", "PGRST000") from None
        except UnicodeEncodeError:
            raise problem(400, "the request holds text that is not valid Unicode", "22021") from None

    async def _table(self, connection: session.Connection, names: WorkspaceNames, name: str) -> Table:
        key = (names.schema, name)
        cached = self._tables.get(key)
        if cached is not None and time.monotonic() - cached[0] < self.settings.catalog_ttl_s:
            return cached[1]
        found = await repository.table(connection, names.schema, name) if len(name) <= 63 else None
        if found is None:
            raise problem(404, f"no table {name!r} in this workspace", "PGRST205")
        self._tables[key] = (time.monotonic(), found)
        return found

    def _forget(self, names: WorkspaceNames) -> None:
        for key in [key for key in self._tables if key[0] == names.schema]:
            del self._tables[key]

    # --- reads ----------------------------------------------------------------------------------------------

    async def read(
        self,
        identity: Identity,
        name: str,
        query: Query,
        *,
        count: CountMode | None = None,
        after: str | None = None,
        key_order: bool = False,
        document_id: str | None = None,
    ) -> tuple[Table, Page]:
        """`key_order`: order by the primary key (stable pages for the documents API's cursor); `document_id`:
        only the row with that primary key."""
        limit = min(query.limit if query.limit is not None else self.settings.max_rows, self.settings.max_rows)
        async with self._transaction(identity, readonly=True) as connection:
            table = await self._table(connection, identity.names, name)
            if document_id is not None:
                query = key_query(table, document_id, query)
            if key_order or after is not None:
                query = replace(query, order=(OrderItem(Field(single_key(table))),))
            try:
                statement = statements.read(table, query, limit=limit, count=count == "exact", after=after)
                planned = statements.plan_count(table, query) if count in {"planned", "estimated"} else None
            except GrammarError as error:
                _grammar_problem(error)
            result = await repository.run(connection, statement)
            total = result.total
            if planned is not None:
                total = await repository.planned_rows(connection, planned)
                if count == "estimated" and total < self.settings.max_rows:
                    exact = statements.read(table, query, limit=0, count=True)
                    total = (await repository.run(connection, exact)).total
        return table, Page(result.body, result.rows, total)

    # --- writes ---------------------------------------------------------------------------------------------

    def _writable(self, identity: Identity) -> None:
        if identity.read_only:
            raise problem(403, "this credential is read-only (anon keys read, service keys write)", "42501")

    async def insert(
        self,
        identity: Identity,
        name: str,
        query: Query,
        rows: list[dict[str, Any]],
        rows_json: str,
        *,
        representation: bool,
        resolution: Resolution | None = None,
        singular: bool = False,
    ) -> Page:
        self._writable(identity)
        columns = list(query.columns) if query.columns else sorted({key for row in rows for key in row})
        async with self._transaction(identity, readonly=False) as connection:
            table = await self._table(connection, identity.names, name)
            try:
                statement = statements.insert(
                    table, query, rows_json, columns, representation=representation, resolution=resolution
                )
            except GrammarError as error:
                _grammar_problem(error)
            result = await repository.run(connection, statement)
            _check_singular(singular, result.rows)
        return Page(result.body, result.rows, None)

    async def update(
        self,
        identity: Identity,
        name: str,
        query: Query,
        patch: dict[str, Any],
        patch_json: str,
        *,
        representation: bool,
        allow_unfiltered: bool = False,
        max_affected: int | None = None,
        singular: bool = False,
        document_id: str | None = None,
    ) -> Page:
        self._writable(identity)
        _check_filtered(query, allow_unfiltered or document_id is not None, "update")
        async with self._transaction(identity, readonly=False) as connection:
            table = await self._table(connection, identity.names, name)
            if document_id is not None:
                query = key_query(table, document_id, query)
            try:
                statement = statements.update(table, query, patch_json, list(patch), representation=representation)
            except GrammarError as error:
                _grammar_problem(error)
            result = await repository.run(connection, statement)
            _check_affected(result.rows, max_affected)
            _check_singular(singular, result.rows)
        return Page(result.body, result.rows, None)

    async def delete(
        self,
        identity: Identity,
        name: str,
        query: Query,
        *,
        representation: bool,
        allow_unfiltered: bool = False,
        max_affected: int | None = None,
        singular: bool = False,
        document_id: str | None = None,
    ) -> Page:
        self._writable(identity)
        _check_filtered(query, allow_unfiltered or document_id is not None, "delete")
        async with self._transaction(identity, readonly=False) as connection:
            table = await self._table(connection, identity.names, name)
            if document_id is not None:
                query = key_query(table, document_id, query)
            try:
                statement = statements.delete(table, query, representation=representation)
            except GrammarError as error:
                _grammar_problem(error)
            result = await repository.run(connection, statement)
            _check_affected(result.rows, max_affected)
            _check_singular(singular, result.rows)
        return Page(result.body, result.rows, None)

    # --- tables ---------------------------------------------------------------------------------------------

    async def describe(self, identity: Identity, name: str) -> Table:
        async with self._transaction(identity, readonly=True) as connection:
            return await self._table(connection, identity.names, name)

    async def table_names(self, identity: Identity) -> list[str]:
        async with self._transaction(identity, readonly=True) as connection:
            return await repository.table_names(connection, identity.names.schema)

    async def create_table(self, identity: Identity, name: str, columns: list[dict[str, Any]]) -> Table:
        if not identity.may_define_tables:
            raise problem(403, "only service keys create tables", "42501")
        async with self._transaction(identity, readonly=False) as connection:
            try:
                await repository.create_table(connection, identity.names, name, columns)
            except asyncpg.UndefinedFunctionError:
                raise problem(
                    501,
                    "this workspace cannot create tables through the API yet (its schema has no create_table)",
                    "PGRST000",
                ) from None
            self._tables.pop((identity.names.schema, name), None)
            return await self._table(connection, identity.names, name)


def _grammar_problem(error: GrammarError) -> NoReturn:
    code = "42703" if isinstance(error, UnknownColumnError) else "PGRST100"
    raise problem(400, str(error), code) from None


def _check_filtered(query: Query, allow_unfiltered: bool, action: str) -> None:
    if not query.where and not allow_unfiltered:
        raise problem(
            400,
            f"refusing to {action} every row: add a filter, or send 'Prefer: unfiltered=allow'",
            "21000",
        )


def _check_affected(rows: int, max_affected: int | None) -> None:
    if max_affected is not None and rows > max_affected:
        raise problem(400, f"the request would change {rows} rows, more than max-affected={max_affected}", "PGRST124")


def _check_singular(singular: bool, rows: int) -> None:
    if singular and rows != 1:
        raise problem(
            406,
            "JSON object requested, multiple (or no) rows returned",
            "PGRST116",
            details=f"The result contains {rows} rows",
        )


def single_key(table: Table) -> str:
    if len(table.primary_key) != 1:
        raise problem(400, f"{table.name!r} has no single-column primary key: documents need one", "PGRST100")
    return table.primary_key[0]


def key_query(table: Table, document_id: str, query: Query | None = None) -> Query:
    """`query` narrowed to the document whose single-column primary key is `document_id`."""
    condition = Condition(Field(single_key(table)), "eq", document_id)
    base = query or Query()
    return replace(base, where=(*base.where, condition))
