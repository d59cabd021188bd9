"""Requests and answers of the events API. A topic is addressed by its short name (`events`); the Kafka name
(`{tenant}.{workspace}.events`) never leaves the executor."""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

# One publish: at most this many records (the body limit, 1 MB by default, bounds their size).
MAX_RECORDS = 100
MAX_HEADERS = 32
# A consumer group's short name; the executor puts it under the workspace's prefix, which the ACLs allow.
GROUP_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
Start = Literal["latest", "earliest"]


def _utf8(value: str) -> str:
    """Kafka keys and headers are UTF-8 bytes: a lone surrogate (valid JSON, not Unicode) cannot be encoded."""
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


class RecordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(default=None, max_length=1024, description="records with one key keep their order")
    value: JsonValue = Field(description="any JSON value, stored as its JSON text")
    headers: dict[str, str] = Field(default_factory=dict, max_length=MAX_HEADERS)

    @field_validator("key")
    @classmethod
    def _key_is_text(cls, value: str | None) -> str | None:
        return None if value is None else _utf8(value)

    @field_validator("headers")
    @classmethod
    def _headers_are_text(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not name or len(name) > 256:
                raise ValueError("header names are 1-256 characters")
            _utf8(name), _utf8(text)
        return value

    @field_validator("value")
    @classmethod
    def _value_is_json(cls, value: JsonValue) -> JsonValue:
        try:
            json.dumps(value, allow_nan=False)
        except ValueError:
            raise ValueError("NaN and Infinity are not JSON") from None
        return value

    def encoded(self) -> dict[str, Any]:
        """Keyword arguments of `AIOKafkaProducer.send`."""
        return {
            "value": json.dumps(self.value, separators=(",", ":")).encode(),
            "key": None if self.key is None else self.key.encode(),
            "headers": [(name, text.encode()) for name, text in self.headers.items()],
        }


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: list[RecordIn] = Field(min_length=1, max_length=MAX_RECORDS)


class Delivered(BaseModel):
    partition: int
    offset: int
    timestamp: int = Field(description="milliseconds since the epoch, as the broker stored it")


class PublishOut(BaseModel):
    topic: str
    records: list[Delivered] = Field(
        description="one per published record, in order, each acknowledged by all replicas"
    )


class TopicOut(BaseModel):
    name: str
    partitions: int


class TopicList(BaseModel):
    items: list[TopicOut]
