"""Preview and drift detection for one or all stacks (used by `falcone stacks …` and the hosted CI workflows).

Drift = what a refresh would change: `refresh --preview-only` (nothing is modified) reports each resource whose
live state differs from the state file, with the properties that differ. Rendered-only Kubernetes resources
have no server to read back and are skipped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from falcone import pulumi_runner, toolchain


class Status(StrEnum):
    READY = "Ready"
    DRIFTED = "Drifted"
    FAILED = "Failed"


@dataclass
class ResourceChange:
    urn: str
    type: str
    operation: str
    properties: list[str] = field(default_factory=list)


@dataclass
class StackReport:
    stack: str
    status: Status
    checked_at: str
    changes: list[ResourceChange] = field(default_factory=list)
    error: str = ""


def list_stacks(backend_dir: Path, work_dir: Path | None = None) -> list[str]:
    workspace = auto.LocalWorkspace(
        work_dir=str(pulumi_runner.project_dir(work_dir) if work_dir else toolchain.REPO_ROOT),
        pulumi_home=str(toolchain.load().pulumi_home),
        env_vars=pulumi_runner.stack_env(backend_dir),
        pulumi_command=auto.PulumiCommand(root=str(toolchain.load().install_dir)),
    )
    return sorted(summary.name for summary in workspace.list_stacks())


# Engine bookkeeping, not a property anybody changed.
_INTERNAL = {"__provider"}


def _changes(events: list[auto.EngineEvent]) -> list[ResourceChange]:
    """Resources whose outcome is not "same", with the properties whose values differ.

    A refresh preview announces every resource as "refresh" and says what it found in the outputs event; a
    preview says it in the pre-event. Both carry the old and new state, which give the changed properties.
    """
    changes = []
    for event in events:
        found = event.res_outputs_event or event.resource_pre_event
        if found is None or found.metadata.op in (auto.OpType.SAME, auto.OpType.READ, auto.OpType.REFRESH):
            continue
        metadata = found.metadata
        if event.resource_pre_event is not None and metadata.type == "pulumi:pulumi:Stack":
            continue
        old: Mapping[str, Any] = (metadata.old.outputs or metadata.old.inputs or {}) if metadata.old else {}
        new: Mapping[str, Any] = (metadata.new.outputs or metadata.new.inputs or {}) if metadata.new else {}
        if metadata.op is auto.OpType.DELETE:
            properties: set[str] = set()  # the whole resource is gone
        else:
            properties = {key for key in set(old) | set(new) if key not in _INTERNAL and old.get(key) != new.get(key)}
            properties |= set(metadata.diffs or [])
        changes.append(ResourceChange(metadata.urn, metadata.type, str(metadata.op.value), sorted(properties)))
    return changes


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _report(
    stack_name: str,
    run: Callable[[auto.Stack, Callable[[auto.EngineEvent], None]], object],
    backend_dir: Path,
    work_dir: Path | None,
) -> StackReport:
    events: list[auto.EngineEvent] = []
    try:
        stack = pulumi_runner.project_stack(stack_name, backend_dir, create=False, work_dir=work_dir)
        run(stack, events.append)
    except auto.errors.CommandError as error:
        return StackReport(stack_name, Status.FAILED, _now(), error=str(error).strip()[-2000:])
    changes = _changes(events)
    return StackReport(stack_name, Status.DRIFTED if changes else Status.READY, _now(), changes)


def check(
    stack_name: str,
    backend_dir: Path,
    on_output: Callable[[str], None] | None = None,
    work_dir: Path | None = None,
) -> StackReport:
    """What a refresh would change: the servers' state vs the stack's state (nothing is modified)."""
    return _report(
        stack_name,
        lambda stack, on_event: stack.preview_refresh(
            exclude=pulumi_runner.render_only_urns(stack), on_event=on_event, on_output=on_output
        ),
        backend_dir,
        work_dir,
    )


def preview(
    stack_name: str,
    backend_dir: Path,
    on_output: Callable[[str], None] | None = None,
    work_dir: Path | None = None,
) -> StackReport:
    """What `up` would do now (no effect): each planned change is reported like drift."""
    return _report(
        stack_name,
        lambda stack, on_event: stack.preview(on_event=on_event, on_output=on_output),
        backend_dir,
        work_dir,
    )


def write_report(reports: list[StackReport], path: Path) -> None:
    payload: dict[str, Any] = {"generated_at": _now(), "stacks": [asdict(report) for report in reports]}
    path.write_text(json.dumps(payload, indent=2) + "\n")


def exit_code(reports: list[StackReport]) -> int:
    """0 all Ready, 1 something drifted (or would change), 2 a stack could not be checked."""
    if any(report.status is Status.FAILED for report in reports):
        return 2
    return 1 if any(report.status is Status.DRIFTED for report in reports) else 0
