"""The toolchain built from Go modules: pinned versions, registered plugins, no downloads."""

from __future__ import annotations

import json
import os
import subprocess

import grpc
import pytest
from google.protobuf import empty_pb2
from pulumi.runtime.proto import provider_pb2_grpc

from falcone import toolchain as toolchain_module

pytestmark = pytest.mark.toolchain


def _pulumi(toolchain: toolchain_module.Toolchain, *args: str) -> str:
    completed = subprocess.run(
        [str(toolchain.pulumi), *args],
        env={**os.environ, **toolchain.env()},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return completed.stdout


@pytest.mark.usefixtures("offline")
def test_pulumi_version_is_the_pinned_one(toolchain: toolchain_module.Toolchain) -> None:
    assert _pulumi(toolchain, "version").strip() == f"v{toolchain.pulumi_version}"


@pytest.mark.usefixtures("offline")
def test_plugin_ls_lists_every_provider_at_its_pinned_version(toolchain: toolchain_module.Toolchain) -> None:
    plugins = json.loads(_pulumi(toolchain, "plugin", "ls", "--json"))
    installed = {(p["name"], p["kind"], p["version"]) for p in plugins}
    for provider in toolchain.providers:
        assert (provider.name, "resource", provider.version) in installed


def test_language_host_and_dynamic_provider_plugin_sit_next_to_pulumi(
    toolchain: toolchain_module.Toolchain,
) -> None:
    for name in ("pulumi-language-python", "pulumi-language-python-exec", "pulumi-resource-pulumi-python"):
        path = toolchain.bin_dir / name
        assert path.exists(), name
        assert os.access(path, os.X_OK), f"{name} is not executable"


def test_provider_binaries_report_their_pinned_version(toolchain: toolchain_module.Toolchain) -> None:
    # The version is stamped at link time; GetPluginInfo of an unstamped provider answers "" or "dev".
    for provider in toolchain.providers:
        process = subprocess.Popen(
            [str(toolchain.provider_binary(provider))],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert process.stdout is not None
            port = int(process.stdout.readline().strip())
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                info = provider_pb2_grpc.ResourceProviderStub(channel).GetPluginInfo(empty_pb2.Empty(), timeout=30)
            assert info.version == provider.version
        finally:
            process.terminate()
            process.wait(timeout=30)
