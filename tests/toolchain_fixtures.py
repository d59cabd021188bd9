"""Fixtures for tests that run the real Pulumi engine on our toolchain."""

from __future__ import annotations

from pathlib import Path

import pytest

from falcone import toolchain as toolchain_module

# A closed port on loopback: any download attempt through these proxies fails at once, which proves that
# nothing in a test run reaches out for plugins or update checks.
NO_NETWORK_PROXY = "http://127.0.0.1:9"


@pytest.fixture(scope="session")
def toolchain() -> toolchain_module.Toolchain:
    built = toolchain_module.load()
    if not built.pulumi.exists() or any(not built.provider_binary(p).exists() for p in built.providers):
        pytest.fail("build the toolchain: scripts/setup (or: .venv/bin/python -m falcone toolchain build)")
    return built


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(variable, NO_NETWORK_PROXY)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """A project directory of the test's own: its stack config files never touch the repository root's."""
    return tmp_path / "project"


@pytest.fixture
def backend_dir(tmp_path: Path) -> Path:
    """A file backend of its own for each test: stacks never collide."""
    directory = tmp_path / "pulumi-state"
    directory.mkdir()
    return directory
