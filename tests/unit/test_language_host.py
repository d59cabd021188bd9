"""Falcone's Python language host: how it picks the interpreter and runs the upstream exec shim."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from google.protobuf import struct_pb2
from pulumi.runtime.proto import language_pb2

from falcone.toolchain import TOOLCHAIN_DIR


def _host() -> ModuleType:
    spec = importlib.util.spec_from_file_location("langhost", TOOLCHAIN_DIR / "langhost" / "pulumi_language_python.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _info(root: Path, **options: str) -> language_pb2.ProgramInfo:
    struct = struct_pb2.Struct()
    struct.update(options)
    return language_pb2.ProgramInfo(
        root_directory=str(root), program_directory=str(root), entry_point=".", options=struct
    )


def test_relative_virtualenv_resolves_against_the_project_root(tmp_path: Path) -> None:
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "venv" / "bin" / "python").touch()
    assert _host().python_for(_info(tmp_path, virtualenv="venv")) == str(tmp_path / "venv" / "bin" / "python")


def test_missing_virtualenv_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="scripts/setup"):
        _host().python_for(_info(tmp_path, virtualenv=".venv"))


def test_run_passes_the_request_to_the_exec_shim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host = _host()
    seen: dict[str, Any] = {}

    def fake_run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        seen["args"], seen["env"] = args, kwargs["env"]
        return subprocess.CompletedProcess(args, 3)

    monkeypatch.setattr(host.subprocess, "run", fake_run)
    monkeypatch.setenv("PULUMI_PYTHON_CMD", "/usr/bin/python3")
    request = language_pb2.RunRequest(
        project="falcone",
        stack="demo",
        pwd=str(tmp_path),
        monitor_address="127.0.0.1:1",
        dryRun=True,
        parallel=4,
        config={"falcone:plan": "starter"},
        configSecretKeys=["falcone:backends"],
        info=language_pb2.ProgramInfo(root_directory=str(tmp_path), entry_point="."),
    )
    response = host.LanguageHost("127.0.0.1:2", "").Run(request, None)

    args = seen["args"]
    assert args[:3] == ["/usr/bin/python3", "-u", str(host.EXEC_SHIM)]
    flags = dict(zip(args[3:-1:2], args[4:-1:2], strict=True))
    assert flags == {
        "--monitor": "127.0.0.1:1",
        "--engine": "127.0.0.1:2",
        "--project": "falcone",
        "--stack": "demo",
        "--pwd": str(tmp_path),
        "--dry_run": "true",
        "--parallel": "4",
        "--root_directory": str(tmp_path),
    }
    assert args[-1] == "."
    assert json.loads(seen["env"]["PULUMI_CONFIG"]) == {"falcone:plan": "starter"}
    assert json.loads(seen["env"]["PULUMI_CONFIG_SECRET_KEYS"]) == ["falcone:backends"]
    assert response.error == "Program exited with non-zero exit code: 3"
