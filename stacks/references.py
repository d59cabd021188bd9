"""Reading other stacks' outputs: the platform's, and a workspace's tenant's.

Values that decide which resources a stack creates (the tenant's plan) are read while the program runs, so a
workspace of a missing tenant fails at preview with a message naming the missing stack.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pulumi
from pulumi.runtime.sync_await import _sync_await

from stacks import config

PROJECT = "falcone"


@cache
def _reference(stack: str) -> pulumi.StackReference:
    return pulumi.StackReference(f"organization/{PROJECT}/{stack}")


def platform_stack() -> str:
    return config.string("platformStack", "platform")


def platform_output(name: str) -> pulumi.Output[Any]:
    return _reference(platform_stack()).require_output(name)


def output_value(stack: str, name: str) -> Any:
    """A stack's output, known now (not as an Output). Fails cleanly when the stack or output is missing."""
    try:
        details = _sync_await(_reference(stack).get_output_details(name))
    except Exception as error:  # the engine's own error (unknown stack, ...) is the useful part
        raise config.ConfigError("stack reference", f"cannot read {stack!r}: {error}") from None
    if details.value is None and details.secret_value is None:
        raise config.ConfigError("stack reference", f"stack {stack!r} has no output {name!r}; is it up to date?")
    return details.value if details.value is not None else details.secret_value
