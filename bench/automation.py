"""The automation API under load: latency of reads, and tenants provisioned per minute.

\b
    .venv/bin/python bench/automation.py                  (needs scripts/platform start and the toolchain)
    .venv/bin/python bench/automation.py --url http://127.0.0.1:18400   (a running `falcone service start`)

By default it brings up a platform deployment of its own, exactly as the tests do (a `platform` stack with its
own realm, role prefix and databases: tests.platform_stack_fixtures.deployment_settings + platform_stack.ensure)
and starts `python -m automation` on it on a free loopback port (tests/automation/service.py); at the end it
deletes its tenants, stops the service and destroys that platform stack. With --url it measures a service that
is already running on the local platform's default deployment instead (the operator token is read like
`falcone token` does) and only deletes the tenants it created.

\b
(a) reads: GET /v1/plans, GET /v1/tenants/{t}, GET /v1/tenants?limit=50 and GET /v1/operations/{id}, each
    --requests times at concurrency 1 and 16: requests per second, p50 and p95 latency.
(b) provisioning: --tenants starter tenants created through the API with 1, 2 and 4 in flight, each followed until
    its operation has finished, then all deleted: tenants per minute and mean time per tenant (POST to succeeded).

The client runs on the same machine as the service (and the servers): the figures include that contention.
"""

from __future__ import annotations

import asyncio
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from uuid import uuid4

import httpx2
import typer
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `tests` is not an installed package: run from anywhere

from automation.settings import AutomationSettings  # noqa: E402
from falcone import platform_stack  # noqa: E402
from falcone.api_client import operator_token  # noqa: E402
from falcone.platform_config import backends_from_endpoints  # noqa: E402
from localplatform import endpoints  # noqa: E402
from tests.automation.service import AutomationProcess  # noqa: E402
from tests.platform_stack_fixtures import PlatformDeployment, deployment_settings  # noqa: E402

FINISHED = ("succeeded", "failed", "cancelled")
console = Console(width=130)
app = typer.Typer(add_completion=False, rich_markup_mode=None)


@dataclass
class Target:
    url: str
    token: Callable[[], str]
    where: str


def _token_source(keycloak_url: str, realm: str, secret: str) -> Callable[[], str]:
    cached: dict[str, Any] = {"token": "", "until": 0.0}

    def token() -> str:
        if time.monotonic() >= cached["until"]:
            value, lifetime = operator_token(keycloak_url, realm, secret)
            cached.update(token=value, until=time.monotonic() + lifetime / 2)
        return str(cached["token"])

    return token


@contextmanager
def own_service() -> Iterator[Target]:
    """A platform deployment and `python -m automation` of this run's own, removed at the end."""
    backends = backends_from_endpoints(endpoints.load())
    assert backends.keycloak is not None
    run = uuid4().hex[:6]
    root = Path(tempfile.mkdtemp(prefix=f"bench-automation-{run}-"))
    state_dir, work_dir, render_dir = root / "state", root / "work", root / "rendered"
    settings = deployment_settings(run, render_dir)
    quiet: Callable[[str], None] = lambda _line: None  # noqa: E731
    console.print(f"platform deployment {run} (realm plat-{run}) ...")
    outputs = platform_stack.ensure(backends, state_dir, work_dir, settings, on_output=quiet)
    service = AutomationProcess(
        PlatformDeployment(run, backends, state_dir, work_dir, render_dir, settings, outputs), root / "automation.log"
    )
    try:
        console.print(f"starting python -m automation on {service.url} (log {service.log_path}) ...")
        service.start()
        yield Target(
            service.url, _token_source(backends.keycloak.url, outputs.realm, outputs.operator_client_secret), run
        )
    finally:
        service.stop()
        try:
            platform_stack.destroy(backends, state_dir, work_dir, on_output=quiet)
            shutil.rmtree(root, ignore_errors=True)
        except Exception as error:  # say what is left, keep the figures
            console.print(f"[yellow]platform stack of run {run} not destroyed ({root}): {str(error)[-300:]}")


def running_service(url: str) -> Target:
    """The default deployment's service (as `falcone service start` runs it); its operator as `falcone token`."""
    backends = backends_from_endpoints(endpoints.load())
    assert backends.keycloak is not None
    settings = AutomationSettings()
    outputs = platform_stack.outputs(settings.state_dir, settings.work_dir)
    return Target(url, _token_source(backends.keycloak.url, outputs.realm, outputs.operator_client_secret), url)


# --- the client ----------------------------------------------------------------------------------------------


class Client:
    def __init__(self, target: Target, connections: int = 32) -> None:
        self.target = target
        limits = httpx2.Limits(max_connections=connections, max_keepalive_connections=connections)
        self.http = httpx2.AsyncClient(base_url=target.url, timeout=60, limits=limits)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def request(self, method: str, path: str, *, expect: int = 200, **options: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.target.token()}"}
        response = await self.http.request(method, path, headers=headers, **options)
        if response.status_code != expect:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    async def finished(self, operation_id: str, poll: float = 0.25) -> dict[str, Any]:
        while True:
            operation: dict[str, Any] = await self.request("GET", f"/v1/operations/{operation_id}")
            if operation["status"] in FINISHED:
                return operation
            await asyncio.sleep(poll)

    async def applied(self, method: str, path: str, **options: Any) -> list[dict[str, Any]]:
        """Send a mutation and wait for every operation it queued; all must succeed."""
        accepted = await self.request(method, path, expect=202, **options)
        done = [await self.finished(operation["id"]) for operation in accepted["operations"]]
        failed = [operation for operation in done if operation["status"] != "succeeded"]
        if failed:
            raise RuntimeError(f"{method} {path}: {failed[0]['kind']} {failed[0]['status']}: {failed[0]['error']}")
        return done


# --- (a) reads ---------------------------------------------------------------------------------------------


@dataclass
class Latency:
    label: str
    concurrency: int
    requests: int
    seconds: float
    samples: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


async def measure_reads(client: Client, label: str, path: str, concurrency: int, requests: int) -> Latency:
    for _ in range(10):  # warm: connections, JWKS, the pool
        await client.request("GET", path)
    samples: list[float] = []
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await client.request("GET", path)
            samples.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Latency(label, concurrency, len(samples), time.perf_counter() - started, samples)


# --- (b) provisioning ----------------------------------------------------------------------------------------


@dataclass
class Provisioning:
    concurrency: int
    tenants: int
    seconds: float
    per_tenant: list[float]
    delete_seconds: float

    @property
    def per_minute(self) -> float:
        return self.tenants / self.seconds * 60


async def provision(client: Client, run: str, concurrency: int, count: int, created: list[str]) -> Provisioning:
    gate = asyncio.Semaphore(concurrency)
    per_tenant: list[float] = []

    async def one(index: int) -> None:
        slug = f"bench{run}c{concurrency}n{index}"
        async with gate:
            started = time.perf_counter()
            created.append(slug)
            body = {"slug": slug, "display_name": f"Bench {index}", "plan": "starter"}
            await client.applied("POST", "/v1/tenants", json=body)
            per_tenant.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(one(index) for index in range(count)))
    seconds = time.perf_counter() - started
    deleting = time.perf_counter()
    await delete_all(client, [slug for slug in created if slug.startswith(f"bench{run}c{concurrency}n")], created)
    return Provisioning(concurrency, count, seconds, per_tenant, time.perf_counter() - deleting)


async def delete_all(client: Client, slugs: list[str], created: list[str]) -> None:
    async def delete(slug: str) -> None:
        headers = {"Authorization": f"Bearer {client.target.token()}"}
        response = await client.http.delete(f"/v1/tenants/{slug}", headers=headers)
        if response.status_code == 202:
            for operation in response.json()["operations"]:
                await client.finished(operation["id"])
        elif response.status_code != 404:
            raise RuntimeError(f"DELETE /v1/tenants/{slug}: {response.status_code} {response.text[:300]}")
        created.remove(slug)

    await asyncio.gather(*(delete(slug) for slug in slugs))


# --- the run -------------------------------------------------------------------------------------------------


async def bench(target: Target, requests: int, tenants: int, levels: list[int]) -> None:
    client = Client(target)
    run = uuid4().hex[:6]
    created: list[str] = []
    try:
        reader = f"bench{run}read"
        created.append(reader)
        [operation] = await client.applied(
            "POST", "/v1/tenants", json={"slug": reader, "display_name": "Bench reads", "plan": "starter"}
        )
        paths = {
            "GET /v1/plans": "/v1/plans",
            "GET /v1/tenants/{t}": f"/v1/tenants/{reader}",
            "GET /v1/tenants?limit=50": "/v1/tenants?limit=50",
            "GET /v1/operations/{id}": f"/v1/operations/{operation['id']}",
        }
        reads = []
        for label, path in paths.items():
            for concurrency in (1, 16):
                result = await measure_reads(client, label, path, concurrency, requests)
                console.print(
                    f"  {label:<26} c={concurrency:<2} {result.rate:7.0f} req/s  p50 {result.percentile(0.5):6.1f} ms"
                    f"  p95 {result.percentile(0.95):6.1f} ms"
                )
                reads.append(result)
        await delete_all(client, [reader], created)
        provisioned = []
        for concurrency in levels:
            console.print(f"  provisioning {tenants} starter tenants, {concurrency} in flight ...")
            provisioned.append(await provision(client, run, concurrency, tenants, created))
        report(target, requests, reads, provisioned)
    finally:
        if created:
            console.print(f"deleting what is left: {created}")
            await delete_all(client, list(created), created)
        await client.aclose()


def report(target: Target, requests: int, reads: list[Latency], provisioned: list[Provisioning]) -> None:
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    machine = f"{platform.machine()}, {os.cpu_count()} cores, load average {load}, Python {platform.python_version()}"
    table = Table("read", "concurrency", "req/s", "p50 ms", "p95 ms", title=f"reads ({requests} requests each)")
    for result in reads:
        table.add_row(
            result.label,
            str(result.concurrency),
            f"{result.rate:.0f}",
            f"{result.percentile(0.5):.1f}",
            f"{result.percentile(0.95):.1f}",
        )
    console.print(table)
    table = Table(
        "in flight", "tenants", "wall s", "tenants/min", "mean s per tenant", "delete all s", title="provisioning"
    )
    for level in provisioned:
        table.add_row(
            str(level.concurrency),
            str(level.tenants),
            f"{level.seconds:.1f}",
            f"{level.per_minute:.1f}",
            f"{statistics.mean(level.per_tenant):.1f}",
            f"{level.delete_seconds:.1f}",
        )
    console.print(table)
    console.print(f"service: {target.where}; machine: {machine}")


@app.command(help=__doc__)
def main(
    url: Annotated[
        str | None,
        typer.Option(help="Measure this running service (default deployment) instead of starting one of our own."),
    ] = None,
    requests: Annotated[int, typer.Option(min=50, help="Requests per read and concurrency level.")] = 500,
    tenants: Annotated[int, typer.Option(min=1, max=20, help="Tenants provisioned at each concurrency level.")] = 8,
) -> None:
    """Read latency at concurrency 1 and 16, then tenants provisioned per minute at 1, 2 and 4 in flight."""
    levels = [1, 2, 4]
    if url is not None:
        if not url.startswith(("http://127.0.0.1", "http://localhost")):
            raise typer.BadParameter("loopback only", param_hint="--url")
        asyncio.run(bench(running_service(url), requests, tenants, levels))
        return
    with own_service() as target:
        asyncio.run(bench(target, requests, tenants, levels))


if __name__ == "__main__":
    app()
