"""Documents on the wire: relaxed Extended JSON (`bson.json_util`) in and out, and the opaque list cursor."""

from __future__ import annotations

import base64
from typing import Any

from bson import json_util
from bson.objectid import ObjectId

from executor.documents.guard import InputError

OPTIONS = json_util.RELAXED_JSON_OPTIONS
MAX_CURSOR_LENGTH = 512


def from_json(value: Any) -> Any:
    """A parsed JSON value with its Extended JSON objects (`{"$oid": ...}`, `{"$date": ...}`) made BSON values.

    Bottom-up, as `json_util.loads` would do while parsing; a malformed wrapper (`{"$date": "soon"}`) is a 400."""
    try:
        return _converted(value)
    except RecursionError:
        raise InputError("the request nests too deep") from None


def _converted(value: Any) -> Any:
    if isinstance(value, list):
        return [_converted(item) for item in value]
    if isinstance(value, dict):
        converted = {key: _converted(item) for key, item in value.items()}
        try:
            return json_util.object_hook(converted, OPTIONS)
        except Exception as error:  # json_util raises whatever its parsers do (KeyError, TypeError, ...)
            raise InputError(f"invalid Extended JSON value: {error}") from None
    return value


def parse(text: str, what: str) -> Any:
    """A query-string parameter holding (Extended) JSON."""
    try:
        return json_util.loads(text, json_options=OPTIONS)
    except RecursionError:
        raise InputError(f"the {what} nests too deep") from None
    except Exception as error:  # json.JSONDecodeError, or a malformed Extended JSON wrapper
        raise InputError(f"the {what} is not valid JSON: {error}") from None


def dumps(value: Any) -> str:
    return json_util.dumps(value, json_options=OPTIONS)


def encode_cursor(last_id: Any) -> str:
    return base64.urlsafe_b64encode(dumps({"_id": last_id}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str | ObjectId:
    """The `_id` a cursor ends after; anything this API did not issue is a 400."""
    try:
        raw = base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4))
        value = json_util.loads(raw.decode(), json_options=OPTIONS)
    except Exception:  # bad base64, bad UTF-8, bad JSON: all the same to the client
        raise InputError("the cursor is not one this API issued") from None
    if not isinstance(value, dict) or not isinstance(value.get("_id"), str | ObjectId):
        raise InputError("the cursor is not one this API issued")
    last: str | ObjectId = value["_id"]
    return last
