import signal
import sys
from pathlib import Path

from localplatform import process


def test_pid_file_round_trip_and_stale_file_removed(tmp_path: Path) -> None:
    log, pid_file = tmp_path / "x.log", tmp_path / "x.pid"
    proc = process.spawn([sys.executable, "-c", "import time; time.sleep(60)"], log)
    record = process.write_pid_file(pid_file, proc.pid)
    assert process.read_pid_file(pid_file) == record
    assert process.running_record(pid_file) == record

    assert process.stop_process(record, signal.SIGTERM, timeout=10)
    assert not process.is_alive(record)
    assert process.running_record(pid_file) is None
    assert not pid_file.exists()
    assert "falcone start" in log.read_text()


def test_pid_reuse_is_detected(tmp_path: Path) -> None:
    pid_file = tmp_path / "x.pid"
    pid_file.write_text('{"pid": 1, "start_ticks": 123456789}')  # PID 1 exists, but started at another time
    assert process.running_record(pid_file) is None


def test_stop_kills_a_process_ignoring_sigterm(tmp_path: Path) -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    )
    log = tmp_path / "stubborn.log"
    proc = process.spawn([sys.executable, "-c", code], log)
    record = process.write_pid_file(tmp_path / "s.pid", proc.pid)
    assert process.wait_for(lambda: "\nready\n" in log.read_text(), 10)  # not the echoed command line
    assert not process.stop_process(record, signal.SIGTERM, timeout=1)
    assert not process.is_alive(record)


def test_stop_takes_the_children_along(tmp_path: Path) -> None:
    code = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    )
    proc = process.spawn([sys.executable, "-c", code], tmp_path / "tree.log")
    record = process.write_pid_file(tmp_path / "t.pid", proc.pid)
    assert process.wait_for(lambda: len(process.group_members(record.pid)) == 2, 10)
    process.stop_process(record, signal.SIGTERM, timeout=10)
    assert process.group_members(record.pid) == []


def test_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert process.log_tail(log, 3) == "line 97\nline 98\nline 99"
    assert "no log" in process.log_tail(tmp_path / "missing.log")
