"""`/v1/collections`: a workspace's tables as collections of documents (rows as JSON objects).

Listing takes the PostgREST filter grammar (`?done=eq.true&order=…&select=…`), pages with `limit` and a keyset
`cursor` (the primary key, opaque to clients). Documents are addressed by their single-column primary key.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response

from executor.identity.dependencies import CurrentIdentity
from executor.identity.schemas import Identity
from executor.tables.dependencies import Tables
from executor.tables.grammar import GrammarError, parse_query
from executor.tables.grammar import Query as TableQuery
from executor.tables.schemas import CollectionIn, CollectionList, CollectionOut, DocumentPage, QueryIn
from executor.tables.service import CountMode, TablesService, problem, single_key

router = APIRouter(prefix="/v1/collections", tags=["collections"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "bad filter, unknown column or invalid value"},
    401: {"description": "no valid credential"},
    403: {"description": "the credential's role may not do this"},
    404: {"description": "no such collection or document in the caller's workspace"},
}
Document = Annotated[dict[str, Any], Body(description="column → value", examples=[{"data": {"title": "x"}}])]
Documents = Annotated[dict[str, Any] | list[dict[str, Any]], Body(description="a document or an array of them")]
_RESERVED = frozenset({"cursor"})


@router.get("", response_model=CollectionList, responses=_ERRORS)
async def list_collections(identity: CurrentIdentity, tables: Tables) -> CollectionList:
    return CollectionList(items=await tables.table_names(identity))


@router.post("", status_code=201, response_model=CollectionOut, responses=_ERRORS)
async def create_collection(body: CollectionIn, identity: CurrentIdentity, tables: Tables) -> CollectionOut:
    columns = [column.model_dump(exclude_none=True) for column in body.columns]
    return CollectionOut.of(await tables.create_table(identity, body.name, columns))


@router.get("/{name}", response_model=CollectionOut, responses=_ERRORS)
async def describe_collection(name: str, identity: CurrentIdentity, tables: Tables) -> CollectionOut:
    return CollectionOut.of(await tables.describe(identity, name))


def _query(params: list[tuple[str, str]]) -> TableQuery:
    try:
        return parse_query(params, ignore=_RESERVED)
    except GrammarError as error:
        raise problem(400, str(error), "PGRST100") from None


def _decode_cursor(cursor: str) -> str:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        raise problem(400, "the cursor is not one this API issued", "PGRST100") from None
    if not isinstance(value, str | int):
        raise problem(400, "the cursor is not one this API issued", "PGRST100")
    return str(value)


def _encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@router.get("/{name}/documents", response_model=DocumentPage, responses=_ERRORS)
async def list_documents(
    name: str,
    request: Request,
    identity: CurrentIdentity,
    tables: Tables,
    limit: Annotated[int, Query(ge=0, le=1000, description="page size")] = 100,
    cursor: Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page")] = None,
) -> DocumentPage:
    return await _page(tables, identity, name, _query(request.query_params.multi_items()), limit, cursor)


@router.post("/{name}/query", response_model=DocumentPage, responses=_ERRORS)
async def query_documents(name: str, body: QueryIn, identity: CurrentIdentity, tables: Tables) -> DocumentPage:
    """The listing's filters, order, select and paging in a JSON body (a read: nothing changes)."""
    return await _page(tables, identity, name, _query(body.params()), body.limit, body.cursor, body.count)


async def _page(
    tables: TablesService,
    identity: Identity,
    name: str,
    query: TableQuery,
    limit: int,
    cursor: str | None,
    count: CountMode | None = None,
) -> DocumentPage:
    if cursor is not None and (query.order or query.offset):
        raise problem(400, "a cursor pages in primary-key order: drop order and offset", "PGRST100")
    query = TableQuery(query.select, query.where, query.order, limit, query.offset)
    after = _decode_cursor(cursor) if cursor is not None else None
    table, page = await tables.read(identity, name, query, count=count, after=after, key_order=not query.order)
    items: list[dict[str, Any]] = json.loads(page.body)
    key = single_key(table) if table.primary_key else None
    last = items[-1].get(key) if items and key else None
    full = limit > 0 and page.rows == limit and not query.order and last is not None
    total = page.total if count is not None else None
    return DocumentPage(items=items, next_cursor=_encode_cursor(last) if full else None, count=total)


@router.post("/{name}/documents", status_code=201, responses=_ERRORS)
async def insert_documents(name: str, body: Documents, identity: CurrentIdentity, tables: Tables) -> Response:
    rows = [body] if isinstance(body, dict) else body
    page = await tables.insert(identity, name, TableQuery(), rows, json.dumps(rows), representation=True)
    content = page.body[1:-1].strip() if isinstance(body, dict) else f'{{"items": {page.body}}}'
    return Response(content, status_code=201, media_type="application/json")


@router.get("/{name}/documents/{document_id}", responses=_ERRORS)
async def get_document(name: str, document_id: str, identity: CurrentIdentity, tables: Tables) -> Response:
    _, page = await tables.read(identity, name, TableQuery(), document_id=document_id)
    return _one(page.rows, page.body, name)


@router.patch("/{name}/documents/{document_id}", responses=_ERRORS)
async def update_document(
    name: str, document_id: str, body: Document, identity: CurrentIdentity, tables: Tables
) -> Response:
    page = await tables.update(
        identity, name, TableQuery(), body, json.dumps(body), representation=True, document_id=document_id
    )
    return _one(page.rows, page.body, name)


@router.delete("/{name}/documents/{document_id}", status_code=204, responses=_ERRORS)
async def delete_document(name: str, document_id: str, identity: CurrentIdentity, tables: Tables) -> Response:
    page = await tables.delete(identity, name, TableQuery(), representation=False, document_id=document_id)
    if page.rows == 0:
        raise problem(404, f"no such document in {name!r}", "PGRST116")
    return Response(status_code=204)


def _one(rows: int, body: str, name: str) -> Response:
    if rows == 0:
        raise problem(404, f"no such document in {name!r}", "PGRST116")
    return Response(body[1:-1].strip(), media_type="application/json")
