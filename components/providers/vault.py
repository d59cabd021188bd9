"""OpenBao (Vault API) secrets engines, ACL policies and KV v2 secrets, managed through hvac."""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass, field
from typing import Any

import hvac
import pulumi
from hvac.exceptions import InvalidPath, InvalidRequest, VaultError
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from components.connections import VaultConnection
from components.providers.base import (
    Provider,
    diff_properties,
    resource_props,
    secret_options,
)

# Mount paths and KV paths: slash-separated segments of safe characters (no "..", no empty segment, no spaces).
_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
_PATH = re.compile(rf"^{_SEGMENT}(/{_SEGMENT})*$")
# The server lowercases policy names; accepting only lowercase keeps the id and the live name identical.
_POLICY_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,127}$")
_ENGINE_TYPE = re.compile(r"^[a-z][a-z0-9_-]*$")
# Mounts the server owns: never enabled, tuned or disabled by us.
_RESERVED_MOUNTS = {"sys", "identity", "cubbyhole", "auth"}
_RESERVED_POLICIES = {"root", "default"}


def _validated_path(value: str, what: str) -> str:
    if not _PATH.fullmatch(value) or ".." in value:
        raise ValueError(f"invalid {what} {value!r}: slash-separated segments of letters, digits, '_', '-', '.'")
    return value


def _validated_mount(value: str) -> str:
    _validated_path(value, "mount path")
    if value.split("/", 1)[0] in _RESERVED_MOUNTS:
        raise ValueError(f"mount path {value!r} is reserved by the server")
    return value


def _validated_policy_name(value: str) -> str:
    if not _POLICY_NAME.fullmatch(value) or value in _RESERVED_POLICIES:
        raise ValueError(f"invalid policy name {value!r}: lowercase letters, digits, '_', '-' (not root/default)")
    return value


def _client(props: dict[str, Any]) -> hvac.Client:
    connection = props["connection"]
    return hvac.Client(url=connection["address"], token=connection["token"], timeout=30)


def _sys(client: hvac.Client) -> Any:
    # types-hvac leaves several `sys` methods untyped; their JSON answers are untyped anyway.
    return client.sys


# --- secrets engine mounts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MountArgs:
    path: str
    type: str = "kv"
    # For "kv", {"version": "2"} makes it a versioned KV v2 engine (the only kind Falcone uses).
    options: dict[str, str] = field(default_factory=lambda: {"version": "2"})
    description: str = ""


def _live_mount(client: hvac.Client, path: str) -> dict[str, Any] | None:
    mounts = _sys(client).list_mounted_secrets_engines()["data"]
    entry = mounts.get(f"{path}/")
    return entry if isinstance(entry, dict) else None


def _wait_kv_v2_ready(client: hvac.Client, path: str, timeout: float = 15.0) -> None:
    # A fresh KV v2 mount upgrades its storage in the background; writes before that fail.
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.secrets.kv.v2.read_configuration(mount_point=path)
            return
        except VaultError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class MountProvider(Provider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        path = _validated_mount(props["path"])
        if not _ENGINE_TYPE.fullmatch(props["type"]):
            raise ValueError(f"invalid secrets engine type {props['type']!r}")
        client = _client(props)
        live = _live_mount(client, path)
        if live is None:
            client.sys.enable_secrets_engine(
                props["type"],
                path=path,
                description=props.get("description") or "",
                options=props.get("options") or None,
            )
        elif live.get("type") != props["type"] or dict(live.get("options") or {}) != dict(props.get("options") or {}):
            # Another engine (or KV version) than declared: only a replacement, erasing its secrets, could fix it.
            raise RuntimeError(
                f"mount {path!r} already exists as {live.get('type')} {live.get('options')}, "
                f"not {props['type']} {props.get('options')}: it cannot be adopted"
            )
        else:
            self.update(path, {}, props)  # adopted (base.py): description as declared, its secrets stay
        if props["type"] == "kv" and str((props.get("options") or {}).get("version")) == "2":
            _wait_kv_v2_ready(client, path)
        return CreateResult(id_=path, outs=props)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        entry = _live_mount(_client(props), id_)
        if entry is None:
            return ReadResult(id_="", outs={})
        live = {
            "path": id_,
            "type": entry.get("type"),
            "options": dict(entry.get("options") or {}),
            "description": entry.get("description") or "",
        }
        return ReadResult(id_=id_, outs={**props, **live})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Options change the engine's storage layout (KV v1 vs v2): a new mount, not an in-place edit.
        return diff_properties(olds, news, updatable=["description"], replace_on=["path", "type", "options"])

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        _sys(_client(news)).tune_mount_configuration(id_, description=news.get("description") or "")
        return UpdateResult(outs=news)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        # Unmounting erases every secret stored under the mount; unmounting a missing path answers 204.
        _sys(_client(props)).disable_secrets_engine(_validated_mount(id_))


class VaultMount(Resource):
    """A secrets engine mounted at `path` (one KV v2 engine per tenant/workspace)."""

    path: pulumi.Output[str]
    type: pulumi.Output[str]
    options: pulumi.Output[dict[str, str]]
    description: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        args: MountArgs,
        connection: pulumi.Input[VaultConnection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        _validated_mount(args.path)
        props = resource_props(args, connection)
        super().__init__(MountProvider(), resource_name, props, secret_options(opts))


# --- ACL policies -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyArgs:
    name: str
    # HCL text, e.g. 'path "ws-1/data/tenant/a/*" { capabilities = ["read"] }'.
    policy: str


def _normalized_hcl(text: str | None) -> str:
    # The server keeps the text as written; compare ignoring whitespace layout only.
    return " ".join((text or "").split())


class PolicyProvider(Provider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        name = _validated_policy_name(props["name"])
        # An upsert: a policy left by an interrupted run (base.py) gets the declared rules.
        _client(props).sys.create_or_update_policy(name, props["policy"])
        return CreateResult(id_=name, outs=props)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        try:
            rules = _sys(_client(props)).read_policy(id_)["data"]["rules"]
        except InvalidPath:
            return ReadResult(id_="", outs={})
        # Same text up to whitespace: keep the declared spelling so refresh shows no change.
        live = props.get("policy") if _normalized_hcl(rules) == _normalized_hcl(props.get("policy")) else rules
        return ReadResult(id_=id_, outs={**props, "name": id_, "policy": live})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        olds = {**olds, "policy": _normalized_hcl(olds.get("policy"))}
        news = {**news, "policy": _normalized_hcl(news.get("policy"))}
        return diff_properties(olds, news, updatable=["policy"], replace_on=["name"])

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        _client(news).sys.create_or_update_policy(id_, news["policy"])
        return UpdateResult(outs=news)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        # Deleting a missing policy answers 204; tokens that carried it lose its grants immediately.
        _sys(_client(props)).delete_policy(_validated_policy_name(id_))


class VaultPolicy(Resource):
    """An ACL policy; tokens of a tenant/workspace carry only the policies scoped to its paths."""

    name: pulumi.Output[str]
    policy: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        args: PolicyArgs,
        connection: pulumi.Input[VaultConnection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        _validated_policy_name(args.name)
        props = resource_props(args, connection)
        super().__init__(PolicyProvider(), resource_name, props, secret_options(opts))


# --- KV v2 secrets ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KvSecretArgs:
    mount: str
    path: str
    data: dict[str, pulumi.Input[str]]


def _kv_write(client: hvac.Client, props: dict[str, Any]) -> None:
    deadline = time.monotonic() + 15.0
    while True:
        try:
            client.secrets.kv.v2.create_or_update_secret(
                props["path"], secret=dict(props["data"]), mount_point=props["mount"]
            )
            return
        except InvalidRequest as error:
            # A mount created a moment ago may still be upgrading to versioned storage.
            if "upgrad" not in str(error).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class KvSecretProvider(Provider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        mount = _validated_mount(props["mount"])
        path = _validated_path(props["path"], "secret path")
        _kv_write(_client(props), props)  # a new version over any left by an interrupted run (base.py)
        return CreateResult(id_=f"{mount}/{path}", outs=props)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        try:
            response = _client(props).secrets.kv.v2.read_secret_version(
                props["path"], mount_point=props["mount"], raise_on_deleted_version=True
            )
        except InvalidPath:
            # No metadata, latest version deleted or destroyed, or the mount itself is gone.
            return ReadResult(id_="", outs={})
        data = response["data"]["data"]
        if data is None:
            return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs={**props, "data": dict(data)})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return diff_properties(olds, news, updatable=["data"], replace_on=["mount", "path"])

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # Writes a new version; older versions stay readable to holders of the path until delete.
        _kv_write(_client(news), news)
        return UpdateResult(outs=news)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        # Metadata and all versions: nothing of the secret stays behind. InvalidPath: the mount is gone already.
        with contextlib.suppress(InvalidPath):
            _client(props).secrets.kv.v2.delete_metadata_and_all_versions(
                _validated_path(props["path"], "secret path"), mount_point=_validated_mount(props["mount"])
            )


class VaultKvSecret(Resource):
    """One KV v2 secret (all its key/value pairs); `data` is secret in state."""

    mount: pulumi.Output[str]
    path: pulumi.Output[str]
    data: pulumi.Output[dict[str, str]]

    def __init__(
        self,
        resource_name: str,
        args: KvSecretArgs,
        connection: pulumi.Input[VaultConnection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        _validated_mount(args.mount)
        _validated_path(args.path, "secret path")
        props = resource_props(args, connection)
        props["data"] = pulumi.Output.secret(args.data)
        options = pulumi.ResourceOptions.merge(
            secret_options(opts), pulumi.ResourceOptions(additional_secret_outputs=["data"])
        )
        super().__init__(KvSecretProvider(), resource_name, props, options)
