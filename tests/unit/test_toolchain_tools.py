"""`[tools.*]` of toolchain/versions.toml: the version it names is the one its wrapper module builds, and a
disagreement is refused before anything is compiled."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from falcone import toolchain
from falcone.errors import SetupError


def test_each_tool_version_is_what_its_wrapper_module_requires() -> None:
    built = toolchain.load()
    assert [tool.name for tool in built.tools] == ["helm"]
    for tool in built.tools:
        go_dir = toolchain.TOOLCHAIN_DIR / "go" / tool.go_dir
        assert toolchain.required_version(go_dir, tool.module) == tool.version
        assert tool.package.startswith(tool.module + "/")


def test_tool_binaries_are_keyed_by_version() -> None:
    built = toolchain.load()
    helm = built.tool("helm")
    assert built.tool_binary(helm).parent.name == f"helm-{helm.version}"
    assert built.tool_binary(helm).name == "helm"


def test_an_unknown_tool_is_named() -> None:
    with pytest.raises(KeyError, match=r"no \[tools.kubectl\]"):
        toolchain.load().tool("kubectl")


def test_a_version_its_wrapper_module_does_not_require_is_refused_before_building(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("FALCONE_CACHE_DIR", str(cache))
    built = toolchain.load()
    wrong = dataclasses.replace(built.tool("helm"), version="4.0.0")
    with pytest.raises(
        SetupError, match=r"says helm 4\.0\.0, but .*toolchain/go/helm/go\.mod requires helm\.sh/helm/v4 v4\.3\.1"
    ):
        toolchain.build_tool(built, wrong, lambda _line: None)
    assert not (cache / "toolchain").exists()
