"""The Pulumi toolchain: built from Go modules with the ordinary `go` client, cached outside the repository.

`toolchain/versions.toml` says what to build; `toolchain/go/<name>/` holds the wrapper module of each binary
(go.mod + go.sum + a tiny main). Results land in `<cache>/toolchain/pulumi-<version>/` (the CLI, the Python
language host, the dynamic-provider plugin) and `<cache>/toolchain/providers/<name>-<version>/`, and providers are
registered in a PULUMI_HOME of ours, so the CLI never downloads anything. A stamp per binary (a hash of its inputs)
makes a second run take seconds.

The same file lists servers of the local platform that are built from Go modules the same way (`[servers.*]`,
today the Kubernetes control plane): `build_server` puts them in `<cache>/toolchain/servers/<name>-<version>/`,
and `localplatform` runs them.

Tools only the tests and operators run (`[tools.*]`, today Helm for the chart's checks) are built the same way by
`build_tool` into `<cache>/toolchain/tools/<name>-<version>/`, on first use: `build` leaves them out, so the setup
does not pay for them (docs/toolchain.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from falcone.errors import SetupError
from localplatform.process import file_lock

REPO_ROOT = Path(__file__).resolve().parents[1]
TOOLCHAIN_DIR = REPO_ROOT / "toolchain"
UV_VERSION = "0.13.8"


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    version: str
    python_package: str
    python_version: str
    go_dir: str
    upstream_module: str
    upstream_cmd_dir: str
    version_variable: str
    embeds: dict[str, str]


@dataclass(frozen=True)
class ServerSpec:
    """A local-platform server built from `<module>/cmd/<command>` through the wrapper module `go_dir`."""

    name: str
    version: str
    go_dir: str
    module: str
    commands: tuple[str, ...]
    tags: str


@dataclass(frozen=True)
class ToolSpec:
    """A command-line tool built from `package` through the wrapper module `go_dir`, which requires `module` at
    `version`. `variables` are `-X` link flags (`{version}` in a value is replaced), as upstream's release build
    stamps them."""

    name: str
    version: str
    go_dir: str
    module: str
    package: str
    variables: dict[str, str]


@dataclass(frozen=True)
class Toolchain:
    pulumi_version: str
    pulumi_package: str
    pulumi_version_variable: str
    sdk_module: str
    providers: tuple[ProviderSpec, ...]
    servers: tuple[ServerSpec, ...] = ()
    tools: tuple[ToolSpec, ...] = ()

    @property
    def cache_root(self) -> Path:
        return Path(os.environ.get("FALCONE_CACHE_DIR", Path.home() / ".cache" / "falcone"))

    @property
    def install_dir(self) -> Path:
        return self.cache_root / "toolchain" / f"pulumi-{self.pulumi_version}"

    @property
    def bin_dir(self) -> Path:
        return self.install_dir / "bin"

    @property
    def pulumi(self) -> Path:
        return self.bin_dir / "pulumi"

    @property
    def pulumi_home(self) -> Path:
        return self.cache_root / "pulumi-home"

    def provider_binary(self, provider: ProviderSpec) -> Path:
        directory = self.cache_root / "toolchain" / "providers" / f"{provider.name}-{provider.version}"
        return directory / f"pulumi-resource-{provider.name}"

    def server(self, name: str) -> ServerSpec:
        for server in self.servers:
            if server.name == name:
                return server
        raise KeyError(f"toolchain/versions.toml has no [servers.{name}]")

    def server_dir(self, server: ServerSpec) -> Path:
        return self.cache_root / "toolchain" / "servers" / f"{server.name}-{server.version}"

    def server_binary(self, server: ServerSpec, command: str) -> Path:
        return self.server_dir(server) / command

    def tool(self, name: str) -> ToolSpec:
        for tool in self.tools:
            if tool.name == name:
                return tool
        raise KeyError(f"toolchain/versions.toml has no [tools.{name}]")

    def tool_binary(self, tool: ToolSpec) -> Path:
        return self.cache_root / "toolchain" / "tools" / f"{tool.name}-{tool.version}" / tool.name

    def env(self) -> dict[str, str]:
        """Environment for every `pulumi` run: our CLI first on PATH, our plugins, no downloads, no phoning home."""
        return {
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "PULUMI_HOME": str(self.pulumi_home),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            # Plugins come from PULUMI_HOME (providers) or sit next to `pulumi` (language host); never from PATH.
            "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
        }


def load() -> Toolchain:
    data = tomllib.loads((TOOLCHAIN_DIR / "versions.toml").read_text())
    providers = tuple(ProviderSpec(name=name, **spec) for name, spec in sorted(data.get("providers", {}).items()))
    servers = tuple(
        ServerSpec(name=name, **{**spec, "commands": tuple(spec["commands"])})
        for name, spec in sorted(data.get("servers", {}).items())
    )
    tools = tuple(ToolSpec(name=name, **spec) for name, spec in sorted(data.get("tools", {}).items()))
    pulumi = data["pulumi"]
    return Toolchain(
        pulumi_version=pulumi["version"],
        pulumi_package=pulumi["package"],
        pulumi_version_variable=pulumi["version_variable"],
        sdk_module=pulumi["sdk_module"],
        providers=providers,
        servers=servers,
        tools=tools,
    )


# --- building -----------------------------------------------------------------------------------------------


def _go_env() -> dict[str, str]:
    return {
        **os.environ,
        # Never let `go` fetch another toolchain; our go.sum files are complete, so nothing may change them.
        "GOTOOLCHAIN": "local",
        "CGO_ENABLED": "0",
        "GOFLAGS": "-trimpath -mod=readonly -buildvcs=false",
    }


def _require_go() -> str:
    go = shutil.which("go")
    if go is None:
        raise SetupError(
            "the `go` command is not on PATH",
            fix="install Go >= 1.25 (the polyglot machine has it at /usr/local/go/bin) and put it on PATH",
        )
    return go


def _run_logged(args: list[str], *, cwd: Path, log: Path, env: dict[str, str], what: str) -> str:
    log.parent.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    log.write_text(f"$ {' '.join(args)}\n{completed.stdout}{completed.stderr}")
    if completed.returncode != 0:
        output = (completed.stdout + completed.stderr).strip()
        raise SetupError(f"{what} failed ({log})", fix=_hint(output), detail=_tail(output))
    return completed.stdout


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _hint(output: str) -> str:
    if "403 Forbidden" in output or "not available" in output:
        return (
            "the Go module proxy refused a module version (see the log); pick versions it serves and "
            "re-run `go mod tidy` in the wrapper module (docs/toolchain.md)"
        )
    if "dial tcp" in output or "no such host" in output or "timeout" in output:
        return "the Go module proxy is unreachable: check the network, then run the setup again"
    if "missing go.sum entry" in output or "updates to go.mod needed" in output:
        return "the wrapper module's go.sum is stale: run `go mod tidy` in its folder and commit go.mod/go.sum"
    return "read the log above; fix the wrapper module under toolchain/go/ and run the setup again"


def _stamp(inputs: list[Path], extra: str) -> str:
    digest = hashlib.sha256(extra.encode())
    for path in sorted(inputs):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _up_to_date(binary: Path, stamp: str) -> bool:
    stamp_file = binary.with_name(binary.name + ".stamp")
    return binary.exists() and stamp_file.exists() and stamp_file.read_text() == stamp


def _write_stamp(binary: Path, stamp: str) -> None:
    binary.with_name(binary.name + ".stamp").write_text(stamp)


def _wrapper_files(go_dir: Path) -> list[Path]:
    """What a wrapper module builds from: its Go files, go.mod and go.sum (the stamp's inputs)."""
    return [*go_dir.glob("*.go"), go_dir / "go.mod", go_dir / "go.sum"]


def _build_stamped(
    go_dir: Path, binary: Path, stamp: str, *, package: str, ldflags: str, log: Path, what: str, tags: str = ""
) -> None:
    """Build into a partial file moved into place, then stamp it: an interrupted build never looks finished."""
    partial = binary.with_name(binary.name + ".partial")
    _go_build(go_dir, package=package, output=partial, ldflags=ldflags, log=log, what=what, tags=tags)
    partial.replace(binary)
    _write_stamp(binary, stamp)


def _module_dir(go_dir: Path, module: str) -> Path:
    """The module's source in the module cache, downloaded first if needed (at the version go.mod requires)."""
    out = _run_logged(
        [_require_go(), "mod", "download", "-json", module],
        cwd=go_dir,
        log=go_dir / ".go-list.log",
        env=_go_env(),
        what=f"downloading {module}",
    )
    directory = json.loads(out).get("Dir", "")
    if not directory:
        raise SetupError(f"the module cache has no source for {module}", fix=_hint(out), detail=_tail(out))
    return Path(directory)


def _go_build(go_dir: Path, *, package: str, output: Path, ldflags: str, log: Path, what: str, tags: str = "") -> None:
    args = [_require_go(), "build", "-ldflags", ldflags, "-o", str(output)]
    if tags:
        args += ["-tags", tags]
    args.append(package)
    output.parent.mkdir(parents=True, exist_ok=True)
    _run_logged(args, cwd=go_dir, log=log, env=_go_env(), what=what)


Progress = Callable[[str], None]


def build_cli(toolchain: Toolchain, progress: Progress) -> bool:
    """The CLI, the language host and the dynamic-provider plugin, next to each other. True if it built."""
    go_dir = TOOLCHAIN_DIR / "go" / "pulumi"
    langhost = TOOLCHAIN_DIR / "langhost" / "pulumi_language_python.py"
    stamp = _stamp([*_wrapper_files(go_dir), langhost], toolchain.pulumi_version)
    if _up_to_date(toolchain.pulumi, stamp):
        progress(f"pulumi {toolchain.pulumi_version}: cached")
        return False
    progress(f"pulumi {toolchain.pulumi_version}: building from Go modules (a few minutes when cold)")
    logs = toolchain.cache_root / "toolchain" / "logs"
    _go_build(
        go_dir,
        package=toolchain.pulumi_package,
        output=toolchain.pulumi,
        ldflags=f"-s -w -X {toolchain.pulumi_version_variable}=v{toolchain.pulumi_version}",
        tags="osusergo,grpcnotrace",
        log=logs / "pulumi.log",
        what="building the pulumi CLI",
    )
    sdk = _module_dir(go_dir, toolchain.sdk_module)
    _install(sdk / "python" / "cmd" / "pulumi-language-python-exec", toolchain.bin_dir)
    _install(sdk / "python" / "dist" / "pulumi-resource-pulumi-python", toolchain.bin_dir)
    _install_language_host(toolchain, langhost)
    _write_stamp(toolchain.pulumi, stamp)
    return True


def _install(source: Path, directory: Path) -> None:
    # Module-cache files are read-only and zips keep no mode bits: copy, then make executable.
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / source.name
    target.unlink(missing_ok=True)
    shutil.copyfile(source, target)
    target.chmod(0o755)


def _install_language_host(toolchain: Toolchain, source: Path) -> None:
    venv = toolchain.install_dir / "langhost-venv"
    uv = shutil.which("uv") or str(toolchain.cache_root / "tools" / f"uv-{UV_VERSION}" / "bin" / "uv")
    logs = toolchain.cache_root / "toolchain" / "logs"
    if not (venv / "bin" / "python").exists():
        _run_logged(
            [uv, "venv", "--quiet", "--python", "3.11", str(venv)],
            cwd=REPO_ROOT,
            log=logs / "langhost-venv.log",
            env=dict(os.environ),
            what="creating the language host's virtualenv",
        )
    _run_logged(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            f"pulumi=={toolchain.pulumi_version}",
        ],
        cwd=REPO_ROOT,
        log=logs / "langhost-pip.log",
        env=dict(os.environ),
        what="installing the Pulumi SDK for the language host",
    )
    _install(source, toolchain.bin_dir)
    launcher = toolchain.bin_dir / "pulumi-language-python"
    launcher.unlink(missing_ok=True)
    launcher.write_text(
        "#!/bin/sh\n"
        "# Falcone's Python language host (see toolchain/langhost/pulumi_language_python.py).\n"
        'here=$(dirname "$(readlink -f "$0")")\n'
        f'FALCONE_LANGHOST_VERSION={toolchain.pulumi_version} exec "$here/../langhost-venv/bin/python" '
        '"$here/pulumi_language_python.py" "$@"\n'
    )
    launcher.chmod(0o755)


def build_provider(toolchain: Toolchain, provider: ProviderSpec, progress: Progress) -> bool:
    go_dir = TOOLCHAIN_DIR / "go" / provider.go_dir
    binary = toolchain.provider_binary(provider)
    stamp = _stamp(_wrapper_files(go_dir), provider.version)
    if _up_to_date(binary, stamp):
        progress(f"pulumi-resource-{provider.name} {provider.version}: cached")
        return False
    progress(f"pulumi-resource-{provider.name} {provider.version}: building from Go modules")
    upstream = _module_dir(go_dir, provider.upstream_module) / provider.upstream_cmd_dir
    for embed, source in provider.embeds.items():
        content = json.loads((upstream / source).read_text())
        if embed.startswith("schema"):
            content["version"] = provider.version
        (go_dir / embed).write_text(json.dumps(content, separators=(",", ":")))
    _go_build(
        go_dir,
        package=".",
        output=binary,
        ldflags=f"-s -w -X {provider.version_variable}={provider.version}",
        log=toolchain.cache_root / "toolchain" / "logs" / f"provider-{provider.name}.log",
        what=f"building pulumi-resource-{provider.name}",
    )
    _write_stamp(binary, stamp)
    return True


def register_provider(toolchain: Toolchain, provider: ProviderSpec, *, reinstall: bool) -> None:
    plugin_dir = toolchain.pulumi_home / "plugins" / f"resource-{provider.name}-v{provider.version}"
    if plugin_dir.exists() and not reinstall:
        return
    args = [
        str(toolchain.pulumi),
        "plugin",
        "install",
        "resource",
        provider.name,
        provider.version,
        "--file",
        str(toolchain.provider_binary(provider)),
        "--reinstall",
    ]
    _run_logged(
        args,
        cwd=REPO_ROOT,
        log=toolchain.cache_root / "toolchain" / "logs" / f"register-{provider.name}.log",
        env={**os.environ, **toolchain.env()},
        what=f"registering the {provider.name} plugin",
    )


def _kubernetes_ldflags(version: str) -> str:
    """What upstream's hack/lib/version.sh stamps in: `/version` and the binaries' `--version` report it."""
    major, minor, _ = version.split(".")
    values = {"gitVersion": f"v{version}", "gitMajor": major, "gitMinor": minor, "gitTreeState": "clean"}
    flags = [
        f"-X {package}.{key}={value}"
        for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for key, value in values.items()
    ]
    return " ".join(["-s -w", *flags])


def build_server(toolchain: Toolchain, server: ServerSpec, progress: Progress) -> bool:
    """Each command of a server, unless its stamp says it is built already. True if anything was built.

    The only server is Kubernetes', so the version is stamped in the Kubernetes way. Two commands (the setup and
    `scripts/platform start`) may ask at once: a lock makes the second wait and then find everything built."""
    go_dir = TOOLCHAIN_DIR / "go" / server.go_dir
    stamp = _stamp(_wrapper_files(go_dir), f"{server.version} {server.tags}")
    directory = toolchain.server_dir(server)
    built = False
    with file_lock(directory.parent / f".{directory.name}.lock"):
        for command in server.commands:
            binary = toolchain.server_binary(server, command)
            if _up_to_date(binary, stamp):
                continue
            progress(f"{command} {server.version}: building from Go modules (10+ min on 2 cores when cold)")
            _build_stamped(
                go_dir,
                binary,
                stamp,
                package=f"{server.module}/cmd/{command}",
                ldflags=_kubernetes_ldflags(server.version),
                tags=server.tags,
                log=toolchain.cache_root / "toolchain" / "logs" / f"server-{command}.log",
                what=f"building {command}",
            )
            built = True
    return built


def required_version(go_dir: Path, module: str) -> str | None:
    """The version (without the leading v) at which the wrapper module's go.mod requires `module`."""
    found = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+v(\S+)", (go_dir / "go.mod").read_text(), re.M)
    return found.group(1) if found else None


def build_tool(toolchain: Toolchain, tool: ToolSpec, progress: Progress) -> bool:
    """The tool, unless its stamp says it is built already. True if it built.

    Two test sessions may ask at once: a lock makes the second wait and then find it built."""
    go_dir = TOOLCHAIN_DIR / "go" / tool.go_dir
    # versions.toml names the version and go.mod decides what is compiled: refuse to build one under the other's name.
    required = required_version(go_dir, tool.module)
    if required != tool.version:
        raise SetupError(
            f"toolchain/versions.toml says {tool.name} {tool.version}, but {go_dir / 'go.mod'} requires "
            f"{tool.module} {f'v{required}' if required else 'nowhere'}",
            fix=f"make [tools.{tool.name}] and the wrapper module agree (docs/toolchain.md, 'Updating a version')",
        )
    binary = toolchain.tool_binary(tool)
    stamp = _stamp(_wrapper_files(go_dir), tool.version)
    with file_lock(binary.parent.parent / f".{binary.parent.name}.lock"):
        if _up_to_date(binary, stamp):
            return False
        progress(f"{tool.name} {tool.version}: building from Go modules (a few minutes when cold)")
        flags = [f"-X {name}={value.format(version=tool.version)}" for name, value in sorted(tool.variables.items())]
        _build_stamped(
            go_dir,
            binary,
            stamp,
            package=tool.package,
            ldflags=" ".join(["-s -w", *flags]),
            log=toolchain.cache_root / "toolchain" / "logs" / f"tool-{tool.name}.log",
            what=f"building {tool.name}",
        )
    return True


def build(progress: Progress) -> Toolchain:
    """The CLI and the providers. Servers are built by `localplatform install`, tools on first use (`build_tool`)."""
    toolchain = load()
    cli_rebuilt = build_cli(toolchain, progress)
    for provider in toolchain.providers:
        rebuilt = build_provider(toolchain, provider, progress)
        register_provider(toolchain, provider, reinstall=rebuilt or cli_rebuilt)
    return toolchain


def installed_plugins(toolchain: Toolchain) -> list[dict[str, object]]:
    completed = subprocess.run(
        [str(toolchain.pulumi), "plugin", "ls", "--json"],
        env={**os.environ, **toolchain.env()},
        capture_output=True,
        text=True,
        check=True,
    )
    plugins: list[dict[str, object]] = json.loads(completed.stdout or "[]")
    return plugins
