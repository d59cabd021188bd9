"""Bad setup states of the toolchain name the cause and the fix, without a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from falcone import toolchain
from falcone.errors import SetupError


def test_missing_go_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SetupError) as caught:
        toolchain._require_go()
    assert "go` command is not on PATH" in str(caught.value)
    assert "install Go" in caught.value.fix


def test_a_failed_build_names_the_cause_the_fix_and_the_log(tmp_path: Path) -> None:
    module = tmp_path / "broken"
    module.mkdir()
    (module / "go.mod").write_text("module falcone.local/broken\n\ngo 1.25\n")
    (module / "main.go").write_text("package main\n\nfunc main() { undefined() }\n")
    log = tmp_path / "build.log"
    with pytest.raises(SetupError) as caught:
        toolchain._go_build(module, package=".", output=tmp_path / "out", ldflags="", log=log, what="building x")
    message = str(caught.value)
    assert "building x failed" in message
    assert str(log) in message
    assert "undefined" in message  # the compiler's own words are shown
    assert "fix:" in message
    assert log.read_text().startswith("$ ")


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("reading https://proxy/…/@v/v1.zip: 403 Forbidden", "refused a module version"),
        ("dial tcp: lookup proxy: no such host", "unreachable"),
        ("missing go.sum entry for module providing package x", "go mod tidy"),
    ],
)
def test_hints_for_known_failures(output: str, expected: str) -> None:
    assert expected in toolchain._hint(output)
