from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from executor.documents.guard import MAX_STAGES

_EXTENDED_JSON = 'relaxed Extended JSON: ObjectIds as {"$oid": ...}, dates as {"$date": ...}'


class QueryIn(BaseModel):
    """A find: the filter is ANDed with the caller's workspace; at most `max_rows` documents come back."""

    model_config = ConfigDict(extra="forbid")

    filter: dict[str, Any] = Field(default_factory=dict, description=f"a MongoDB query filter ({_EXTENDED_JSON})")
    projection: dict[str, Any] | None = Field(default=None, description='fields to include or exclude: {"a": 1}')
    sort: dict[str, Any] | None = Field(default=None, description='field → 1 or -1, in order: {"n": -1}')
    limit: int = Field(default=100, ge=0, le=1000)
    skip: int = Field(default=0, ge=0, le=100_000)
    count: bool = Field(default=False, description="also count every matching document (`total`)")


class AggregateIn(BaseModel):
    """An aggregation pipeline; it runs behind a `$match` on the caller's workspace."""

    model_config = ConfigDict(extra="forbid")

    pipeline: list[dict[str, Any]] = Field(max_length=MAX_STAGES, description=f"stages ({_EXTENDED_JSON})")


class CollectionList(BaseModel):
    items: list[str]


class DocumentPage(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last page")


class QueryPage(BaseModel):
    items: list[dict[str, Any]]
    total: int | None = Field(description="every matching document, when `count` was asked")
    next_skip: int | None = Field(description="the `skip` of the next page; null on the last page")


class AggregatePage(BaseModel):
    items: list[dict[str, Any]]
    truncated: bool = Field(description="the result had more documents than one response carries")


class UpdateResult(BaseModel):
    matched: int
    modified: int


class DeleteResult(BaseModel):
    deleted: int
