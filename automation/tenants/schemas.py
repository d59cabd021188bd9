from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from automation.quotas import effective
from falcone.naming import SLUG_PATTERN

Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN.pattern, min_length=3, max_length=24)]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
PlanName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
IamTopology = Literal["shared-realm", "dedicated-realm"]
TenantState = Literal["provisioning", "active", "suspended", "failed", "deleting"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TenantCreate(Strict):
    slug: Slug = Field(description="3-24 of a-z, 0-9, '-'; starts with a letter; no '--'; immutable")
    display_name: DisplayName
    plan: PlanName
    iam_topology: IamTopology | None = Field(
        default=None, description="defaults to the plan's profile; must agree with it when given"
    )


class TenantUpdate(Strict):
    display_name: DisplayName | None = None
    plan: PlanName | None = Field(default=None, description="a plan change updates the tenant and its workspaces")


class QuotaOverrides(Strict):
    max_workspaces: int | None = Field(default=None, ge=0, le=10_000)
    max_topics: int | None = Field(default=None, ge=0, le=10_000)
    max_applications: int | None = Field(default=None, ge=0, le=10_000)
    max_service_accounts: int | None = Field(default=None, ge=0, le=10_000)
    max_functions: int | None = Field(default=None, ge=0, le=100_000)
    api_calls_per_minute: int | None = Field(default=None, ge=0, le=10_000_000)


class TenantPreview(Strict):
    plan: PlanName | None = Field(default=None, description="preview a plan change; omitted: the current state")


class Condition(BaseModel):
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str
    at: datetime


class TenantOut(BaseModel):
    slug: str
    id: str
    display_name: str
    plan: str
    iam_topology: str
    state: TenantState
    quotas: dict[str, int]
    quota_overrides: dict[str, int]
    conditions: dict[str, Condition]
    generation: int
    observed_generation: int
    outputs: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: dict[str, Any]) -> TenantOut:
        fields = {name: row[name] for name in cls.model_fields if name in row}
        return cls(**fields, quotas=effective(row).model_dump())


class TenantList(BaseModel):
    items: list[TenantOut]
    next_cursor: str | None
