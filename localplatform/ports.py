"""Is a TCP port free on the loopback, and if not, which process holds it?

The owner lookup reads /proc (no `ss`/`lsof` dependency): /proc/net/tcp{,6} maps listening sockets
to inodes, /proc/<pid>/fd maps inodes to processes. Other users' processes may be unreadable; then
the owner is simply unknown.
"""

import os
import socket
from dataclasses import dataclass
from pathlib import Path

TCP_LISTEN = "0A"  # socket state code for LISTEN in /proc/net/tcp


@dataclass(frozen=True)
class PortOwner:
    pid: int
    cmdline: str

    def describe(self) -> str:
        return f"pid {self.pid} ({self.cmdline})"


def port_in_use(host: str, port: int) -> bool:
    """True when something already listens on host:port (or on a wildcard address covering it).

    SO_REUSEADDR lets the bind succeed over sockets in TIME_WAIT left by a server we just
    stopped, while a live listener still makes it fail.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def port_accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when a TCP connection to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def listening_inodes(proc_net_tcp: str, port: int) -> set[int]:
    """Socket inodes listening on `port` in the text of /proc/net/tcp or /proc/net/tcp6."""
    inodes: set[int] = set()
    for line in proc_net_tcp.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        local, state, inode = fields[1], fields[3], fields[9]
        _, _, port_hex = local.rpartition(":")
        if state == TCP_LISTEN and int(port_hex, 16) == port:
            inodes.add(int(inode))
    return inodes


def find_port_owner(port: int, proc: Path = Path("/proc")) -> PortOwner | None:
    """The process listening on `port`, when /proc lets us see it."""
    inodes: set[int] = set()
    for name in ("tcp", "tcp6"):
        try:
            inodes |= listening_inodes((proc / "net" / name).read_text(), port)
        except OSError:
            continue
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for pid_dir in proc.iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            for fd in (pid_dir / "fd").iterdir():
                if os.readlink(fd) in targets:
                    return PortOwner(int(pid_dir.name), read_cmdline(pid_dir))
        except OSError:  # process gone or not ours to inspect
            continue
    return None


def read_cmdline(pid_dir: Path) -> str:
    try:
        raw = (pid_dir / "cmdline").read_bytes()
    except OSError:
        return "?"
    text = raw.replace(b"\0", b" ").decode(errors="replace").strip()
    return text[:160] + ("..." if len(text) > 160 else "")
