"""Status conditions of tenants and workspaces, the way Kubernetes/Crossplane users read them.

- Ready: the last apply succeeded and the stack's resources exist.
- Synced: the last apply was of the current desired state (observed generation = generation).
- Drifted: the last drift check found out-of-band changes (True) or none (False); Unknown until checked.
Each carries a reason, a message and when it last changed, so staleness is visible.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

Status = Literal["True", "False", "Unknown"]


def condition(status: Status, reason: str, message: str = "") -> dict[str, Any]:
    return {"status": status, "reason": reason, "message": message, "at": datetime.now(UTC).isoformat()}


def initial() -> dict[str, Any]:
    return {
        "Ready": condition("False", "Provisioning", "the first apply is queued"),
        "Synced": condition("False", "Pending"),
        "Drifted": condition("Unknown", "NotChecked"),
    }


def applied() -> dict[str, Any]:
    return {
        "Ready": condition("True", "Applied"),
        "Synced": condition("True", "Applied"),
        "Drifted": condition("False", "Applied", "an apply brought the servers to the desired state"),
    }


def apply_failed(reason: str, *, first_apply: bool) -> dict[str, Any]:
    failed = {"Synced": condition("False", "ApplyFailed", reason)}
    if first_apply:
        failed["Ready"] = condition("False", "ApplyFailed", reason)
    return failed


def pending_update() -> dict[str, Any]:
    return {"Synced": condition("False", "Pending", "an update is queued")}


def drift(drifted: bool, message: str) -> dict[str, Any]:
    return {"Drifted": condition("True" if drifted else "False", "Drifted" if drifted else "InSync", message)}
