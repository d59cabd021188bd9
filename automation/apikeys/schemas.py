from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from automation.tenants.schemas import Strict
from falcone.apikeys import KeyKind

# Free text without control characters (PostgreSQL text cannot hold NUL; the others only garble listings).
KeyName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$")
]
KeyStatus = Literal["active", "expired", "revoked"]
ExpiresInDays = Annotated[int, Field(ge=1, le=3650, description="the key stops working after this many days")]


class ApiKeyCreate(Strict):
    kind: KeyKind = Field(description="anon: low-privilege, may ship to browsers; service: server-side only")
    name: KeyName = Field(description="what the key is for (free text)")
    expires_in_days: ExpiresInDays | None = None


class ApiKeyRotate(Strict):
    grace_period_seconds: int = Field(
        default=0, ge=0, le=30 * 86400, description="how long the old key keeps working; 0: it stops now"
    )
    expires_in_days: ExpiresInDays | None = Field(default=None, description="the new key's lifetime; none by default")


def status(row: dict[str, Any], now: datetime | None = None) -> KeyStatus:
    """The executor's rule (executor.identity.service): a key works until it is revoked or expires."""
    now = now or datetime.now(UTC)
    if row["revoked_at"] is not None and row["revoked_at"] <= now:
        return "revoked"
    if row["expires_at"] is not None and row["expires_at"] <= now:
        return "expired"
    return "active"


class ApiKeyOut(BaseModel):
    """A key as listed: its prefix tells it apart; the secret is never shown again and its hash never leaves."""

    id: str
    kind: KeyKind
    name: str
    prefix: str
    db_role: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    replaced_by: str | None
    status: KeyStatus

    @classmethod
    def of(cls, row: dict[str, Any]) -> ApiKeyOut:
        return cls(**{name: row[name] for name in cls.model_fields if name != "status"}, status=status(row))


class ApiKeyCreated(ApiKeyOut):
    secret: str = Field(description="the key itself: shown in this response only, store it now")

    @classmethod
    def created(cls, row: dict[str, Any], secret: str) -> ApiKeyCreated:
        return cls(**ApiKeyOut.of(row).model_dump(), secret=secret)


class ApiKeyList(BaseModel):
    items: list[ApiKeyOut]
    next_cursor: str | None
