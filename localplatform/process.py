"""Start server processes in the background, track them by PID file, stop them by PID.

Each server runs in its own session (process group whose id is the server's PID), so stopping
signals that group: wrapper scripts (kc.sh) and children (PostgreSQL backends) go with it, and
nothing is ever looked up or killed by name.
"""

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from localplatform.errors import InstallError

PROC = Path("/proc")


@dataclass(frozen=True)
class PidRecord:
    pid: int
    # Kernel start time of the process (clock ticks since boot): guards against PID reuse.
    start_ticks: int


def process_start_ticks(pid: int) -> int | None:
    """Start time of a live (non-zombie) process, or None if there is no such process."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    state, start_ticks = fields[0], int(fields[19])
    if state in ("Z", "X"):
        return None
    return start_ticks


def reap(pid: int) -> None:
    """Collect the exit status of a child we started in this process, so it stops being a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def is_alive(record: PidRecord) -> bool:
    reap(record.pid)
    return process_start_ticks(record.pid) == record.start_ticks


def group_members(pgid: int) -> list[int]:
    """PIDs of live processes in process group `pgid`."""
    members = []
    for pid_dir in PROC.iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            stat = (pid_dir / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            members.append(int(pid_dir.name))
    return members


def read_pid_file(path: Path) -> PidRecord | None:
    try:
        data = json.loads(path.read_text())
        return PidRecord(pid=int(data["pid"]), start_ticks=int(data["start_ticks"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_pid_file(path: Path, pid: int) -> PidRecord:
    ticks = process_start_ticks(pid)
    if ticks is None:
        raise ProcessLookupError(pid)
    record = PidRecord(pid=pid, start_ticks=ticks)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": record.pid, "start_ticks": record.start_ticks}) + "\n")
    return record


def running_record(path: Path) -> PidRecord | None:
    """The PID file's process if it is still the one we started, else None (stale files removed)."""
    record = read_pid_file(path)
    if record is None:
        return None
    if is_alive(record):
        return record
    path.unlink(missing_ok=True)
    return None


def spawn(
    cmd: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start `cmd` detached in its own session, appending stdout and stderr to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        log.write(f"\n===== falcone start {stamp}: {' '.join(cmd)}\n".encode())
        log.flush()
        return subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,  # own process group, survives the CLI, stopped as a group
            user=user,
            group=user,
        )


def signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def stop_process(record: PidRecord, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> bool:
    """Signal the process group, wait for it to exit, SIGKILL it after `timeout`.

    Returns True when it exited on `sig`, False when it had to be killed.
    """
    if not is_alive(record):
        return True
    signal_group(record.pid, sig)
    if wait_for(lambda: not is_alive(record) and not group_members(record.pid), timeout):
        return True
    if is_alive(record):
        signal_group(record.pid, signal.SIGKILL)
    for pid in group_members(record.pid):  # children left behind by the leader
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not is_alive(record) and not group_members(record.pid), 10.0)
    return False


def wait_for(check: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path`: two `start`/`stop` commands never act on one server at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def run_checked(
    cmd: Sequence[str],
    what: str,
    fix: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
    log_path: Path | None = None,
) -> str:
    """Run a setup command to completion; on failure raise an error naming the cause and the fix."""
    result = subprocess.run(
        list(cmd),
        capture_output=True,
        text=True,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        user=user,
        group=user,
        check=False,
    )
    output = (result.stdout or "") + (result.stderr or "")
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("a") as log:
            log.write(f"\n===== {what}: {' '.join(cmd)}\n{output}")
    if result.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-25:])
        raise InstallError(f"{what} failed (exit {result.returncode}): {' '.join(cmd)}\n{tail}\nfix: {fix}")
    return output
