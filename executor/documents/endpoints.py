"""`/v1/mongo/collections`: the workspace's MongoDB collections, documents as relaxed Extended JSON.

Every read is confined to the caller's tenant and workspace, every write stamped with them (tenancy.py); filters,
updates and pipelines are checked before they reach the server (guard.py). Lists page in `_id` order with an
opaque `cursor`; `/query` takes a projection, sort and skip, `/aggregate` a pipeline.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from bson.objectid import ObjectId
from fastapi import APIRouter, Body, Path, Query, Response

from executor.documents import codec
from executor.documents.dependencies import Documents
from executor.documents.guard import COLLECTION_PATTERN, MAX_ID_LENGTH, InputError
from executor.documents.repository import Page
from executor.documents.schemas import (
    AggregateIn,
    AggregatePage,
    CollectionList,
    DeleteResult,
    DocumentPage,
    QueryIn,
    QueryPage,
    UpdateResult,
)
from executor.documents.service import Query as DocumentQuery
from executor.identity.dependencies import CurrentIdentity
from falcone.http.problems import Problem

router = APIRouter(prefix="/v1/mongo/collections", tags=["mongo"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "bad filter, update, pipeline or document, or a refused operator"},
    401: {"description": "no valid credential"},
    403: {"description": "the credential may not write (anon keys read only)"},
    404: {"description": "no such document in the caller's workspace, or the workspace has no document database"},
    503: {"description": "the workspace's document database is unavailable"},
}
Name = Annotated[
    str, Path(pattern=COLLECTION_PATTERN, description="1-64 letters, digits, '_' or '-', starting with a letter")
]
DocumentId = Annotated[
    str,
    Path(min_length=1, max_length=MAX_ID_LENGTH, description="the _id: 24 hex digits are an ObjectId, else a string"),
]
Filter = Annotated[
    str | None, Query(max_length=16_384, description='a MongoDB filter as JSON: {"done": false, "n": {"$gt": 2}}')
]
Sort = Annotated[str | None, Query(max_length=1024, description='JSON, field → 1 or -1: {"n": -1}')]
Document = Annotated[dict[str, Any], Body(description="a document", examples=[{"title": "x", "tags": ["a"]}])]
NewDocuments = Annotated[dict[str, Any] | list[dict[str, Any]], Body(description="a document or an array of them")]
Update = Annotated[
    dict[str, Any],
    Body(description='update operators, or the fields to set: {"$set": {"done": true}, "$inc": {"n": 1}}'),
]
All = Annotated[bool, Query(alias="all", description="needed to change every document (an empty filter)")]


def _decoded(value: Any) -> Any:
    try:
        return codec.from_json(value)
    except InputError as error:
        raise Problem(400, str(error)) from None


def _parsed(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return codec.parse(text, what)
    except InputError as error:
        raise Problem(400, str(error)) from None


def _json(content: str, status_code: int = 200) -> Response:
    return Response(content, status_code=status_code, media_type="application/json")


def _items(page: Page) -> str:
    return "[" + ",".join(page.items) + "]"


@router.get("", response_model=CollectionList, responses=_ERRORS)
async def list_collections(identity: CurrentIdentity, documents: Documents) -> CollectionList:
    return CollectionList(items=await documents.collection_names(identity))


@router.get("/{name}/documents", response_model=DocumentPage, responses=_ERRORS)
async def list_documents(
    name: Name,
    identity: CurrentIdentity,
    documents: Documents,
    filter: Filter = None,
    sort: Sort = None,
    limit: Annotated[int, Query(ge=0, le=1000, description="page size")] = 100,
    cursor: Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page")] = None,
) -> Response:
    """Without `sort`, pages in `_id` order with a cursor; with one, the first `limit` documents in that order."""
    query = DocumentQuery(_parsed(filter, "filter"), sort=_parsed(sort, "sort"), limit=limit)
    keyset = query.sort is None
    page = await documents.find(identity, name, query, keyset=keyset, cursor=cursor)
    pageable = keyset and page.more and isinstance(page.last_id, str | ObjectId)
    next_cursor = codec.encode_cursor(page.last_id) if pageable else None
    return _json(f'{{"items": {_items(page)}, "next_cursor": {json.dumps(next_cursor)}}}')


@router.post("/{name}/documents", status_code=201, responses=_ERRORS)
async def insert_documents(name: Name, body: NewDocuments, identity: CurrentIdentity, documents: Documents) -> Response:
    """One document (answered with it, `_id` added) or an array (answered as `{"items": [...]}`), stamped with
    the caller's tenant and workspace. Arrays are inserted in order: a failure stops there."""
    decoded = _decoded(body)
    inserted = await documents.insert(identity, name, [decoded] if isinstance(body, dict) else decoded)
    if isinstance(body, dict):
        return _json(codec.dumps(inserted[0]), 201)
    return _json(codec.dumps({"items": inserted}), 201)


@router.patch("/{name}/documents", response_model=UpdateResult, responses=_ERRORS)
async def update_documents(
    name: Name,
    body: Update,
    identity: CurrentIdentity,
    documents: Documents,
    filter: Filter = None,
    everything: All = False,
) -> UpdateResult:
    """Every document the filter matches (a non-empty filter, or `all=true`)."""
    matched, modified = await documents.update_many(
        identity, name, _parsed(filter, "filter"), _decoded(body), everything=everything
    )
    return UpdateResult(matched=matched, modified=modified)


@router.delete("/{name}/documents", response_model=DeleteResult, responses=_ERRORS)
async def delete_documents(
    name: Name,
    identity: CurrentIdentity,
    documents: Documents,
    filter: Filter = None,
    everything: All = False,
) -> DeleteResult:
    """Every document the filter matches (a non-empty filter, or `all=true`)."""
    deleted = await documents.delete_many(identity, name, _parsed(filter, "filter"), everything=everything)
    return DeleteResult(deleted=deleted)


@router.get("/{name}/documents/{document_id}", responses=_ERRORS)
async def get_document(
    name: Name, document_id: DocumentId, identity: CurrentIdentity, documents: Documents
) -> Response:
    return _json(codec.dumps(await documents.get(identity, name, document_id)))


@router.patch("/{name}/documents/{document_id}", responses=_ERRORS)
async def update_document(
    name: Name, document_id: DocumentId, body: Update, identity: CurrentIdentity, documents: Documents
) -> Response:
    """Answered with the document as updated."""
    return _json(codec.dumps(await documents.update(identity, name, document_id, _decoded(body))))


@router.put("/{name}/documents/{document_id}", responses=_ERRORS)
async def replace_document(
    name: Name, document_id: DocumentId, body: Document, identity: CurrentIdentity, documents: Documents
) -> Response:
    """Replaces an existing document whole (its `_id` stays); answered with the new one."""
    return _json(codec.dumps(await documents.replace(identity, name, document_id, _decoded(body))))


@router.delete("/{name}/documents/{document_id}", status_code=204, responses=_ERRORS)
async def delete_document(
    name: Name, document_id: DocumentId, identity: CurrentIdentity, documents: Documents
) -> Response:
    await documents.delete(identity, name, document_id)
    return Response(status_code=204)


@router.post("/{name}/query", response_model=QueryPage, responses=_ERRORS)
async def query_documents(name: Name, body: QueryIn, identity: CurrentIdentity, documents: Documents) -> Response:
    query = DocumentQuery(_decoded(body.filter), _decoded(body.projection), body.sort, skip=body.skip, limit=body.limit)
    page = await documents.find(identity, name, query)
    total = await documents.count(identity, name, query.filter) if body.count else None
    next_skip = body.skip + len(page.items) if page.more else None
    return _json(f'{{"items": {_items(page)}, "total": {json.dumps(total)}, "next_skip": {json.dumps(next_skip)}}}')


@router.post("/{name}/aggregate", response_model=AggregatePage, responses=_ERRORS)
async def aggregate_documents(
    name: Name, body: AggregateIn, identity: CurrentIdentity, documents: Documents
) -> Response:
    page = await documents.aggregate(identity, name, _decoded(body.pipeline))
    return _json(f'{{"items": {_items(page)}, "truncated": {json.dumps(page.more)}}}')
