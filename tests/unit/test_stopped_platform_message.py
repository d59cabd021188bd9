"""With the platform stopped, integration tests fail with the command that starts it, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from falcone.toolchain import REPO_ROOT


def test_platform_tests_say_how_to_start_the_platform(tmp_path: Path) -> None:
    env = {**os.environ, "FALCONE_DATA_DIR": str(tmp_path / "never-started")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/platform/test_smoke_postgres.py"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 1
    assert "start the platform: scripts/platform start" in result.stdout
    assert "Traceback" not in result.stdout
