"""The executor's Vault policy under mocks: it reads workspace credentials and nothing else."""

from __future__ import annotations

from components.connections import VaultConnection
from components.secrets import PlatformSecrets, PlatformSecretsArgs
from tests.components.mocks import run

VAULT = VaultConnection(address="http://127.0.0.1:1", token="t")


def test_executor_policy_reads_the_workspace_subtree_only() -> None:
    registered = run(lambda: PlatformSecrets("ps", PlatformSecretsArgs(connection=VAULT, mount="kv")).mount)
    policy = registered.named("ps-executor-policy").inputs
    assert policy["name"] == "executor-policy"  # no prefix: the plain name
    lines = policy["policy"].splitlines()
    assert {line.split('"')[1] for line in lines} == {"kv/data/workspace/*", "kv/metadata/workspace/*"}
    assert all('capabilities = ["read", "list"]' in line for line in lines)  # never create/update/delete


def test_platform_policies_carry_the_platforms_prefix() -> None:
    """Vault policy names are global: two platforms on one Vault must not share (and delete) each other's."""
    args = PlatformSecretsArgs(connection=VAULT, mount="kv", policy_prefix="plat42")
    registered = run(lambda: PlatformSecrets("ps", args).mount)
    names = {registered.named(f"ps-{policy}").inputs["name"] for policy in ("executor-policy", "gateway-policy")}
    assert names == {"plat42-executor-policy", "plat42-gateway-policy"}
