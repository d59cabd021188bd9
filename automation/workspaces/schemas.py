from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from automation.tenants.schemas import Condition, DisplayName, Slug, Strict

Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
TopicName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,39}$")]
WorkspaceState = Literal["provisioning", "active", "failed", "deleting"]


class WorkspaceCreate(Strict):
    slug: Slug
    display_name: DisplayName
    tables: list[Identifier] = Field(default_factory=list, max_length=50, description="PostgreSQL tables with RLS")
    topics: list[TopicName] | None = Field(
        default=None, max_length=100, description="Kafka topics (plans with kafka); default: one `events` topic"
    )


class WorkspaceUpdate(Strict):
    display_name: DisplayName | None = None
    tables: list[Identifier] | None = Field(default=None, max_length=50)
    topics: list[TopicName] | None = Field(default=None, max_length=100)


class WorkspacePreview(Strict):
    tables: list[Identifier] | None = Field(default=None, max_length=50)
    topics: list[TopicName] | None = Field(default=None, max_length=100)


class WorkspaceOut(BaseModel):
    tenant: str
    slug: str
    id: str
    display_name: str
    state: WorkspaceState
    settings: dict[str, Any]
    conditions: dict[str, Condition]
    generation: int
    observed_generation: int
    outputs: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: dict[str, Any]) -> WorkspaceOut:
        return cls(**{name: row[name] for name in cls.model_fields})


class WorkspaceList(BaseModel):
    items: list[WorkspaceOut]
    next_cursor: str | None
