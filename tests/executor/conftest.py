"""The executor's suite runs on the session's executor world (`tests/executor_world.py`, a root-level plugin so the
gateway's suite shares the very same world: one set of stacks and registry rows per session)."""

from tests.executor_world import (
    KEY_CACHE_TTL_S,
    MAX_OBJECT_BYTES,
    NOTES_COLUMNS,
    PLANS,
    RATE_LIMIT_HEADROOM,
    WORKSPACES,
    Seed,
    Workspace,
    World,
    insert_key,
)

__all__ = [
    "KEY_CACHE_TTL_S",
    "MAX_OBJECT_BYTES",
    "NOTES_COLUMNS",
    "PLANS",
    "RATE_LIMIT_HEADROOM",
    "WORKSPACES",
    "Seed",
    "Workspace",
    "World",
    "insert_key",
]
