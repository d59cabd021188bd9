"""Falcone's Pulumi language host for Python programs (`pulumi-language-python`).

Why this exists: the upstream host is the Go module
`github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3`, which has no tags and whose pseudo-versions
the module proxy reachable here refuses (403), so it cannot be built from modules. The Automation API's inline
programs need no host at all; this one serves the by-hand `pulumi up` on a project directory.

It implements the LanguageRuntime gRPC service the way the upstream host does: the CLI starts it with the engine
address as the last argument, it prints the port it listens on, and `Run` spawns the upstream
`pulumi-language-python-exec` shim (shipped next to this file) with the program's interpreter, so the program runs
exactly as under the upstream host. The interpreter is the `virtualenv` runtime option of Pulumi.yaml (relative to
the project root), else `PULUMI_PYTHON_CMD`, else `python3`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict
from pulumi.runtime.proto import language_pb2, language_pb2_grpc, plugin_pb2

HOST_VERSION = os.environ.get("FALCONE_LANGHOST_VERSION", "3.259.0")
EXEC_SHIM = Path(__file__).resolve().with_name("pulumi-language-python-exec")


def _options(info: language_pb2.ProgramInfo) -> dict[str, Any]:
    return MessageToDict(info.options) if info.HasField("options") else {}


def python_for(info: language_pb2.ProgramInfo) -> str:
    """The interpreter that runs the user's program."""
    virtualenv = _options(info).get("virtualenv")
    if virtualenv:
        venv = Path(virtualenv)
        if not venv.is_absolute():
            venv = Path(info.root_directory) / venv
        candidate = venv / "bin" / "python"
        if not candidate.exists():
            raise FileNotFoundError(
                f"the 'virtualenv' option in Pulumi.yaml is {virtualenv!r}, but {candidate} does not exist; "
                "create it with the project's setup command (scripts/setup)"
            )
        return str(candidate)
    return os.environ.get("PULUMI_PYTHON_CMD", "python3")


class LanguageHost(language_pb2_grpc.LanguageRuntimeServicer):
    def __init__(self, engine_address: str, tracing: str) -> None:
        self.engine_address = engine_address
        self.tracing = tracing

    def Handshake(self, request: Any, context: Any) -> language_pb2.LanguageHandshakeResponse:  # noqa: N802
        if request.engine_address:
            self.engine_address = request.engine_address
        return language_pb2.LanguageHandshakeResponse()

    def GetPluginInfo(self, request: Any, context: Any) -> plugin_pb2.PluginInfo:  # noqa: N802
        return plugin_pb2.PluginInfo(version=HOST_VERSION)

    def GetRequiredPlugins(self, request: Any, context: Any) -> language_pb2.GetRequiredPluginsResponse:  # noqa: N802
        # Providers are loaded when the program first registers one of their resources (as with inline
        # Automation API programs); the toolchain installs every plugin the SDKs ask for beforehand.
        return language_pb2.GetRequiredPluginsResponse()

    def GetRequiredPackages(self, request: Any, context: Any) -> language_pb2.GetRequiredPackagesResponse:  # noqa: N802
        return language_pb2.GetRequiredPackagesResponse()

    def GetProgramDependencies(self, request: Any, context: Any) -> language_pb2.GetProgramDependenciesResponse:  # noqa: N802
        return language_pb2.GetProgramDependenciesResponse()

    def About(self, request: Any, context: Any) -> language_pb2.AboutResponse:  # noqa: N802
        python = python_for(request.info) if request.HasField("info") else "python3"
        version = subprocess.run([python, "--version"], capture_output=True, text=True, check=False).stdout.strip()
        return language_pb2.AboutResponse(executable=python, version=version.removeprefix("Python "))

    def InstallDependencies(  # noqa: N802
        self, request: Any, context: Any
    ) -> Iterator[language_pb2.InstallDependenciesResponse]:
        # Dependencies are the project's own (scripts/setup runs `uv sync`); nothing to install per stack.
        yield from ()

    def Run(self, request: Any, context: Any) -> language_pb2.RunResponse:  # noqa: N802
        info = request.info
        try:
            python = python_for(info)
        except FileNotFoundError as error:
            return language_pb2.RunResponse(error=str(error))
        program = request.program or info.entry_point or "."
        args = [python, "-u", str(EXEC_SHIM)]
        for flag, value in (
            ("monitor", request.monitor_address),
            ("engine", self.engine_address),
            ("project", request.project),
            ("stack", request.stack),
            ("pwd", request.pwd),
            ("dry_run", "true" if request.dryRun else "false"),
            ("parallel", str(request.parallel)),
            ("tracing", self.tracing),
            ("organization", request.organization),
            ("root_directory", info.root_directory),
        ):
            if value:
                args += [f"--{flag}", value]
        args += [program, *request.args]
        env = dict(os.environ)
        env["PULUMI_CONFIG"] = json.dumps(dict(request.config))
        env["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(list(request.configSecretKeys))
        env["PATH"] = f"{Path(python).parent}{os.pathsep}{env.get('PATH', '')}"
        # Stdout/stderr go straight to the engine, which shows them as the stack's diagnostics.
        completed = subprocess.run(args, env=env, cwd=request.pwd or None, check=False)
        if completed.returncode == 0:
            return language_pb2.RunResponse()
        # 32: the program already showed the user an actionable message; don't repeat a generic one.
        return language_pb2.RunResponse(
            error=f"Program exited with non-zero exit code: {completed.returncode}",
            bail=completed.returncode == 32,
        )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="pulumi-language-python")
    parser.add_argument("-tracing", "--tracing", default="")
    parser.add_argument("engine_address", nargs="?", default="")
    # The CLI may pass flags that only the upstream host knows (e.g. -root); they do not change how we run.
    known, _unknown = parser.parse_known_args(argv)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(LanguageHost(known.engine_address, known.tracing), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        # The CLI ends its plugins with SIGINT when the operation is over: a normal shutdown.
        server.stop(grace=None)


if __name__ == "__main__":
    main(sys.argv[1:])
