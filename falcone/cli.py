"""`falcone`: the project's command line (toolchain now; platform, stacks and drift as they land)."""

from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from falcone import toolchain as toolchain_module
from falcone.errors import SetupError

app = typer.Typer(help="Falcone: multi-tenant BaaS on Pulumi stacks.", no_args_is_help=True)
toolchain_app = typer.Typer(help="The Pulumi CLI and provider plugins, built from Go modules.", no_args_is_help=True)
app.add_typer(toolchain_app, name="toolchain")
stacks_app = typer.Typer(
    help="Preview and drift detection of the platform/tenant/workspace stacks.", no_args_is_help=True
)
app.add_typer(stacks_app, name="stacks")
demo_app = typer.Typer(
    help="The demo: a tenant and workspace provisioned through the automation API on the local platform.",
    no_args_is_help=True,
)
app.add_typer(demo_app, name="demo")
service_app = typer.Typer(
    help="Falcone's own services as local processes (the automation API, the executor, the gateway in front).",
    no_args_is_help=True,
)
app.add_typer(service_app, name="service")
console = Console(stderr=True)


@toolchain_app.command("build")
def toolchain_build() -> None:
    """Build (or restore from the cache) the pulumi CLI, language host and provider plugins."""
    started = time.monotonic()
    try:
        toolchain = toolchain_module.build(progress=lambda line: console.print(f"[cyan]toolchain[/] {line}"))
    except SetupError as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(1) from None
    console.print(f"[green]toolchain ready[/] in {time.monotonic() - started:.1f}s: {toolchain.pulumi}")


@toolchain_app.command("status")
def toolchain_status() -> None:
    """Show the pinned versions and what is installed."""
    toolchain = toolchain_module.load()
    table = Table("component", "pinned", "installed")
    table.add_row("pulumi", toolchain.pulumi_version, "yes" if toolchain.pulumi.exists() else "no")
    installed = toolchain_module.installed_plugins(toolchain) if toolchain.pulumi.exists() else []
    for provider in toolchain.providers:
        found = [str(p.get("version")) for p in installed if p.get("name") == provider.name]
        table.add_row(f"pulumi-resource-{provider.name}", provider.version, ", ".join(found) or "no")
    Console().print(table)


@toolchain_app.command("env")
def toolchain_env() -> None:
    """Print `export` lines that put our pulumi and plugins in a shell: eval "$(falcone toolchain env)"."""
    from falcone import demo, pulumi_runner

    variables = {
        **toolchain_module.load().env(),
        "PULUMI_BACKEND_URL": demo.state_dir().resolve().as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": pulumi_runner.passphrase(),
    }
    for key, value in variables.items():
        sys.stdout.write(f"export {key}={shlex.quote(value)}\n")


@toolchain_app.command("exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def toolchain_exec(ctx: typer.Context) -> None:
    """Run our `pulumi` with the toolchain environment: falcone toolchain exec -- up -s tenant-acme."""
    toolchain = toolchain_module.load()
    os.execve(str(toolchain.pulumi), ["pulumi", *ctx.args], {**os.environ, **toolchain.env()})  # noqa: S606


@demo_app.command("up")
def demo_up() -> None:
    """Start the services, provision tenant `demo` and workspace `main` through the automation API (the engine's
    progress shown live), make data calls through the executor with the workspace's API keys (table insert and
    query, Mongo insert and find, object upload and presigned download, event publish and receive), and print how
    to call both APIs. Idempotent: a second run repairs the tenant and workspace (refresh + up) and makes new data
    calls."""
    from falcone import demo_tenant, services

    result = demo_tenant.up(console)
    tenant, workspace = result["tenant"], result["workspace"]
    table = Table("what", "value", title="demo: provisioned through the automation API")
    table.add_row("tenant", f"{tenant['slug']} ({tenant['plan']}, {tenant['state']})")
    for name, condition in tenant["conditions"].items():
        table.add_row(f"  {name}", condition["status"])
    table.add_row("workspace", f"{workspace['tenant']}/{workspace['slug']} ({workspace['state']})")
    for name, value in sorted(workspace["outputs"].items()):
        table.add_row(f"  {name}", escape(str(value)))
    Console().print(table)
    url, data_url = services.AUTOMATION.url, services.GATEWAY.url
    console.print(
        f"automation API: {url}  (OpenAPI: {url}/v1/openapi.json)\n"
        "call it:  TOKEN=$(.venv/bin/falcone token)\n"
        f'          curl -H "Authorization: Bearer $TOKEN" {url}/v1/tenants/demo/workspaces\n'
        f"data API through the gateway: {data_url}  (the executor's OpenAPI: {services.EXECUTOR.url}/v1/openapi.json)\n"
        "call it:  KEY=$(.venv/bin/falcone demo key service)\n"
        f'          curl -H "apikey: $KEY" "{data_url}/rest/v1/todos?select=id,data&order=id.desc&limit=5"\n'
        "remove:   .venv/bin/falcone demo down;  stop: .venv/bin/falcone service stop",
        soft_wrap=True,
    )


@demo_app.command("key")
def demo_key(kind: Annotated[str, typer.Argument(help="service or anon")] = "service") -> None:
    """Print the demo workspace's API key of that kind (minted by `demo up`, kept in .data/demo/keys.json)."""
    from falcone import demo_data

    print(demo_data.stored_key(kind))


@demo_app.command("down")
def demo_down() -> None:
    """Delete the demo tenant (its workspace first) through the API."""
    from falcone import demo_tenant

    demo_tenant.down(console)


@demo_app.command("stack")
def demo_stack() -> None:
    """The foundation's demo stack instead: `pulumi up` of one resource per provider, without the API."""
    from falcone import demo

    outputs = demo.up(on_output=lambda line: print(line, end="" if line.endswith("\n") else "\n"))
    table = Table("output", "value", title="demo stack: created on the local platform")
    for name, value in sorted(outputs.items()):
        table.add_row(name, str(value))
    Console().print(table)
    console.print(
        f'state: {demo.state_dir()}  (by hand: eval "$(.venv/bin/python -m falcone toolchain env)"; '
        "pulumi stack select demo; pulumi preview)"
    )


@demo_app.command("stack-destroy")
def demo_stack_destroy() -> None:
    """Remove everything the demo stack created."""
    from falcone import demo

    demo.destroy(on_output=lambda line: print(line, end="" if line.endswith("\n") else "\n"))


ServiceNames = Annotated[
    list[str] | None, typer.Argument(help="automation, executor, gateway (default: all three)", show_default=False)
]


def _services(names: list[str] | None) -> list[str]:
    from falcone import services

    chosen = names or list(services.SERVICES)
    unknown = sorted(set(chosen) - set(services.SERVICES))
    if unknown:
        raise typer.BadParameter(f"unknown service(s) {unknown}; known: {list(services.SERVICES)}")
    return [name for name in services.SERVICES if name in chosen]


@service_app.command("start")
def service_start(names: ServiceNames = None) -> None:
    """Start the automation API, the executor and the gateway (Envoy in front of both) in the background (logs:
    .data/logs/<name>.log) and wait until they are ready. The automation service goes first: it brings the platform
    stack up, which the executor reads; the gateway goes last, in front of both."""
    from falcone import services

    for name in _services(names):
        services.SERVICES[name].start()
        console.print(f"{name} ready at {services.SERVICES[name].url}")


@service_app.command("stop")
def service_stop(names: ServiceNames = None) -> None:
    """Stop them by their PID files; the automation service's operations in flight resume at its next start."""
    from falcone import services

    for name in reversed(_services(names)):
        console.print(f"{name}: " + ("stopped" if services.SERVICES[name].stop() else "not running"))


@service_app.command("status")
def service_status() -> None:
    from falcone import services

    for name, service in services.SERVICES.items():
        record = service.running()
        state = "ready" if service.ready() else "starting" if record else "stopped"
        console.print(f"{name}: {state}" + (f" (pid {record.pid}, {service.url})" if record else ""))


@app.command("token")
def token() -> None:
    """Print an operator access token (client credentials of in-falcone-operator, role platform_admin)."""
    from falcone import demo_tenant

    sys.stdout.write(demo_tenant.token() + "\n")


def _backend(backend: Path | None) -> Path:
    from falcone import demo

    return backend or demo.state_dir()


BackendOption = Annotated[
    Path | None, typer.Option(help="File backend directory (default: the local platform's .data/pulumi-state).")
]
StacksArgument = Annotated[list[str] | None, typer.Argument(help="Stacks to check (default: every stack).")]
ReportOption = Annotated[Path | None, typer.Option(help="Also write the results as JSON to this file.")]
WorkDirOption = Annotated[
    Path | None, typer.Option(help="Project directory holding the stacks' config files (default: the repository).")
]


def _run_checks(
    kind: str, stacks: list[str] | None, backend: Path | None, report: Path | None, work_dir: Path | None
) -> None:
    from falcone import drift

    backend_dir = _backend(backend)
    names = stacks or drift.list_stacks(backend_dir, work_dir)
    if not names:
        console.print(f"no stacks in {backend_dir}")
        raise typer.Exit(0)
    check = drift.check if kind == "drift" else drift.preview
    reports = []
    for name in names:
        console.print(f"[cyan]{kind}[/] {name} …")
        reports.append(check(name, backend_dir, None, work_dir))
    table = Table("stack", "status", "resource", "operation", "properties", title=f"{kind} ({backend_dir})")
    colours = {"Ready": "green", "Drifted": "yellow", "Failed": "red"}
    for result in reports:
        status = f"[{colours[result.status.value]}]{result.status.value}[/]"
        if not result.changes:
            table.add_row(result.stack, status, result.error.splitlines()[-1] if result.error else "", "", "")
        for change in result.changes:
            table.add_row(
                result.stack, status, change.urn.split("::")[-1], change.operation, ", ".join(change.properties)
            )
    Console().print(table)
    if report:
        drift.write_report(reports, report)
        console.print(f"report: {report}")
    raise typer.Exit(drift.exit_code(reports))


@stacks_app.command("drift")
def stacks_drift(
    stacks: StacksArgument = None,
    backend: BackendOption = None,
    report: ReportOption = None,
    work_dir: WorkDirOption = None,
) -> None:
    """Refresh-preview each stack (nothing is changed): Ready / Drifted / Failed; exit 1 on drift, 2 on failure."""
    _run_checks("drift", stacks, backend, report, work_dir)


@stacks_app.command("preview")
def stacks_preview(
    stacks: StacksArgument = None,
    backend: BackendOption = None,
    report: ReportOption = None,
    work_dir: WorkDirOption = None,
) -> None:
    """Preview each stack against its program and config: what `up` would change; exit 1 if anything would."""
    _run_checks("preview", stacks, backend, report, work_dir)


@app.command("backends")
def backends() -> None:
    """Print the running local platform's admin connections as the stacks' `falcone:backends` JSON (a secret:
    pulumi config set --secret falcone:backends "$(.venv/bin/python -m falcone backends)")."""
    import json

    from falcone.platform_config import backends_from_endpoints
    from localplatform import endpoints

    try:
        running = endpoints.load()
    except FileNotFoundError:
        console.print("[red]the local platform is not running[/]; start it: scripts/platform start")
        raise typer.Exit(1) from None
    sys.stdout.write(json.dumps(backends_from_endpoints(running).to_config()) + "\n")
