"""The tenant/workspace predicate of the document surface: the one place that says which fields stamp a document
and how a filter or a pipeline is confined to them.

Every workspace has a Mongo database and user of its own, so the server already keeps workspaces apart; the
stamp is the second wall (and what change streams and shared databases filter on). It is added on every insert,
ANDed into every filter and put first in every pipeline; a client can narrow it, never widen or set it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

TENANT_FIELD = "tenant_id"
WORKSPACE_FIELD = "workspace_id"
STAMP_FIELDS = frozenset({TENANT_FIELD, WORKSPACE_FIELD})


def predicate(tenant: str, workspace: str, prefix: str = "") -> dict[str, str]:
    """The equality on both stamp fields; `prefix` for documents nested in an event (`"fullDocument."`)."""
    return {f"{prefix}{TENANT_FIELD}": tenant, f"{prefix}{WORKSPACE_FIELD}": workspace}


def scope_filter(client_filter: Mapping[str, Any] | None, tenant: str, workspace: str) -> dict[str, Any]:
    """`client_filter` AND the predicate: whatever the filter says (`$or`, its own `tenant_id`), the result is
    a subset of the workspace's documents."""
    if not client_filter:
        return predicate(tenant, workspace)
    return {"$and": [dict(client_filter), predicate(tenant, workspace)]}


def scope_pipeline(pipeline: Sequence[Mapping[str, Any]], tenant: str, workspace: str) -> list[dict[str, Any]]:
    """The pipeline behind a `$match` on the predicate (stages that read other collections must be refused by
    the caller: this only confines the collection the pipeline starts from)."""
    return [{"$match": predicate(tenant, workspace)}, *(dict(stage) for stage in pipeline)]


def stamp(document: Mapping[str, Any], tenant: str, workspace: str) -> dict[str, Any]:
    """A copy of `document` carrying the stamp (callers refuse documents that name a stamp field themselves)."""
    return {**document, **predicate(tenant, workspace)}


def unstamped(document: Mapping[str, Any]) -> dict[str, Any]:
    """A stored document as clients see it: the stamp comes from their credential, so it is not echoed."""
    return {key: value for key, value in document.items() if key not in STAMP_FIELDS}
