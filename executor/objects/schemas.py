from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from executor.objects.repository import ObjectMeta

# SigV4 presigned URLs are valid for at most 7 days.
MAX_PRESIGN_S = 7 * 24 * 3600
# A media type as stored with the object and sent back: printable ASCII, single spaces inside.
CONTENT_TYPE = re.compile(r"^[!-~]+(?: [!-~]+)*$")
MAX_CONTENT_TYPE = 255


class ObjectOut(BaseModel):
    key: str = Field(description="relative to the workspace's storage location")
    size: int
    etag: str
    content_type: str | None = None
    last_modified: datetime | None = None

    @classmethod
    def of(cls, meta: ObjectMeta, key: str) -> ObjectOut:
        return cls(
            key=key,
            size=meta.size,
            etag=meta.etag,
            content_type=meta.content_type or None,
            last_modified=meta.last_modified,
        )


class ObjectPage(BaseModel):
    items: list[ObjectOut]
    prefixes: list[str] = Field(description="common prefixes ('folders') when a delimiter is given")
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last page")


class PresignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["GET", "PUT"]
    expires_in: int = Field(default=900, ge=1, le=MAX_PRESIGN_S, description="seconds the URL stays valid")
    content_type: str | None = Field(
        default=None, max_length=MAX_CONTENT_TYPE, pattern=CONTENT_TYPE.pattern, description="PUT only"
    )
    content_length: int | None = Field(
        default=None, ge=0, description="PUT: the exact size of the upload (signed; required)"
    )

    @model_validator(mode="after")
    def _put_fields(self) -> PresignIn:
        if self.method == "PUT" and self.content_length is None:
            raise ValueError("a PUT URL is signed for its size: give content_length")
        if self.method == "GET" and (self.content_type is not None or self.content_length is not None):
            raise ValueError("content_type and content_length are for PUT URLs")
        return self


class PresignOut(BaseModel):
    url: str
    method: Literal["GET", "PUT"]
    expires_at: datetime
    headers: dict[str, str] = Field(description="headers the request must send as they are (they are signed)")
