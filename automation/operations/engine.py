"""Pulumi runs for the operations, through the Automation API on the project's own program.

Everything here blocks (the Automation API drives the CLI) and runs in worker threads, never on the event loop.
Each stack gets a project directory of its own (`work_dir/<stack>`): the Automation API keeps the selected stack
and its config in per-directory files, so concurrent operations on different stacks never share them
(pulumi/pulumi#8186, #6287).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from components.connections import Backends
from falcone import drift, pulumi_runner

SECRET = "[secret]"
# Set in the environment of every process of a stack's run (the CLI, the language host, the providers inherit it):
# after a crash, recovery finds the run's orphans by it. The providers put themselves in process groups of their
# own, so killing the service's group does not reach them.
RUN_MARKER = "FALCONE_STACK_RUN"
EventSink = Callable[[auto.EngineEvent], None]


@dataclass(frozen=True)
class StackEngine:
    backends: Backends
    state_dir: Path
    work_dir: Path
    # `falcone:*` config every stack of this platform gets (realm, role prefix, render dir, ...)
    settings: dict[str, str]

    def _stack(self, name: str, config: dict[str, str], *, create: bool = True) -> auto.Stack:
        stack = pulumi_runner.project_stack(
            name, self.state_dir, create=create, work_dir=self.work_dir / name, extra_env={RUN_MARKER: name}
        )
        pulumi_runner.configure(stack, self.backends, **{**self.settings, **config})
        return stack

    def up(
        self,
        name: str,
        config: dict[str, str],
        on_event: EventSink,
        *,
        message: str,
        tags: dict[str, str] | None = None,
        refresh: bool = False,
    ) -> dict[str, Any]:
        """`tags` mark the stack with the operation and correlation id that last changed it (`pulumi stack tag
        ls`); `message` puts them in the stack's update history."""
        stack = self._stack(name, config)
        for key, value in (tags or {}).items():
            stack.set_tag(key, value)
        if refresh and _has_resources(stack):
            stack.refresh(exclude=pulumi_runner.render_only_urns(stack), on_event=on_event, message=message)
        result = stack.up(on_event=on_event, message=message)
        return visible_outputs(result.outputs)

    def secret_outputs(self, name: str) -> dict[str, Any]:
        """Outputs with their secret values, for the one response that hands credentials out. Reads only: the
        stack's config is not written (an operation on the stack may be setting it)."""
        stack = pulumi_runner.project_stack(name, self.state_dir, create=False, work_dir=self.work_dir / name)
        return {key: value.value for key, value in stack.outputs().items()}

    def destroy(self, name: str, on_event: EventSink, *, message: str) -> None:
        try:
            stack = self._stack(name, {}, create=False)
        except auto.errors.StackNotFoundError:
            return  # never created, or removed by an interrupted earlier attempt
        stack.destroy(on_event=on_event, message=message)
        stack.workspace.remove_stack(name)

    def preview(self, name: str, config: dict[str, str]) -> drift.StackReport:
        self._stack(name, config)
        return drift.preview(name, self.state_dir, work_dir=self.work_dir / name)

    def check_drift(self, name: str) -> drift.StackReport:
        return drift.check(name, self.state_dir, work_dir=self.work_dir / name)

    def release(self, name: str) -> list[str]:
        """After a crash: remove the stack's lock (the file backend's `.pulumi/locks/…/<stack>/*.json`, left by a
        killed CLI) and clear operations the engine never finished, so the next run can start. Returns what was
        done, for the operation's events."""
        done = []
        stopped = _stop_stack_processes(name)
        if stopped:
            done.append(f"stopped {len(stopped)} orphaned engine process(es) of the stack: pids {stopped}")
        for lock in (self.state_dir / ".pulumi" / "locks").glob(f"*/*/{name}/*.json"):
            holder = _stop_orphan(lock)
            lock.unlink(missing_ok=True)
            done.append(f"removed lock {lock.name}" + (f" (stopped orphaned CLI pid {holder})" if holder else ""))
        try:
            stack = self._stack(name, {}, create=False)
        except auto.errors.StackNotFoundError:
            return done
        state = stack.export_stack()
        pending = (state.deployment or {}).get("pending_operations") or []
        if pending:
            # A create the engine started but never recorded may exist on the server: our providers adopt an
            # existing object on create, so dropping the pending entry and running `up` again converges.
            assert state.deployment is not None
            state.deployment = {**state.deployment, "pending_operations": []}
            stack.import_stack(state)
            done.append(f"cleared {len(pending)} pending operation(s): " + ", ".join(_pending(p) for p in pending))
        return done


def stack_processes(name: str) -> list[int]:
    """The processes on this host whose environment marks them as part of a run of stack `name`."""
    marker = f"{RUN_MARKER}={name}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:  # gone, or not ours to read
            continue
    return sorted(found)


def _stop_stack_processes(name: str) -> list[int]:
    stopped = []
    for pid in stack_processes(name):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            stopped.append(pid)
    return stopped


def _stop_orphan(lock: Path) -> int | None:
    """A CLI of the dead service may still run on this host (only the service was killed): it would go on
    changing the stack. Its lock names it; stop it and its plugins (its process group) before taking over."""
    try:
        holder = json.loads(lock.read_text())
    except (OSError, ValueError):
        return None
    pid = holder.get("pid")
    if holder.get("hostname") != socket.gethostname() or not isinstance(pid, int) or pid <= 1:
        return None
    try:
        group = os.getpgid(pid)
    except ProcessLookupError:
        return None
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group != os.getpgrp():
            os.killpg(group, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    return pid


def _pending(operation: dict[str, Any]) -> str:
    return f"{operation.get('type', '?')} {operation.get('resource', {}).get('urn', '?').rsplit('::', 1)[-1]}"


def _has_resources(stack: auto.Stack) -> bool:
    return bool((stack.export_stack().deployment or {}).get("resources"))


def visible_outputs(outputs: auto.OutputMap) -> dict[str, Any]:
    return {key: SECRET if value.secret else value.value for key, value in outputs.items()}


def summarize(event: auto.EngineEvent) -> tuple[str, dict[str, Any]] | None:
    """What a watcher of an operation wants from an engine event: resource by resource progress, diagnostics and
    the final summary (stdout lines and the prelude are noise)."""
    if event.resource_pre_event is not None:
        metadata = event.resource_pre_event.metadata
        if metadata.type == "pulumi:pulumi:Stack":
            return None
        return "resource", {
            "phase": "started",
            "op": str(metadata.op.value),
            "urn": metadata.urn,
            "type": metadata.type,
        }
    if event.res_outputs_event is not None:
        metadata = event.res_outputs_event.metadata
        if metadata.type == "pulumi:pulumi:Stack":
            return None
        return "resource", {"phase": "done", "op": str(metadata.op.value), "urn": metadata.urn, "type": metadata.type}
    if event.res_op_failed_event is not None:
        metadata = event.res_op_failed_event.metadata
        return "resource", {"phase": "failed", "op": str(metadata.op.value), "urn": metadata.urn, "type": metadata.type}
    if event.diagnostic_event is not None and event.diagnostic_event.severity in ("warning", "error"):
        diagnostic = event.diagnostic_event
        return "diagnostic", {"severity": diagnostic.severity, "message": diagnostic.message.strip()[-2000:]}
    if event.summary_event is not None:
        summary = event.summary_event
        changes = {str(op.value) if hasattr(op, "value") else str(op): n for op, n in summary.resource_changes.items()}
        return "summary", {"changes": changes, "duration_seconds": summary.duration_seconds}
    return None


def command_error(error: Exception) -> str:
    """The useful end of a CLI failure (the engine's own diagnostics), not the whole transcript."""
    text = str(error).strip()
    if isinstance(error, auto.errors.CommandError):
        lines = [line for line in text.splitlines() if line.strip() and "stdout:" not in line]
        errors = [line.strip() for line in lines if "error" in line.lower()]
        text = "\n".join(errors[-8:]) or "\n".join(lines[-8:])
    return text[-2000:] or type(error).__name__


def config_json(value: Any) -> str:
    return json.dumps(value)
