"""A MongoDB-wire server: SecantusDB (PyPI `secantusdb`, GPL) run strictly as a separate process.

Never import the `secantus` package from Falcone code: it is GPL, so it is only ever a server we
talk to over the wire. SecantusDB provisions users like mongod without the localhost exception:
start once without --auth, create the admin user, restart with --auth. We do that on first start.
"""

from pathlib import Path

from pydantic import BaseModel
from pymongo import MongoClient

from localplatform import process, tools, versions
from localplatform.endpoints import MongoEndpoint
from localplatform.errors import StartError
from localplatform.ports import port_accepts
from localplatform.service import Launch, PortSpec, Service


class Mongo(Service):
    name = "mongo"
    version = versions.SECANTUSDB
    start_timeout = 30.0

    @property
    def tool_dir(self) -> Path:
        return self.settings.tools_dir / f"secantusdb-{self.version}"

    @property
    def storage_path(self) -> Path:
        return self.data_path / "db"

    @property
    def provisioned_marker(self) -> Path:
        return self.data_path / ".admin-user-created"

    def ports(self) -> list[PortSpec]:
        return [PortSpec(self.settings.mongo_port, "mongo_port")]

    def install(self) -> None:
        tools.install_pip_tool(self.settings, self.tool_dir, f"secantusdb=={self.version}", self.log_file)

    def _cmd(self, auth: bool) -> list[str]:
        cmd = [
            str(self.tool_dir / "bin" / "secantusd-py"),
            "--host",
            self.settings.host,
            "--port",
            str(self.settings.mongo_port),
            "--storage-path",
            str(self.storage_path),
            "--cache-size",
            "256M",  # default 1G; a dev box runs five other servers too
        ]
        return [*cmd, "--auth"] if auth else cmd

    def launch(self) -> Launch:
        # cwd = data dir so the launcher never auto-discovers a stray ./secantusd.toml
        return Launch(cmd=self._cmd(auth=True), cwd=self.data_path)

    def prepare(self) -> None:
        self.data_path.mkdir(parents=True, exist_ok=True)
        if self.provisioned_marker.exists():
            return
        # First start: a short run without --auth to create the admin user.
        proc = process.spawn(self._cmd(auth=False), self.log_file, cwd=self.data_path)
        record = process.write_pid_file(self.pid_file, proc.pid)
        try:
            up = process.wait_for(
                lambda: proc.poll() is not None or port_accepts(self.settings.host, self.settings.mongo_port),
                self.start_timeout,
            )
            if not up or proc.poll() is not None:
                raise StartError(
                    f"mongo: provisioning server did not come up.\nlog tail ({self.log_file}):\n"
                    f"{process.log_tail(self.log_file)}"
                )
            client: MongoClient[dict[str, object]] = MongoClient(
                host=self.settings.host,
                port=self.settings.mongo_port,
                directConnection=True,
                serverSelectionTimeoutMS=10_000,
            )
            with client:
                client.admin.command(
                    "createUser",
                    self.settings.mongo_admin_user,
                    pwd=self.settings.mongo_admin_password,
                    roles=[{"role": "root", "db": "admin"}],
                )
            self.provisioned_marker.write_text("ok\n")
        finally:
            process.stop_process(record, self.stop_signal, self.stop_timeout)
            self.pid_file.unlink(missing_ok=True)

    def is_ready(self) -> bool:
        client: MongoClient[dict[str, object]] = MongoClient(
            host=self.settings.host,
            port=self.settings.mongo_port,
            directConnection=True,
            username=self.settings.mongo_admin_user,
            password=self.settings.mongo_admin_password,
            authSource="admin",
            serverSelectionTimeoutMS=2_000,
            connectTimeoutMS=2_000,
        )
        with client:
            return bool(client.admin.command("ping").get("ok"))

    def endpoint(self) -> BaseModel:
        return MongoEndpoint(
            host=self.settings.host,
            port=self.settings.mongo_port,
            admin_user=self.settings.mongo_admin_user,
            admin_password=self.settings.mongo_admin_password,
        )
