"""What every dynamic provider of ours shares: diffing by declared properties, and secret outputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, fields
from typing import Any

import pulumi
from pulumi.dynamic import DiffResult, ResourceProvider

# Outputs that hold credentials; every resource marks them secret in state.
SECRET_OUTPUTS = ["connection", "password", "secret_key", "client_secret"]


def _normalized(value: Any) -> Any:
    # Pulumi hands lists and maps back as lists/dicts; compare sets of strings without caring for order.
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return sorted(value)
    return value


def diff_properties(
    olds: Mapping[str, Any],
    news: Mapping[str, Any],
    *,
    updatable: Sequence[str],
    replace_on: Sequence[str],
) -> DiffResult:
    """Compare the declared properties only: outputs we add (ids, timestamps) never cause a diff."""
    changed = [key for key in (*replace_on, *updatable) if _normalized(olds.get(key)) != _normalized(news.get(key))]
    replaces = [key for key in changed if key in replace_on]
    return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=bool(replaces))


class Provider(ResourceProvider):
    """Marker base so every provider of ours is found in one place (and typed for mypy)."""


def shallow_dict(args: Any) -> dict[str, Any]:
    """A dataclass's fields as a dict, keeping Outputs as they are (`asdict` would deep-copy them)."""
    return {f.name: getattr(args, f.name) for f in fields(args)}


def secret_inputs(props: dict[str, Any]) -> dict[str, Any]:
    """Credentials are secret in the inputs too, or the state would hold them in clear text."""
    return {
        key: pulumi.Output.secret(value) if key in SECRET_OUTPUTS and value is not None else value
        for key, value in props.items()
    }


def resource_props(args: Any, connection: pulumi.Input[Any], **extra: Any) -> dict[str, Any]:
    """A resource's inputs: its args' fields, its server's connection, and `extra` (overrides or outputs to
    declare), with credentials secret."""
    connection_props = pulumi.Output.from_input(connection).apply(asdict)
    return secret_inputs({**shallow_dict(args), **extra, "connection": connection_props})


def secret_options(opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=SECRET_OUTPUTS))
