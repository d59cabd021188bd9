"""Helm for the chart's checks: `[tools.helm]` of toolchain/versions.toml, built from its Go module on first use
by `falcone.toolchain.build_tool` (cached by version, a stamp check when warm), and run with a home of its own.

`.venv/bin/python -m tests.charts.helm` builds it if needed and prints its path:
`$(.venv/bin/python -m tests.charts.helm) lint charts/falcone`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from falcone import toolchain
from falcone.errors import SetupError


def build(progress: toolchain.Progress) -> Path:
    """The helm binary, built unless its stamp says it is current (about 3 min cold on 2 cores)."""
    built = toolchain.load()
    helm = built.tool("helm")
    toolchain.build_tool(built, helm, progress)
    return built.tool_binary(helm)


@dataclass(frozen=True)
class Helm:
    """Runs the built binary with Helm's own directories kept out of the user's home."""

    path: Path
    home: Path

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_DATA_HOME": str(self.home / "data"),
        }

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.path), *args], env=self.env(), capture_output=True, text=True, check=False)


def main() -> int:
    try:
        path = build(lambda line: print(line, file=sys.stderr))
    except SetupError as error:
        print(error, file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
