import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from localplatform.errors import PortInUseError
from localplatform.ports import find_port_owner, listening_inodes, port_accepts, port_in_use
from localplatform.service import Launch, PortSpec, Service
from localplatform.settings import PlatformSettings

# Two LISTEN sockets (state 0A) on ports 0xD8A0=55456 and 0x1F90=8080, one ESTABLISHED (01) on 55456.
PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:D8A0 00000000:0000 0A 00000000:00000000 00:00000000 00000000   101        0 4242 1 0
   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0
   2: 0100007F:D8A0 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 999 1 0
"""


def test_listening_inodes_only_counts_listeners_on_the_port() -> None:
    assert listening_inodes(PROC_NET_TCP, 55456) == {4242}
    assert listening_inodes(PROC_NET_TCP, 8080) == {777}
    assert listening_inodes(PROC_NET_TCP, 9999) == set()


def test_listening_inodes_ignores_garbage_lines() -> None:
    assert listening_inodes("header\n\n  short line\n", 80) == set()


@pytest.fixture
def listener() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_port_in_use_and_owner(listener: int) -> None:
    assert port_in_use("127.0.0.1", listener)
    assert port_accepts("127.0.0.1", listener)
    owner = find_port_owner(listener)
    assert owner is not None
    assert owner.pid == os.getpid()
    assert "python" in owner.cmdline


def test_free_port_is_not_in_use() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Closed without listen(): free again.
    assert not port_in_use("127.0.0.1", port)
    assert not port_accepts("127.0.0.1", port)
    assert find_port_owner(port) is None


class _Dummy(Service):
    name = "dummy"
    version = "0"

    def __init__(self, settings: PlatformSettings, port: int) -> None:
        super().__init__(settings)
        self.port = port

    def ports(self) -> list[PortSpec]:
        return [PortSpec(self.port, "postgres_port")]

    def install(self) -> None:
        pass

    def launch(self) -> Launch:
        return Launch(cmd=["true"])

    def is_ready(self) -> bool:
        return False

    def endpoint(self) -> PortSpec:  # type: ignore[override]
        return PortSpec(self.port, "postgres_port")


def test_check_ports_names_port_process_and_env_var(listener: int, tmp_path: Path) -> None:
    service = _Dummy(PlatformSettings(data_dir=tmp_path), listener)
    with pytest.raises(PortInUseError) as err:
        service.check_ports()
    message = str(err.value)
    assert f"port {listener}" in message
    assert f"pid {os.getpid()}" in message
    assert "FALCONE_POSTGRES_PORT" in message
