from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, Field

from automation.tenants.schemas import Slug, Strict

Kind = Literal["application", "service_account"]


class ApplicationCreate(Strict):
    name: Slug = Field(description="3-24 of a-z, 0-9, '-'; starts with a letter; no '--'; unique in the workspace")


class ApplicationOut(BaseModel):
    id: str
    name: str
    client_id: str = Field(description="the Keycloak client in the tenant's realm")
    provisioned: bool = Field(description="the workspace's last successful apply includes this client")
    created_at: datetime

    @classmethod
    def of(cls, row: dict[str, Any], workspace: dict[str, Any]) -> Self:
        provisioned = workspace["observed_generation"] >= row["generation"]
        return cls(**{name: row[name] for name in cls.model_fields if name != "provisioned"}, provisioned=provisioned)


class ServiceAccountOut(ApplicationOut):
    credentials_revealed_at: datetime | None = Field(description="credentials are shown once, at this time")


class ApplicationList(BaseModel):
    items: list[ApplicationOut]
    next_cursor: str | None


class ServiceAccountList(BaseModel):
    items: list[ServiceAccountOut]
    next_cursor: str | None


class Credentials(BaseModel):
    """A service account's client credentials (OAuth 2.0 client credentials grant at `token_url`): shown once."""

    client_id: str
    client_secret: str
    token_url: str
