"""The OpenBao dynamic provider, run by the real engine against the local platform's `bao server -dev`.

Isolation: one KV v2 mount, a policy per tenant scoped to its own paths, and tokens carrying one policy each;
token A reads A's secret and is refused (403) on B's. Drift on a policy, a secret and the mount is detected by
refresh and repaired by `up`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import hvac
import hvac.exceptions
import pulumi
import pytest
from pulumi.automation import OpType

from components.connections import Backends, VaultConnection
from components.providers.vault import (
    KvSecretArgs,
    KvSecretProvider,
    MountArgs,
    MountProvider,
    PolicyArgs,
    PolicyProvider,
    VaultKvSecret,
    VaultMount,
    VaultPolicy,
)
from falcone import pulumi_runner
from falcone.toolchain import Toolchain
from localplatform.endpoints import OpenBaoEndpoint
from tests.providers.direct import provider_props

pytestmark = [pytest.mark.platform, pytest.mark.toolchain]

TENANTS = ("a", "b")


def _quiet(_line: str) -> None:
    """Engine output goes to the test log only on failure (the CommandError carries it)."""


def _policy_hcl(mount: str, tenant: str) -> str:
    # Written with its own layout on purpose: read compares the live text up to whitespace.
    return (
        f'path "{mount}/data/tenant/{tenant}/*" {{\n'
        '  capabilities = ["create", "read", "update", "delete"]\n'
        "}\n"
        f'path "{mount}/metadata/tenant/{tenant}/*" {{\n'
        '  capabilities = ["read", "list"]\n'
        "}\n"
    )


def _secret_value(tenant: str) -> str:
    return f"db-password-of-{tenant}"


def _program(prefix: str, connection: VaultConnection) -> pulumi.automation.PulumiFn:
    def program() -> None:
        mount = VaultMount("mount", MountArgs(path=f"{prefix}-kv", description=f"secrets of {prefix}"), connection)
        for tenant in TENANTS:
            VaultPolicy(
                f"policy-{tenant}",
                PolicyArgs(name=f"{prefix}-{tenant}", policy=_policy_hcl(f"{prefix}-kv", tenant)),
                connection,
            )
            VaultKvSecret(
                f"secret-{tenant}",
                KvSecretArgs(
                    mount=f"{prefix}-kv", path=f"tenant/{tenant}/db", data={"password": _secret_value(tenant)}
                ),
                connection,
                opts=pulumi.ResourceOptions(depends_on=[mount]),
            )

    return program


SECRET_SIG = "4dabf18193072939515e22adb298388d"  # how Pulumi state marks a secret value


def _state_file(backend_dir: Path, project: str, stack_name: str) -> str:
    return (backend_dir / ".pulumi" / "stacks" / project / f"{stack_name}.json").read_text()


def _sys(client: hvac.Client) -> Any:
    return client.sys  # types-hvac leaves several sys methods untyped


def _mount(root: hvac.Client, path: str) -> dict[str, Any] | None:
    entry = _sys(root).list_mounted_secrets_engines()["data"].get(f"{path}/")
    return entry if isinstance(entry, dict) else None


def _policy(root: hvac.Client, name: str) -> str | None:
    try:
        return str(_sys(root).read_policy(name)["data"]["rules"])
    except hvac.exceptions.InvalidPath:
        return None


def _read(client: hvac.Client, mount: str, tenant: str) -> dict[str, Any]:
    response = client.secrets.kv.v2.read_secret_version(
        f"tenant/{tenant}/db", mount_point=mount, raise_on_deleted_version=True
    )
    return dict(response["data"]["data"])


def _write(client: hvac.Client, mount: str, tenant: str, data: dict[str, str]) -> None:
    client.secrets.kv.v2.create_or_update_secret(f"tenant/{tenant}/db", secret=data, mount_point=mount)


@pytest.fixture
def root(openbao_endpoint: OpenBaoEndpoint) -> hvac.Client:
    return hvac.Client(url=openbao_endpoint.url, token=openbao_endpoint.root_token)


@pytest.fixture
def tokens(root: hvac.Client) -> Iterator[list[str]]:
    """Tokens the test creates, revoked at the end whatever happens."""
    created: list[str] = []
    yield created
    for token in created:
        root.auth.token.revoke(token)


def _tenant_client(root: hvac.Client, policy: str, tokens: list[str]) -> hvac.Client:
    token = str(root.auth.token.create(policies=[policy], no_default_policy=True, ttl="10m")["auth"]["client_token"])
    tokens.append(token)
    return hvac.Client(url=root.url, token=token)


def test_mount_policies_and_secrets_isolate_tenants(
    toolchain: Toolchain, backends: Backends, root: hvac.Client, tokens: list[str], backend_dir: Path
) -> None:
    _ = toolchain
    assert backends.vault is not None
    prefix = f"t{uuid4().hex[:8]}"
    mount = f"{prefix}-kv"
    stack = pulumi_runner.inline_stack("bao", _program(prefix, backends.vault), backend_dir, "foundation-vault")
    try:
        assert stack.up(on_output=_quiet).summary.result == "succeeded"
        live_mount = _mount(root, mount)
        assert live_mount is not None
        assert (live_mount["type"], live_mount["options"], live_mount["description"]) == (
            "kv",
            {"version": "2"},
            f"secrets of {prefix}",
        )
        for tenant in TENANTS:
            assert _policy(root, f"{prefix}-{tenant}") == _policy_hcl(mount, tenant)
            assert _read(root, mount, tenant) == {"password": _secret_value(tenant)}

        # Credentials and secret data are secrets in state: encrypted on disk, never in clear text.
        state = _state_file(backend_dir, "foundation-vault", "bao")
        for tenant in TENANTS:
            assert _secret_value(tenant) not in state
        assert backends.vault.token not in state
        deployment = stack.export_stack().deployment
        assert deployment is not None
        exported = {r["urn"].rsplit("::", 1)[1]: r for r in deployment["resources"]}
        for tenant in TENANTS:
            for side in ("inputs", "outputs"):
                assert SECRET_SIG in exported[f"secret-{tenant}"][side]["data"]

        # Isolation: each token reads its own tenant's secret (positive control) and gets 403 on the other's.
        client_a = _tenant_client(root, f"{prefix}-a", tokens)
        client_b = _tenant_client(root, f"{prefix}-b", tokens)
        assert _read(client_a, mount, "a") == {"password": _secret_value("a")}
        assert _read(client_b, mount, "b") == {"password": _secret_value("b")}
        _write(client_a, mount, "a", {"password": _secret_value("a")})  # its own path is writable
        with pytest.raises(hvac.exceptions.Forbidden):
            _read(client_a, mount, "b")
        with pytest.raises(hvac.exceptions.Forbidden):
            _write(client_a, mount, "b", {"password": "stolen"})
        with pytest.raises(hvac.exceptions.Forbidden):
            _read(client_b, mount, "a")
        with pytest.raises(hvac.exceptions.Forbidden):
            client_a.secrets.kv.v2.read_secret_version(
                "tenant/a/db", mount_point="secret", raise_on_deleted_version=True
            )  # other mounts too

        clean = stack.preview_refresh(on_output=_quiet)
        assert set(clean.change_summary) <= {OpType.SAME}, clean.change_summary

        # Out-of-band changes: policy A widened to B's paths, B's secret overwritten, the mount re-described.
        _sys(root).create_or_update_policy(f"{prefix}-a", _policy_hcl(mount, "a") + _policy_hcl(mount, "b"))
        _write(root, mount, "b", {"password": "tampered"})
        _sys(root).tune_mount_configuration(mount, description="changed by hand")
        assert _read(client_a, mount, "b") == {"password": "tampered"}  # the widened policy really applies

        drift = stack.preview_refresh(on_output=_quiet)
        assert drift.change_summary.get(OpType.UPDATE) == 3, drift.change_summary
        stack.refresh(on_output=_quiet)
        assert stack.up(on_output=_quiet).summary.result == "succeeded"

        assert _policy(root, f"{prefix}-a") == _policy_hcl(mount, "a")
        with pytest.raises(hvac.exceptions.Forbidden):
            _read(client_a, mount, "b")  # the existing token lost B's paths again
        assert _read(client_a, mount, "a") == {"password": _secret_value("a")}
        assert _read(root, mount, "b") == {"password": _secret_value("b")}
        repaired_mount = _mount(root, mount)
        assert repaired_mount is not None
        assert repaired_mount["description"] == f"secrets of {prefix}"
        after = stack.preview_refresh(on_output=_quiet)
        assert set(after.change_summary) <= {OpType.SAME}, after.change_summary
    finally:
        stack.destroy(on_output=_quiet)
    assert _mount(root, mount) is None
    for tenant in TENANTS:
        assert _policy(root, f"{prefix}-{tenant}") is None
    stack.workspace.remove_stack("bao")


# --- adoption: a create that reached the server but not the state runs again (components/providers/base.py) ---


@pytest.fixture
def vault(backends: Backends) -> VaultConnection:
    assert backends.vault is not None
    return backends.vault


def test_create_adopts_a_mount_left_by_an_interrupted_run(vault: VaultConnection, root: hvac.Client) -> None:
    path = f"t{uuid4().hex[:8]}-kv"
    props = provider_props(MountArgs(path=path, description="declared"), vault)
    root.sys.enable_secrets_engine("kv", path=path, description="leftover", options={"version": "2"})
    kept = provider_props(KvSecretArgs(mount=path, path="tenant/a/db", data={"password": "kept"}), vault)
    try:
        KvSecretProvider().create(kept)  # waits out the fresh mount's storage upgrade

        result = MountProvider().create(props)

        assert (result.id, result.outs) == (path, props)
        mount = _mount(root, path)
        assert mount is not None
        assert (mount["type"], mount["options"], mount["description"]) == ("kv", {"version": "2"}, "declared")
        assert _read(root, path, "a") == {"password": "kept"}  # adopted, not remounted
    finally:
        MountProvider().delete(path, props)

    # Positive control: another engine than declared (KV v1) cannot be adopted, and is left as it is.
    root.sys.enable_secrets_engine("kv", path=path, options={"version": "1"})
    try:
        with pytest.raises(RuntimeError, match="cannot be adopted"):
            MountProvider().create(props)
        mount = _mount(root, path)
        assert mount is not None
        assert mount["options"] == {"version": "1"}
    finally:
        MountProvider().delete(path, props)


def test_create_adopts_a_policy_left_by_an_interrupted_run(vault: VaultConnection, root: hvac.Client) -> None:
    name = f"t{uuid4().hex[:8]}-a"
    props = provider_props(PolicyArgs(name=name, policy=_policy_hcl("kv", "a")), vault)
    root.sys.create_or_update_policy(name, _policy_hcl("kv", "b"))  # the leftover grants another tenant's paths
    try:
        result = PolicyProvider().create(props)

        assert (result.id, result.outs) == (name, props)
        assert _policy(root, name) == _policy_hcl("kv", "a")
        with pytest.raises(hvac.exceptions.InvalidRequest):  # positive control: invalid HCL still fails
            PolicyProvider().create({**props, "name": f"{name}-x", "policy": "path {"})
    finally:
        PolicyProvider().delete(name, props)


def test_create_of_a_secret_left_by_an_interrupted_run_writes_the_declared_data(
    vault: VaultConnection, root: hvac.Client
) -> None:
    """A KV write is an upsert: the create runs again and its version is the latest."""
    path = f"t{uuid4().hex[:8]}-kv"
    root.sys.enable_secrets_engine("kv", path=path, options={"version": "2"})
    props = provider_props(KvSecretArgs(mount=path, path="tenant/a/db", data={"password": "declared"}), vault)
    try:
        KvSecretProvider().create({**props, "data": {"password": "leftover", "extra": "x"}})  # then forgotten

        result = KvSecretProvider().create(props)

        assert (result.id, result.outs) == (f"{path}/tenant/a/db", props)
        assert _read(root, path, "a") == {"password": "declared"}
    finally:
        _sys(root).disable_secrets_engine(path)
