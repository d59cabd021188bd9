from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

OperationStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class OperationOut(BaseModel):
    id: str
    kind: str
    stack: str
    tenant: str | None
    workspace: str | None
    status: OperationStatus
    requested_by: dict[str, Any]
    correlation_id: str
    params: dict[str, Any]
    outputs: dict[str, Any] | None
    error: str | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    links: dict[str, str]

    @classmethod
    def of(cls, row: dict[str, Any]) -> OperationOut:
        fields = {name: row[name] for name in cls.model_fields if name != "links"}
        return cls(
            **fields,
            links={"self": f"/v1/operations/{row['id']}", "events": f"/v1/operations/{row['id']}/events"},
        )


class OperationList(BaseModel):
    items: list[OperationOut]
    next_cursor: str | None


class Accepted(BaseModel):
    """The answer to every mutation: what was queued, to follow at `links.self` / `links.events`."""

    operations: list[OperationOut]
