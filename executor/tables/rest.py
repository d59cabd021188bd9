"""`/rest/v1/{table}`: the PostgREST-compatible mount (so postgrest-py and supabase-js style clients work).

HTTP in, PostgREST semantics out: `Prefer` (return, count, resolution, max-affected + handling=strict, and our
`unfiltered=allow`), `Range`/`Content-Range` (206 when the count says the page is partial), the singular object
media type, 201/204 for writes. The schema is always the credential's workspace schema: `Accept-Profile` and
`Content-Profile` (which postgrest-py sends) cannot select another one and are ignored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, cast

from fastapi import APIRouter, Request, Response

from executor.identity.dependencies import CurrentIdentity
from executor.tables.dependencies import Tables
from executor.tables.grammar import GrammarError, Query, parse_query
from executor.tables.service import CountMode, Page, Resolution, problem

router = APIRouter(prefix="/rest/v1", tags=["postgrest"])

SINGULAR = "application/vnd.pgrst.object+json"
_ACCEPTABLE = {"", "*/*", "application/json", "application/*", "application/vnd.pgrst.array+json", SINGULAR}
_RANGE = re.compile(r"^(?:items=)?(\d{1,12})-(\d{0,12})$")
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "the query does not follow the grammar, or names an unknown column"},
    401: {"description": "no valid credential"},
    403: {"description": "the credential's role may not do this"},
    404: {"description": "no such table in the caller's workspace"},
    406: {"description": "a single object was asked for and the result is not one row"},
}


@dataclass(frozen=True)
class Preferences:
    representation: bool = False
    count: CountMode | None = None
    resolution: Resolution | None = None
    unfiltered: bool = False
    max_affected: int | None = None
    missing_default: bool = False
    applied: tuple[str, ...] = ()

    @classmethod
    def parse(cls, request: Request) -> Preferences:
        values: dict[str, str] = {}
        for header in request.headers.getlist("prefer"):
            for token in header.split(","):
                key, _, value = token.strip().partition("=")
                values[key.strip().lower()] = value.strip().lower()
        count = values.get("count")
        resolution = values.get("resolution")
        max_affected = values.get("max-affected", "")
        strict = values.get("handling") == "strict"
        applied = [f"{key}={values[key]}" for key in ("return", "count", "resolution") if key in values]
        return cls(
            representation=values.get("return") == "representation",
            count=cast(CountMode, count) if count in {"exact", "planned", "estimated"} else None,
            resolution=(
                cast(Resolution, resolution) if resolution in {"merge-duplicates", "ignore-duplicates"} else None
            ),
            unfiltered=values.get("unfiltered") == "allow",
            max_affected=int(max_affected) if strict and max_affected.isdigit() and len(max_affected) < 10 else None,
            missing_default=values.get("missing") == "default",
            applied=tuple(applied),
        )


def _query(request: Request) -> Query:
    try:
        query = parse_query(request.query_params.multi_items())
    except GrammarError as error:
        raise problem(400, str(error), "PGRST100") from None
    limit, offset = query.limit, query.offset
    header = request.headers.get("range")
    if header is not None and limit is None and offset == 0:
        match = _RANGE.fullmatch(header.strip())
        if match is None:
            raise problem(416, "the Range header must be 'first-last' (items)", "PGRST103")
        first, last = int(match[1]), match[2]
        if last and int(last) < first:
            raise problem(416, "the Range header's last item comes before its first", "PGRST103")
        offset, limit = first, (int(last) - first + 1) if last else None
    return Query(query.select, query.where, query.order, limit, offset, query.columns, query.on_conflict, query.extra)


def _singular(request: Request) -> bool:
    offered = [part.split(";")[0].strip().lower() for part in request.headers.get("accept", "").split(",")]
    if SINGULAR in offered:
        return True
    if any(media in _ACCEPTABLE for media in offered):
        return False
    raise problem(406, "cannot answer in the media type asked for: accept application/json", "PGRST107")


def _body(page: Page, singular: bool) -> str:
    # json_agg renders a one-element array as "[<object>]": the object is that text without its brackets.
    return page.body[1:-1].strip() if singular else page.body


def _content_range(offset: int, rows: int, total: int | None) -> str:
    known = "*" if total is None else str(total)
    return f"{offset}-{offset + rows - 1}/{known}" if rows else f"*/{known}"


def _headers(preferences: Preferences, **extra: str) -> dict[str, str]:
    headers = dict(extra)
    if preferences.applied:
        headers["Preference-Applied"] = ", ".join(preferences.applied)
    return headers


async def _json_body(request: Request) -> tuple[Any, str]:
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type not in {"application/json", "application/vnd.pgrst.object+json", ""}:
        raise problem(415, f"cannot read {content_type!r}: send application/json", "PGRST102")
    raw = await request.body()
    try:
        payload = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise problem(400, "the body is not valid JSON", "PGRST102") from None
    return payload, raw.decode()


@router.get("/{table}", responses=_ERRORS)
async def read_rows(table: str, request: Request, identity: CurrentIdentity, tables: Tables) -> Response:
    return await _read(table, request, identity, tables, head=False)


@router.head("/{table}", responses=_ERRORS)
async def head_rows(table: str, request: Request, identity: CurrentIdentity, tables: Tables) -> Response:
    return await _read(table, request, identity, tables, head=True)


async def _read(table: str, request: Request, identity: CurrentIdentity, tables: Tables, *, head: bool) -> Response:
    preferences, singular, query = Preferences.parse(request), _singular(request), _query(request)
    _, page = await tables.read(identity, table, query, count=preferences.count)
    if singular and page.rows != 1:
        raise problem(
            406,
            "JSON object requested, multiple (or no) rows returned",
            "PGRST116",
            details=f"The result contains {page.rows} rows",
        )
    total = page.total
    if total is not None and query.offset > total:
        raise problem(416, f"offset {query.offset} is beyond the {total} rows", "PGRST103")
    partial = total is not None and page.rows < total
    headers = _headers(preferences, **{"Content-Range": _content_range(query.offset, page.rows, total)})
    media = SINGULAR if singular else "application/json"
    content = "" if head else _body(page, singular)
    return Response(content, status_code=206 if partial else 200, headers=headers, media_type=media)


@router.post("/{table}", status_code=201, responses=_ERRORS)
async def insert_rows(table: str, request: Request, identity: CurrentIdentity, tables: Tables) -> Response:
    preferences, singular, query = Preferences.parse(request), _singular(request), _query(request)
    payload, raw = await _json_body(request)
    if isinstance(payload, dict):
        rows, raw = [payload], f"[{raw}]"
    elif isinstance(payload, list) and all(isinstance(row, dict) for row in payload):
        rows = payload
    else:
        raise problem(400, "the body must be a JSON object or an array of objects", "PGRST102")
    # Columns the insert does not name keep their defaults; a named column a row lacks would be NULL in that row,
    # which is not what missing=default asks for.
    named = set(query.columns) if query.columns else {key for row in rows for key in row}
    if preferences.missing_default and any(named - row.keys() for row in rows):
        raise problem(400, "missing=default: give every row the same keys, or split the insert", "PGRST102")
    page = await tables.insert(
        identity,
        table,
        query,
        rows,
        raw,
        representation=preferences.representation,
        resolution=preferences.resolution,
        singular=singular and preferences.representation,
    )
    return _written(page, preferences, singular, 201)


@router.patch("/{table}", responses=_ERRORS)
async def update_rows(table: str, request: Request, identity: CurrentIdentity, tables: Tables) -> Response:
    preferences, singular, query = Preferences.parse(request), _singular(request), _query(request)
    payload, raw = await _json_body(request)
    if not isinstance(payload, dict):
        raise problem(400, "the body must be a JSON object of the columns to change", "PGRST102")
    page = await tables.update(
        identity,
        table,
        query,
        payload,
        raw,
        representation=preferences.representation,
        allow_unfiltered=preferences.unfiltered,
        max_affected=preferences.max_affected,
        singular=singular and preferences.representation,
    )
    return _written(page, preferences, singular, 200)


@router.delete("/{table}", responses=_ERRORS)
async def delete_rows(table: str, request: Request, identity: CurrentIdentity, tables: Tables) -> Response:
    preferences, singular, query = Preferences.parse(request), _singular(request), _query(request)
    page = await tables.delete(
        identity,
        table,
        query,
        representation=preferences.representation,
        allow_unfiltered=preferences.unfiltered,
        max_affected=preferences.max_affected,
        singular=singular and preferences.representation,
    )
    return _written(page, preferences, singular, 200)


def _written(page: Page, preferences: Preferences, singular: bool, status: int) -> Response:
    total = page.rows if preferences.count else None
    headers = _headers(preferences, **{"Content-Range": _content_range(0, page.rows, total)})
    if not preferences.representation:
        return Response(status_code=201 if status == 201 else 204, headers=headers)
    media = SINGULAR if singular else "application/json"
    return Response(_body(page, singular), status_code=status, headers=headers, media_type=media)
