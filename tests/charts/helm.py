"""Helm, built from its Go module like the rest of the toolchain and cached by version.

The wrapper module `toolchain/go/helm` (go.mod + go.sum + tools.go) is the one place that says which Helm:
its `require helm.sh/helm/v4 <version>` line. The binary lands in `<cache>/toolchain/tools/helm-<version>/helm`
with a stamp of the wrapper's files, so a second build is a stamp check. Only the chart's checks need it (the
platform stack installs the chart through the Kubernetes provider's own Helm support), so nothing else builds it.

`.venv/bin/python -m tests.charts.helm` builds it if needed and prints its path:
`$(.venv/bin/python -m tests.charts.helm) lint charts/falcone`.
"""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from falcone import toolchain
from falcone.errors import SetupError

GO_DIR = toolchain.TOOLCHAIN_DIR / "go" / "helm"
MODULE = "helm.sh/helm/v4"
# What upstream's Makefile stamps in (`helm version` reports it).
VERSION_VARIABLE = "helm.sh/helm/v4/internal/version.version"
TREE_STATE_VARIABLE = "helm.sh/helm/v4/internal/version.gitTreeState"


def version() -> str:
    """The Helm version the wrapper module requires (without the leading v)."""
    found = re.search(rf"^\s*(?:require\s+)?{re.escape(MODULE)}\s+v(\S+)", (GO_DIR / "go.mod").read_text(), re.M)
    if found is None:
        raise SetupError(f"{GO_DIR / 'go.mod'} does not require {MODULE}", fix="restore it from git")
    return found.group(1)


def binary() -> Path:
    return toolchain.load().cache_root / "toolchain" / "tools" / f"helm-{version()}" / "helm"


def build(progress: toolchain.Progress) -> Path:
    """The helm binary, built unless its stamp says it is current (about 3 min cold on 2 cores)."""
    target = binary()
    stamp = toolchain._stamp([*GO_DIR.glob("*.go"), GO_DIR / "go.mod", GO_DIR / "go.sum"], version())
    target.parent.mkdir(parents=True, exist_ok=True)
    # Two test sessions may ask at once: the second waits, then finds it built.
    with (target.parent / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if toolchain._up_to_date(target, stamp):
            return target
        progress(f"helm {version()}: building from Go modules (a few minutes when cold)")
        partial = target.with_name("helm.partial")
        toolchain._go_build(
            GO_DIR,
            package=f"{MODULE}/cmd/helm",
            output=partial,
            ldflags=f"-s -w -X {VERSION_VARIABLE}=v{version()} -X {TREE_STATE_VARIABLE}=clean",
            log=target.parent / "build.log",
            what="building helm",
        )
        partial.replace(target)
        toolchain._write_stamp(target, stamp)
    return target


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
