"""PostgreSQL 15 from Debian's package, as a disposable cluster inside the data dir.

PostgreSQL refuses to run as root, so initdb and the server run as the `postgres` OS user
(Python's subprocess switches user for us, so the PID we record is the postmaster's own).
The bootstrap superuser is `falcone_admin`, used for provisioning only; every connection, TCP or
socket, authenticates with SCRAM.
"""

import hashlib
import os
import signal
from pathlib import Path

import psycopg
from pydantic import BaseModel

from localplatform import versions
from localplatform.endpoints import PostgresEndpoint
from localplatform.errors import InstallError
from localplatform.process import run_checked
from localplatform.service import Launch, PortSpec, Service
from localplatform.settings import env_var

PG_USER = "postgres"
# Debian's postgresql-common creates and starts a "main" cluster on 5432 by default; we don't want it.
NO_MAIN_CLUSTER = Path("/etc/postgresql-common/createcluster.d/falcone-no-main-cluster.conf")


class Postgres(Service):
    name = "postgres"
    version = versions.POSTGRES_MAJOR
    start_timeout = 60.0
    # SIGTERM is PostgreSQL's "smart" shutdown, which waits for every client to disconnect;
    # SIGINT is "fast" shutdown: roll back open transactions, checkpoint, exit.
    stop_signal = signal.SIGINT

    @property
    def bin_dir(self) -> Path:
        return Path(f"/usr/lib/postgresql/{self.version}/bin")

    @property
    def data_path(self) -> Path:
        """`<data_dir>/postgres` when the postgres OS user can reach it; otherwise (e.g. a clone under a 0700
        temporary directory) a directory of its own under /var/lib/falcone, keyed by the data dir."""
        inside = self.settings.data_dir / self.name
        if _reachable_by_postgres(inside.parent):
            return inside
        key = hashlib.sha256(str(self.settings.data_dir.resolve()).encode()).hexdigest()[:12]
        return FALLBACK_ROOT / key / self.name

    @property
    def pgdata(self) -> Path:
        return self.data_path / "pgdata"

    @property
    def socket_dir(self) -> Path:
        return self.data_path / "run"

    def ports(self) -> list[PortSpec]:
        return [PortSpec(self.settings.postgres_port, "postgres_port")]

    def install(self) -> None:
        if (self.bin_dir / "postgres").exists():
            return
        if os.geteuid() != 0:
            raise InstallError(
                f"postgres: {self.bin_dir / 'postgres'} is missing and installing it needs root.\n"
                f"fix: sudo apt-get install -y postgresql-{self.version}"
            )
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        fix = "check that the Debian mirror is reachable (apt-get update), then run the command again"
        run_checked(["apt-get", "update"], "apt-get update", fix, env=env, log_path=self.log_file)
        run_checked(
            ["apt-get", "install", "-y", "postgresql-common"],
            "install postgresql-common",
            fix,
            env=env,
            log_path=self.log_file,
        )
        NO_MAIN_CLUSTER.parent.mkdir(parents=True, exist_ok=True)
        NO_MAIN_CLUSTER.write_text("# falcone: the local platform runs its own cluster\ncreate_main_cluster = false\n")
        run_checked(
            ["apt-get", "install", "-y", f"postgresql-{self.version}"],
            "install PostgreSQL",
            fix,
            env=env,
            log_path=self.log_file,
        )

    def _env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": str(self.data_path),
        }

    def prepare(self) -> None:
        FALLBACK_ROOT.mkdir(mode=0o755, parents=True, exist_ok=True)
        for d in (self.data_path, self.socket_dir):
            d.mkdir(parents=True, exist_ok=True)
            os.chown(d, *_pg_ids())
        if (self.pgdata / "PG_VERSION").exists():
            return
        pwfile = self.data_path / ".initdb-password"
        pwfile.write_text(self.settings.postgres_admin_password + "\n")
        os.chown(pwfile, *_pg_ids())
        try:
            run_checked(
                [
                    str(self.bin_dir / "initdb"),
                    "--pgdata",
                    str(self.pgdata),
                    "--username",
                    self.settings.postgres_admin_user,
                    "--pwfile",
                    str(pwfile),
                    "--auth-local=scram-sha-256",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-instructions",
                ],
                "initdb",
                f"the postgres OS user must be able to write {self.data_path} (all parent directories "
                f"traversable); or set {env_var('data_dir')} to such a directory",
                env=self._env(),
                user=PG_USER,
                log_path=self.log_file,
            )
        finally:
            pwfile.unlink(missing_ok=True)

    def launch(self) -> Launch:
        return Launch(
            cmd=[
                str(self.bin_dir / "postgres"),
                "-D",
                str(self.pgdata),
                "-c",
                f"listen_addresses={self.settings.host}",
                "-c",
                f"port={self.settings.postgres_port}",
                "-c",
                f"unix_socket_directories={self.socket_dir}",
                "-c",
                "logging_collector=off",  # log to stderr = our log file
            ],
            env=self._env(),
            user=PG_USER,
        )

    def is_ready(self) -> bool:
        with psycopg.connect(self.endpoint_model().dsn, connect_timeout=2) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)

    def endpoint_model(self) -> PostgresEndpoint:
        return PostgresEndpoint(
            host=self.settings.host,
            port=self.settings.postgres_port,
            admin_user=self.settings.postgres_admin_user,
            admin_password=self.settings.postgres_admin_password,
        )

    def endpoint(self) -> BaseModel:
        return self.endpoint_model()


FALLBACK_ROOT = Path("/var/lib/falcone")


def _reachable_by_postgres(directory: Path) -> bool:
    """Every existing ancestor of `directory` lets the postgres user through (others' x bit, or owned by it)."""
    try:
        uid = _pg_ids()[0]
    except KeyError:  # no postgres user yet (before the package is installed): decided again at start
        return True
    for ancestor in [directory, *directory.parents]:
        if not ancestor.exists():
            continue
        status = ancestor.stat()
        if not (status.st_mode & 0o001 or status.st_uid == uid):
            return False
    return True


def _pg_ids() -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(PG_USER)
    return entry.pw_uid, entry.pw_gid
