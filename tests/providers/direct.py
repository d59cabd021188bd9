"""Calling a provider directly, as the engine's provider process does: props are plain values, no Outputs."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any


def provider_props(args: Any, connection: Any, **extra: Any) -> dict[str, Any]:
    """What `create`/`update` receive for a resource declared with `args` on `connection`."""
    return {**asdict(args), **extra, "connection": asdict(connection)}
