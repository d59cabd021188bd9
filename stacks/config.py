"""Stack configuration, read and validated before any resource is registered.

Every error names the config key (or the stack name) and what is wrong, and stops the program with
`pulumi.RunError`, so `pulumi preview` fails cleanly before touching anything.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import pulumi

from components.connections import Backends
from falcone.naming import InvalidSlugError, TenantNames, WorkspaceNames
from falcone.plans import Plan, UnknownPlanError, catalog

NAMESPACE = "falcone"
T = TypeVar("T")


class ConfigError(pulumi.RunError):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


def _config() -> pulumi.Config:
    return pulumi.Config(NAMESPACE)


def backends() -> pulumi.Output[Backends]:
    """The admin connections (secret). Parsed inside the Output, so a bad value still fails at preview."""
    raw = _config().get_secret("backends")
    if raw is None:
        raise ConfigError(
            f"{NAMESPACE}:backends", "missing: set it with `pulumi config set --secret falcone:backends '<json>'`"
        )

    def parse(text: str) -> Backends:
        try:
            return Backends.from_config(json.loads(text))
        except (ValueError, TypeError) as error:
            raise ConfigError(f"{NAMESPACE}:backends", str(error)) from None

    return raw.apply(parse)


def require_connection(backends_output: pulumi.Output[Backends], name: str) -> pulumi.Output[Any]:
    def pick(value: Backends) -> Any:
        connection = getattr(value, name)
        if connection is None:
            raise ConfigError(f"{NAMESPACE}:backends", f"has no {name!r} connection")
        return connection

    return backends_output.apply(pick)


def plan(key: str = "plan") -> Plan:
    name = _config().get(key)
    if not name:
        raise ConfigError(f"{NAMESPACE}:{key}", f"missing; one of {', '.join(sorted(catalog().plans))}")
    try:
        return catalog().plan(name)
    except UnknownPlanError as error:
        raise ConfigError(f"{NAMESPACE}:{key}", str(error)) from None


def deployment_profile(key: str) -> str | None:
    """An optional deployment profile's name (falcone/catalog/plans.toml); None when the key is unset."""
    name = _config().get(key)
    if name is None:
        return None
    profiles = catalog().profiles
    if name not in profiles:
        raise ConfigError(f"{NAMESPACE}:{key}", f"unknown profile {name!r}; one of {', '.join(sorted(profiles))}")
    return name


def string(key: str, default: str) -> str:
    return _config().get(key) or default


def boolean(key: str, default: bool) -> bool:
    value = _config().get(key)
    if value is None:
        return default
    if value not in {"true", "false"}:
        raise ConfigError(f"{NAMESPACE}:{key}", f"must be true or false, not {value!r}")
    return value == "true"


def string_list(key: str, default: list[str]) -> list[str]:
    value = _config().get(key)
    if value is None:
        return default
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        raise ConfigError(f"{NAMESPACE}:{key}", "must be a JSON list of strings") from None
    if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
        raise ConfigError(f"{NAMESPACE}:{key}", "must be a JSON list of strings")
    return parsed


def tenant_from_stack(stack: str) -> TenantNames:
    try:
        return TenantNames(stack.removeprefix("tenant-"))
    except InvalidSlugError as error:
        raise ConfigError("stack name", f"{stack!r}: {error}") from None


def workspace_from_stack(stack: str) -> WorkspaceNames:
    tenant, dot, workspace = stack.removeprefix("workspace-").partition(".")
    if not dot:
        raise ConfigError("stack name", f"{stack!r}: a workspace stack is named workspace-<tenant>.<workspace>")
    try:
        return WorkspaceNames(tenant=tenant, slug=workspace)
    except InvalidSlugError as error:
        raise ConfigError("stack name", f"{stack!r}: {error}") from None
