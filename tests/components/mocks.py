"""`pulumi.runtime.set_mocks` harness: run a program without an engine and inspect what it registered."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi


@dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    resources: list[Registered] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(Registered(args.typ, args.name, dict(args.inputs)))
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None

    def named(self, name: str) -> Registered:
        matches = [r for r in self.resources if r.name == name]
        assert len(matches) == 1, f"{name}: {len(matches)} registered"
        return matches[0]

    def matching(self, predicate: Callable[[Registered], bool]) -> list[Registered]:
        return [r for r in self.resources if predicate(r)]


def run(program: Callable[[], Any]) -> RecordingMocks:
    """Run `program` under mocks and wait until every registration has been seen."""
    # pulumi.runtime.test runs on the thread's current loop; async tests (pytest-asyncio) may have left none.
    asyncio.set_event_loop(asyncio.new_event_loop())
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="falcone", stack="unit", preview=False)

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def registered() -> Any:
        result = program()
        return result if isinstance(result, pulumi.Output) else pulumi.Output.from_input(None)

    registered()
    return mocks


# How the engine marks a secret value in a resource's inputs (pulumi's "special signature" key).
SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"
SECRET_MARKER = "1b47061264138c4ac30d75fd1eb44270"


def is_secret(value: Any, plain: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIGNATURE) == SECRET_MARKER and value.get("value") == plain
