"""The README's main job: the demo stack, `pulumi up` on the local platform, through the project's program."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from falcone import pulumi_runner
from falcone.platform_config import backends_from_endpoints
from localplatform import endpoints as platform_endpoints
from localplatform.settings import PlatformSettings

STACK = "demo"


def state_dir() -> Path:
    return PlatformSettings().data_dir / "pulumi-state"


def _stack() -> auto.Stack:
    settings = PlatformSettings()
    try:
        running = platform_endpoints.load()
    except FileNotFoundError:
        raise SystemExit("the local platform is not running; start it: scripts/platform start") from None
    stack = pulumi_runner.project_stack(STACK, state_dir())
    backends = backends_from_endpoints(running)
    pulumi_runner.configure(stack, backends, renderDir=str(settings.data_dir / "rendered" / STACK))
    return stack


def up(on_output: Callable[[str], None]) -> dict[str, Any]:
    stack = _stack()
    result = (
        pulumi_runner.refresh_and_up(stack, on_output=on_output) if _has_state(stack) else stack.up(on_output=on_output)
    )
    return {name: output.value for name, output in result.outputs.items()}


def destroy(on_output: Callable[[str], None]) -> None:
    stack = _stack()
    stack.destroy(on_output=on_output, color="always")


def _has_state(stack: auto.Stack) -> bool:
    return bool((stack.export_stack().deployment or {}).get("resources"))
