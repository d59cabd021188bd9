"""Generated secrets that stay stable across runs (what `pulumi-random` would give, without another plugin)."""

from __future__ import annotations

import secrets
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource

from components.providers.base import Provider, secret_options


class RandomSecretProvider(Provider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        length = int(props["length"])  # numbers cross the engine as floats
        value = secrets.token_urlsafe(length)[:length]
        return CreateResult(id_=secrets.token_hex(8), outs={**props, "value": value})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id_, outs=props)  # nothing outside the state to compare with

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = olds.get("length") != news.get("length") or olds.get("keepers") != news.get("keepers")
        return DiffResult(changes=changed, replaces=["length"] if changed else [], delete_before_replace=False)


class RandomSecret(Resource):
    """A URL-safe random string, generated once; change `keepers` to rotate it."""

    value: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        length: int = 32,
        keepers: dict[str, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        if not 16 <= length <= 128:
            raise ValueError("a generated secret has 16 to 128 characters")
        options = pulumi.ResourceOptions.merge(
            secret_options(opts), pulumi.ResourceOptions(additional_secret_outputs=["value"])
        )
        super().__init__(
            RandomSecretProvider(), resource_name, {"length": length, "keepers": keepers or {}, "value": None}, options
        )
