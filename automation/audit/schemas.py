"""The audit event as seed 003 shows it (camelCase on the wire), and the query's page."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel


class Outcome(StrEnum):
    ACCEPTED = "accepted"  # a long-running operation was queued; its end is another event
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


TENANT_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
ACTION = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"  # resource.verb, as "workspace.create"
RESOURCE_TYPE = r"^[a-z][a-z0-9_]*$"


class _Camel(BaseModel):
    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)


class AuditActor(_Camel):
    type: str = Field(min_length=1, max_length=32)  # user, service_account, system
    id: str = Field(min_length=1, max_length=255)
    roles: list[str] = Field(default_factory=list)


class AuditResource(_Camel):
    type: str
    id: str
    tenant_id: str | None


class AuditEvent(_Camel):
    event_id: str
    correlation_id: str
    timestamp: datetime
    actor: AuditActor
    resource: AuditResource
    action: str
    outcome: Outcome
    metadata: dict[str, Any]

    @classmethod
    def of(cls, row: dict[str, Any]) -> AuditEvent:
        return cls(
            event_id=row["event_id"],
            correlation_id=row["correlation_id"],
            timestamp=row["at"],
            actor=AuditActor.model_validate(row["actor"]),
            resource=AuditResource(type=row["resource_type"], id=row["resource_id"], tenant_id=row["tenant_id"]),
            action=row["action"],
            outcome=Outcome(row["outcome"]),
            metadata=row["metadata"],
        )

    def wire(self) -> dict[str, Any]:
        """The JSON the API answers and the Kafka topic carries."""
        return self.model_dump(mode="json", by_alias=True)


class AuditPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[AuditEvent]
    next_cursor: str | None


class AuditQuery(BaseModel):
    """`GET /v1/audit`'s query string; an unknown parameter is refused (a misspelt filter must not widen the
    answer to everything)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant: str | None = Field(default=None, pattern=TENANT_ID)
    action: str | None = Field(default=None, pattern=ACTION, max_length=64)
    outcome: Outcome | None = None
    resource_type: str | None = Field(default=None, pattern=RESOURCE_TYPE, max_length=64)
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=512)

    @model_validator(mode="after")
    def _window(self) -> AuditQuery:
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise ValueError("until must be later than since")
        return self
