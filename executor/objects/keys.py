"""Object keys as clients write them: relative to the workspace's storage location, checked before any S3 call.

The executor prepends the workspace prefix itself; a key that could name anything outside that prefix once joined
(`..`, `.`, empty segments, a leading `/`, backslashes) or that S3 and MinIO treat specially (control characters)
is refused with a 400, so no spelling of a key reaches another workspace's objects (the MinIO policy of the
workspace's own access key is the second wall).
"""

from __future__ import annotations

import base64
import binascii
import re

from falcone.http.problems import Problem

# S3's own limit is 1024 bytes for the whole key, workspace prefix included.
MAX_KEY_BYTES = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class InvalidKeyError(ValueError):
    pass


def _check_text(value: str, what: str) -> None:
    if _CONTROL.search(value):
        raise InvalidKeyError(f"the {what} contains a control character")
    if "\\" in value:
        raise InvalidKeyError(f"the {what} contains a backslash")
    if value.startswith("/"):
        raise InvalidKeyError(f"the {what} starts with '/': keys are relative to the workspace")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise InvalidKeyError(f"the {what} is not valid Unicode") from None


def _check_segments(segments: list[str], what: str) -> None:
    for segment in segments:
        if segment in {"", ".", ".."}:
            shown = segment or "an empty segment ('//')"
            raise InvalidKeyError(f"the {what} contains {shown!s}: segments must be names")


def check_key(key: str, prefix: str) -> str:
    """The full S3 key of the client's `key` under the workspace `prefix`."""
    if not key:
        raise InvalidKeyError("the object key is empty")
    _check_text(key, "object key")
    _check_segments(key.split("/"), "object key")
    full = prefix + key
    if len(full.encode()) > MAX_KEY_BYTES:
        raise InvalidKeyError(f"the object key is longer than {MAX_KEY_BYTES - len(prefix.encode())} bytes")
    return full


def check_prefix(value: str, prefix: str) -> str:
    """A listing prefix: like a key, but it may be empty, end with '/' or stop inside a segment."""
    if not value:
        return prefix
    _check_text(value, "prefix")
    segments = value.split("/")
    # The last segment is a partial name ("rep" lists "report.pdf"); empty only after a trailing '/'.
    _check_segments(segments[:-1], "prefix")
    if segments[-1] in {".", ".."}:
        raise InvalidKeyError("the prefix ends with a '.' or '..' segment")
    full = prefix + value
    if len(full.encode()) > MAX_KEY_BYTES:
        raise InvalidKeyError(f"the prefix is longer than {MAX_KEY_BYTES - len(prefix.encode())} bytes")
    return full


def relative(full: str, prefix: str) -> str:
    """A key as the client knows it; S3 only answers keys under the prefix we asked for."""
    return full[len(prefix) :] if full.startswith(prefix) else full


def encode_cursor(last: str) -> str:
    """The cursor is the page's last key or common prefix, relative: listing resumes after it (a common prefix
    is skipped whole, so a page never repeats a folder)."""
    return base64.urlsafe_b64encode(last.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, prefix: str) -> str:
    """The S3 `StartAfter` of a cursor: a position inside the workspace's own prefix, never outside it."""
    try:
        last = base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)).decode()
        if not last:
            raise ValueError("empty")
        _check_text(last, "cursor")
    except (ValueError, binascii.Error, InvalidKeyError):
        raise Problem(400, "the cursor is not one this API issued") from None
    return prefix + last


def bad_key(error: InvalidKeyError) -> Problem:
    return Problem(400, str(error), code="invalid_key")
