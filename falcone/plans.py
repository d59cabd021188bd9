"""The plan catalogue (catalog/plans.toml) as typed, validated data.

A plan has quota dimensions, capability flags (which components a tenant's stacks create) and a deployment
profile (shared vs dedicated resources). Changing a tenant's plan is an update of its stacks.
"""

from __future__ import annotations

import tomllib
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

CATALOG = Path(__file__).with_name("catalog") / "plans.toml"


class Capability(StrEnum):
    IDENTITY = "identity"
    POSTGRES = "postgres"
    MONGO = "mongo"
    KAFKA = "kafka"
    STORAGE = "storage"
    OBSERVABILITY = "observability"
    AUDIT = "audit"


Placement = Literal["shared", "dedicated"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Profile(_Frozen):
    name: str
    description: str
    database: Placement
    storage: Placement
    identity: Placement


class Quotas(_Frozen):
    max_workspaces: int = Field(ge=0)
    max_databases: int = Field(ge=0)
    max_functions: int = Field(ge=0)
    max_topics: int = Field(ge=0)
    max_applications: int = Field(ge=0)
    max_service_accounts: int = Field(ge=0)
    storage_bytes: int = Field(ge=0)
    api_calls_per_minute: int = Field(ge=0)
    topic_partitions: int = Field(ge=1)
    topic_retention_ms: int = Field(ge=60_000)


class TokenPolicy(_Frozen):
    access_token_lifespan_s: int = Field(ge=60)
    sso_session_idle_s: int = Field(ge=60)
    sso_session_max_s: int = Field(ge=60)


class Plan(_Frozen):
    name: str
    display_name: str
    profile: Profile
    capabilities: frozenset[Capability]
    quotas: Quotas
    tokens: TokenPolicy

    def allows(self, capability: Capability) -> bool:
        return capability in self.capabilities


class Catalog(_Frozen):
    profiles: dict[str, Profile]
    plans: dict[str, Plan]

    @model_validator(mode="after")
    def _topics_need_kafka(self) -> Catalog:
        for plan in self.plans.values():
            if plan.quotas.max_topics and not plan.allows(Capability.KAFKA):
                raise ValueError(f"plan {plan.name!r} allows topics but not the kafka capability")
        return self

    def plan(self, name: str) -> Plan:
        try:
            return self.plans[name]
        except KeyError:
            raise UnknownPlanError(name, sorted(self.plans)) from None


class UnknownPlanError(ValueError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown plan {name!r}; known plans: {', '.join(known)}")
        self.name = name


def parse(text: str) -> Catalog:
    data = tomllib.loads(text)
    profiles = {name: Profile(name=name, **fields) for name, fields in data["profiles"].items()}
    plans = {}
    for name, fields in data["plans"].items():
        profile_name = fields.pop("profile")
        if profile_name not in profiles:
            raise ValueError(f"plan {name!r} names unknown profile {profile_name!r}")
        plans[name] = Plan(name=name, profile=profiles[profile_name], **fields)
    return Catalog(profiles=profiles, plans=plans)


@cache
def catalog() -> Catalog:
    return parse(CATALOG.read_text())
