"""The Python SDKs must be the versions of the binaries the toolchain builds (one source: versions.toml)."""

from __future__ import annotations

import tomllib
from importlib import metadata

from falcone import toolchain
from falcone.toolchain import REPO_ROOT


def _pins() -> dict[str, str]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for requirement in project["dependencies"]:
        name, _, version = requirement.partition("==")
        pins[name.split("[")[0].strip().lower()] = version.strip()
    return pins


def test_pulumi_sdk_is_pinned_to_the_cli_version() -> None:
    built = toolchain.load()
    assert _pins()["pulumi"] == built.pulumi_version
    assert metadata.version("pulumi") == built.pulumi_version


def test_each_provider_sdk_is_pinned_to_its_binary_version() -> None:
    built = toolchain.load()
    assert built.providers, "versions.toml lists no provider"
    for provider in built.providers:
        assert _pins()[provider.python_package] == provider.python_version
        assert metadata.version(provider.python_package) == provider.python_version


def test_install_locations_are_keyed_by_version() -> None:
    built = toolchain.load()
    assert built.pulumi_version in str(built.install_dir)
    for provider in built.providers:
        assert provider.version in str(built.provider_binary(provider).parent)
