"""`python -m localplatform start|stop|status|install [SERVICE...]` (also: scripts/platform ...)."""

import threading
from enum import Enum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from localplatform import platform
from localplatform.errors import PlatformError
from localplatform.settings import PlatformSettings

ServiceName = Enum("ServiceName", {name: name for name in platform.SERVICE_NAMES}, type=str)  # type: ignore[misc]

app = typer.Typer(
    help=(
        "Run Falcone's backing servers on 127.0.0.1: "
        f"{', '.join(platform.SERVICE_NAMES)}. Data and logs live in .data/ (FALCONE_DATA_DIR), "
        "installed servers in ~/.cache/falcone (FALCONE_CACHE_DIR). Ports and credentials: "
        "FALCONE_<SERVICE>_PORT etc., see localplatform/settings.py."
    ),
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

ServicesArg = Annotated[
    list[ServiceName] | None,
    typer.Argument(help="Services to act on (default: all).", show_default=False),
]


def _names(services: list[ServiceName] | None) -> list[str]:
    return [s.value for s in services or []]


def _settings() -> PlatformSettings:
    try:
        return PlatformSettings()
    except ValueError as err:  # pydantic ValidationError: a bad FALCONE_* variable
        err_console.print(f"[red]invalid FALCONE_* setting:[/red]\n{err}")
        raise typer.Exit(2) from err


_print_lock = threading.Lock()


def _report(name: str, message: str) -> None:
    with _print_lock:
        console.print(f"[cyan]{name:>9}[/cyan]  {message}")


@app.command()
def start(services: ServicesArg = None) -> None:
    """Install (if needed) and start services, then write .data/platform.json."""
    settings = _settings()
    try:
        outcomes = platform.start(settings, _names(services), _report)
    except PlatformError as err:
        err_console.print(f"[red]{err}[/red]")
        raise typer.Exit(2) from err
    failed = False
    for o in outcomes:
        if o.ok:
            _report(
                o.name,
                f"[green]{o.message}[/green] (install {o.install_seconds:.1f}s, start {o.start_seconds:.1f}s)",
            )
        else:
            failed = True
            err_console.print(f"[bold red]{o.name} failed:[/bold red]\n{o.message}\n")
    if settings.platform_file.exists():
        console.print(f"endpoints and credentials: {settings.platform_file}")
    if failed:
        raise typer.Exit(1)


@app.command()
def stop(services: ServicesArg = None) -> None:
    """Stop services by their PID files (SIGTERM, then SIGKILL after a timeout)."""
    try:
        outcomes = platform.stop(_settings(), _names(services))
    except PlatformError as err:
        err_console.print(f"[red]{err}[/red]")
        raise typer.Exit(2) from err
    for o in outcomes:
        if o.ok:
            _report(o.name, o.message)
        else:
            err_console.print(f"[bold red]{o.name} failed:[/bold red]\n{o.message}")
    if not all(o.ok for o in outcomes):
        raise typer.Exit(1)


@app.command()
def status(
    services: ServicesArg = None,
    not_running: Annotated[
        bool, typer.Option("--not-running", help="Only print the names of services that are not running (for scripts).")
    ] = False,
) -> None:
    """Show each service's state; exit 1 if any requested service is not ready."""
    settings = _settings()
    try:
        statuses = platform.status(settings, _names(services))
    except PlatformError as err:
        err_console.print(f"[red]{err}[/red]")
        raise typer.Exit(2) from err
    if not_running:
        for st in statuses:
            if not st.running:
                console.print(st.name)
        return
    table = Table(title=f"Falcone local platform ({settings.data_dir})")
    for column in ("service", "state", "pid", "ports"):
        table.add_column(column, no_wrap=True)
    table.add_column("log", overflow="fold")
    for st in statuses:
        colour = "green" if st.ready else ("yellow" if st.running else "red")
        log = settings.logs_dir / f"{st.name}.log"
        table.add_row(
            st.name,
            f"[{colour}]{st.detail}[/{colour}]",
            str(st.pid or "-"),
            ", ".join(map(str, st.ports)),
            str(log) if log.exists() else "-",
        )
    console.print(table)
    if not all(st.ready for st in statuses):
        raise typer.Exit(1)


@app.command()
def install(services: ServicesArg = None) -> None:
    """Only install services into the cache (e.g. to warm a CI machine)."""
    try:
        outcomes = platform.install(_settings(), _names(services))
    except PlatformError as err:
        err_console.print(f"[red]{err}[/red]")
        raise typer.Exit(2) from err
    for o in outcomes:
        if o.ok:
            _report(o.name, f"installed ({o.install_seconds:.1f}s)")
        else:
            err_console.print(f"[bold red]{o.name} failed:[/bold red]\n{o.message}")
    if not all(o.ok for o in outcomes):
        raise typer.Exit(1)
