"""The Mongo calls of the document surface. Filters and pipelines arrive here already checked (guard.py) and
confined (tenancy.py): this module only talks to the server and shapes what it answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.command_cursor import AsyncCommandCursor
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.asynchronous.database import AsyncDatabase

from executor.documents import codec
from executor.documents.clients import Document
from executor.documents.guard import check_collection
from executor.documents.tenancy import unstamped

Collection = AsyncCollection[Document]


@dataclass(frozen=True)
class Page:
    items: list[str]  # each document as relaxed Extended JSON text, stamp removed
    more: bool  # the server had more than these (the limit or the byte budget cut the page)
    last_id: Any = None  # `_id` of the last document in the page


async def collection_names(database: AsyncDatabase[Document]) -> list[str]:
    """The workspace's collections as clients may name them (the provisioner's `_falcone` marker and `system.*`
    do not match the name pattern)."""
    names = await database.list_collection_names()
    valid = []
    for name in names:
        try:
            valid.append(check_collection(name))
        except ValueError:
            continue
    return sorted(valid)


async def _read(cursor: AsyncCursor[Document] | AsyncCommandCursor[Document], limit: int, budget: int) -> Page:
    """Up to `limit` documents (the cursor is asked for one more, to know whether there are more), stopping early
    once `budget` bytes of JSON are collected."""
    items: list[str] = []
    size, more, last_id = 0, False, None
    try:
        async for document in cursor:
            if len(items) >= limit or (items and size >= budget):
                more = True
                break
            text = codec.dumps(unstamped(document))
            items.append(text)
            size += len(text)
            last_id = document.get("_id")
    finally:
        await cursor.close()
    return Page(items, more, last_id)


async def find(
    collection: Collection,
    scoped_filter: dict[str, Any],
    *,
    projection: dict[str, Any] | None,
    sort: Sequence[tuple[str, int]] | None,
    skip: int,
    limit: int,
    budget: int,
) -> Page:
    if limit <= 0:  # a Mongo limit of 0 means none at all
        return Page([], more=False)
    cursor = collection.find(scoped_filter, projection, sort=list(sort) if sort else None, skip=skip, limit=limit + 1)
    return await _read(cursor, limit, budget)


async def count(collection: Collection, scoped_filter: dict[str, Any]) -> int:
    return await collection.count_documents(scoped_filter)


async def aggregate(collection: Collection, scoped_pipeline: list[dict[str, Any]], *, limit: int, budget: int) -> Page:
    cursor = await collection.aggregate([*scoped_pipeline, {"$limit": limit + 1}])
    return await _read(cursor, limit, budget)


async def insert(collection: Collection, documents: list[Document]) -> list[Document]:
    """`documents` get their `_id` (pymongo adds one where missing) and are returned as inserted."""
    await collection.insert_many(documents, ordered=True)
    return documents


async def find_one(collection: Collection, scoped_filter: dict[str, Any]) -> Document | None:
    return await collection.find_one(scoped_filter)


async def update_one(collection: Collection, scoped_filter: dict[str, Any], update: dict[str, Any]) -> Document | None:
    return await collection.find_one_and_update(scoped_filter, update, return_document=ReturnDocument.AFTER)


async def replace_one(collection: Collection, scoped_filter: dict[str, Any], replacement: Document) -> Document | None:
    return await collection.find_one_and_replace(scoped_filter, replacement, return_document=ReturnDocument.AFTER)


async def delete_one(collection: Collection, scoped_filter: dict[str, Any]) -> int:
    return (await collection.delete_one(scoped_filter)).deleted_count


async def update_many(collection: Collection, scoped_filter: dict[str, Any], update: dict[str, Any]) -> tuple[int, int]:
    result = await collection.update_many(scoped_filter, update)
    return result.matched_count, result.modified_count


async def delete_many(collection: Collection, scoped_filter: dict[str, Any]) -> int:
    return (await collection.delete_many(scoped_filter)).deleted_count
