"""Stacks through the Pulumi Automation API, on our toolchain, with a file backend.

The same program serves `pulumi up` by hand (Pulumi.yaml at the repository root, `main: stacks/`) and the
Automation API (`project_stack`); `inline_stack` runs a program function in this process, which the tests use
for tiny single-provider stacks.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from pulumi import automation as auto

from components.connections import Backends
from falcone import toolchain as toolchain_module

PROJECT_NAME = "falcone"


def passphrase() -> str:
    # Stack secrets of a local platform; an operator sets their own for real deployments.
    return os.environ.get("PULUMI_CONFIG_PASSPHRASE", "falcone-local")


def stack_env(backend_dir: Path) -> dict[str, str]:
    toolchain = toolchain_module.load()
    backend_dir.mkdir(parents=True, exist_ok=True)
    return {
        **toolchain.env(),
        "PULUMI_BACKEND_URL": backend_dir.resolve().as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": passphrase(),
        # Dynamic providers run in `pulumi-resource-pulumi-python`, which needs the interpreter that has our code.
        "PULUMI_RUNTIME_VIRTUALENV": sys.prefix,
    }


def _command() -> auto.PulumiCommand:
    toolchain = toolchain_module.load()
    return auto.PulumiCommand(root=str(toolchain.install_dir))


def project_dir(work_dir: Path) -> Path:
    """A project directory of its own that runs the repository's program.

    Stack config files (`Pulumi.<stack>.yaml`) live next to `Pulumi.yaml`, so stacks of different backends (the
    tests', an operator's by-hand ones in the repository root) must not share a directory, or one would read or
    delete another's config. The directory holds a copy of Pulumi.yaml (with the virtualenv made absolute) and
    a link to the program's entry point.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    project = (toolchain_module.REPO_ROOT / "Pulumi.yaml").read_text()
    venv = toolchain_module.REPO_ROOT / ".venv"
    (work_dir / "Pulumi.yaml").write_text(project.replace("virtualenv: .venv", f"virtualenv: {venv}"))
    entry = work_dir / "__main__.py"
    if not entry.is_symlink():
        entry.unlink(missing_ok=True)
        entry.symlink_to(toolchain_module.REPO_ROOT / "__main__.py")
    return work_dir


def project_stack(
    stack_name: str,
    backend_dir: Path,
    *,
    create: bool = True,
    work_dir: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> auto.Stack:
    """A stack of the repository's project: the very program `pulumi up` runs by hand.

    `work_dir` None runs in the repository root (whose stack config files an operator uses by hand); give
    anything else its own directory (see `project_dir`). With `create=False` a missing stack raises
    `auto.errors.StackNotFoundError` instead of being created."""
    toolchain = toolchain_module.load()
    directory = str(project_dir(work_dir) if work_dir else toolchain_module.REPO_ROOT)
    options = auto.LocalWorkspaceOptions(
        work_dir=directory,
        pulumi_home=str(toolchain.pulumi_home),
        env_vars={**stack_env(backend_dir), **(extra_env or {})},
        secrets_provider="passphrase",
        pulumi_command=_command(),
    )
    if not create:
        return auto.select_stack(stack_name, work_dir=directory, opts=options)
    return auto.create_or_select_stack(stack_name, work_dir=directory, opts=options)


def inline_stack(stack_name: str, program: auto.PulumiFn, backend_dir: Path, project: str) -> auto.Stack:
    toolchain = toolchain_module.load()
    options = auto.LocalWorkspaceOptions(
        pulumi_home=str(toolchain.pulumi_home),
        env_vars=stack_env(backend_dir),
        secrets_provider="passphrase",
        pulumi_command=_command(),
        project_settings=auto.ProjectSettings(name=project, runtime="python"),
    )
    return auto.create_or_select_stack(stack_name, project_name=project, program=program, opts=options)


def render_only_urns(stack: auto.Stack) -> list[str]:
    """Resources whose provider only renders manifests (no API server to read back): refresh must skip them."""
    resources = (stack.export_stack().deployment or {}).get("resources", [])
    rendering = {
        f"{r['urn']}::{r['id']}"
        for r in resources
        if r["type"] == "pulumi:providers:kubernetes" and r.get("inputs", {}).get("renderYamlToDirectory")
    }
    return [r["urn"] for r in resources if r.get("provider") in rendering]


def refresh_and_up(stack: auto.Stack, on_output: auto.OnOutput | None = None) -> auto.UpResult:
    """Bring the servers back to the program: refresh the state from the servers (so out-of-band changes are
    seen), then `up` repairs them. Render-only resources are not refreshed (there is nothing to read)."""
    stack.refresh(exclude=render_only_urns(stack), on_output=on_output)
    return stack.up(on_output=on_output)


def configure(stack: auto.Stack, backends: Backends, **settings: str) -> None:
    """Set a stack's `falcone:backends` (secret) and other `falcone:*` settings (camelCase keys)."""
    stack.set_config("falcone:backends", auto.ConfigValue(json.dumps(backends.to_config()), secret=True))
    for key, value in settings.items():
        stack.set_config(f"falcone:{key}", auto.ConfigValue(value))
