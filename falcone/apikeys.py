"""API keys of the data API: `flc_anon_…` and `flc_service_…`, bound to one workspace and one database role.

Only a SHA-256 of the key is stored (keys are 256-bit random, so a plain hash is enough to make a leaked table
useless); the first characters after the kind are kept as a prefix so that users can tell keys apart.
The automation service mints them, the executor resolves them: both use this module for the format.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from dataclasses import dataclass
from typing import Literal

from uuid_utils.compat import uuid7

KeyKind = Literal["anon", "service"]
KINDS: tuple[KeyKind, ...] = ("anon", "service")
MARKER = "flc_"
_ALPHABET = string.ascii_letters + string.digits
_SECRET_LENGTH = 43  # log2(62) * 43 ≈ 256 bits
_VISIBLE = 8
KEY_PATTERN = re.compile(rf"^flc_(anon|service)_[A-Za-z0-9]{{{_SECRET_LENGTH}}}$")


@dataclass(frozen=True)
class NewKey:
    id: str
    kind: KeyKind
    secret: str  # shown once, never stored
    prefix: str
    secret_hash: bytes


def looks_like_key(value: str) -> bool:
    """Anything presented with the marker is treated as an API key (and fails closed if it is not a valid one)."""
    return value.startswith(MARKER)


def is_well_formed(value: str) -> bool:
    return KEY_PATTERN.fullmatch(value) is not None


def digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def generate(kind: KeyKind) -> NewKey:
    random_part = "".join(secrets.choice(_ALPHABET) for _ in range(_SECRET_LENGTH))
    secret = f"{MARKER}{kind}_{random_part}"
    return NewKey(
        id=f"key_{uuid7().hex}",
        kind=kind,
        secret=secret,
        prefix=f"{MARKER}{kind}_{random_part[:_VISIBLE]}",
        secret_hash=digest(secret),
    )
