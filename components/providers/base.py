"""What every dynamic provider of ours shares: diffing by declared properties, secret outputs, and adoption.

Adoption: `create` takes over an object that already exists under the declared name. The automation service
survives a crash in the middle of `pulumi up` by clearing the stack's lock and pending operations and running `up`
again, so a create that reached the server but never reached the state runs a second time. Every server-side name
is derived from the tenant's and workspace's slugs (`falcone/naming.py`) and belongs to one resource of one stack:
an object that already carries it is that resource, left behind by the interrupted run. So each `create` recognises
"already exists" precisely (the server's error code, or a look-up before creating; never any failure), brings the
object to the declared state as `update` does (`Provider.adopt`), and returns what a fresh create returns, with
server-generated values read live. Creates that are upserts by nature need nothing of this: grants and default
privileges (synced), CREATE OR REPLACE FUNCTION, RLS policies (dropped and created in one transaction), MinIO and
OpenBao policy writes, MinIO's user_add, KV writes, the Mongo database marker, SCRAM upserts and Kafka ACLs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, fields
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider

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
    """Base of every provider of ours (found in one place, typed for mypy)."""

    def adopt(self, id_: str, props: dict[str, Any], live: dict[str, Any] | None = None) -> CreateResult:
        """Take over the existing object `id_` (see the module's docstring): `update` from `live` (what is known
        of the object, usually nothing) to `props`, answered as a fresh create would be."""
        return CreateResult(id_=id_, outs=self.update(id_, live or {}, props).outs)


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
