"""Realtime: the latency from a write through the API to its event at the subscribers, PostgreSQL and MongoDB.

    .venv/bin/python bench/realtime.py [--events 400] [--rate 40] [--subscribers 4] [--workers 1]

(needs scripts/platform start and the toolchain). It brings up a platform stack, a growth tenant (PostgreSQL and
MongoDB) and one workspace with a `todos` table, registers a service key, starts `python -m executor` on a free
loopback port, opens `--subscribers` Server-Sent Events streams on `todos` (and as many on a Mongo collection),
then writes `--events` rows (documents) one by one through the executor's own API at `--rate` per second:

* write → subscriber: from just before the write request is sent to the moment each subscriber has parsed the
  event (the row read back under its role, or the document from the change stream), for every (write,
  subscriber) pair;
* write acknowledged: the write request's own latency, for comparison.

The writer, the subscribers, the executor and the servers share this machine: the figures are for this box.
It prints p50/p95/p99 and the max of each, then destroys everything it created.
"""

# ruff: noqa: E402 (the imports below must come after the sys.path fix)
from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/realtime.py`, this file's folder comes first on sys.path, and bench/executor.py would
# shadow the `executor` package.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import json
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import httpx2
import hvac
import psycopg
import uvloop
from psycopg.conninfo import conninfo_to_dict
from pulumi import automation as auto
from pymongo.uri_parser import parse_uri

from components.secrets import EXECUTOR_POLICY, executor_policy_hcl
from falcone import apikeys, platform_stack, pulumi_runner
from falcone.naming import TenantNames
from falcone.platform_config import backends_from_endpoints
from localplatform import endpoints

WAIT_S = 60.0
COLLECTION = "bench-events"


@dataclass
class Measured:
    label: str
    latencies: list[float] = field(default_factory=list)
    missing: int = 0

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000 if ordered else float("nan")

    def line(self) -> str:
        top = max(self.latencies) * 1000 if self.latencies else float("nan")
        return (
            f"  {self.label:<40} n {len(self.latencies):6d}   p50 {self.percentile(0.50):6.1f} ms   "
            f"p95 {self.percentile(0.95):6.1f} ms   p99 {self.percentile(0.99):6.1f} ms   max {top:6.1f} ms"
            f"   missing {self.missing}"
        )

    def summary(self) -> dict[str, float]:
        return {
            "n": len(self.latencies),
            "p50_ms": round(self.percentile(0.5), 2),
            "p95_ms": round(self.percentile(0.95), 2),
            "p99_ms": round(self.percentile(0.99), 2),
            "missing": self.missing,
        }


async def _subscriber(
    http: httpx2.AsyncClient, path: str, key: str, ready: asyncio.Event, arrived: dict[int, float], count: int
) -> None:
    """One SSE stream: records when the event of write n arrived, until all `count` have."""
    async with http.sse(path, headers={"apikey": key}) as source:
        assert source.response.status_code == 200, source.response.status_code
        async for event in source:
            if event.event == "ready":
                ready.set()
            elif event.event == "insert":
                now = time.perf_counter()
                payload = json.loads(event.data)
                body = payload.get("record") or payload.get("document") or {}
                arrived[int(body["n"] if "n" in body else body["data"]["n"])] = now
                if len(arrived) == count:
                    return
            elif event.event in ("error", "end"):
                raise RuntimeError(f"the stream ended: {event.data}")


async def measure(
    url: str, key: str, label: str, path: str, write: Callable[[httpx2.AsyncClient, int], Awaitable[None]], args: Any
) -> tuple[Measured, Measured]:
    limits = httpx2.Limits(max_connections=args.subscribers + 4)
    async with httpx2.AsyncClient(base_url=url, timeout=WAIT_S, limits=limits) as http:
        readies = [asyncio.Event() for _ in range(args.subscribers)]
        arrivals: list[dict[int, float]] = [{} for _ in range(args.subscribers)]
        streams = [
            asyncio.create_task(_subscriber(http, path, key, ready, arrived, args.events))
            for ready, arrived in zip(readies, arrivals, strict=True)
        ]
        async with asyncio.timeout(WAIT_S):
            await asyncio.gather(*(ready.wait() for ready in readies))
        sent: dict[int, float] = {}
        acknowledged = Measured(f"{label}: write acknowledged")
        interval = 1.0 / args.rate
        next_at = time.perf_counter()
        for n in range(args.events):
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            next_at += interval
            sent[n] = time.perf_counter()
            await write(http, n)
            acknowledged.latencies.append(time.perf_counter() - sent[n])
        try:
            async with asyncio.timeout(WAIT_S):
                await asyncio.gather(*streams)
        except TimeoutError:
            for stream in streams:
                stream.cancel()
        delivered = Measured(f"{label}: write -> {args.subscribers} subscribers")
        for arrived in arrivals:
            for n, at in sent.items():
                if n in arrived:
                    delivered.latencies.append(arrived[n] - at)
                else:
                    delivered.missing += 1
        return delivered, acknowledged


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        try:
            if httpx2.get(f"{url}/readyz").status_code == 200:
                return
        except httpx2.TransportError:
            pass
        if process.poll() is not None:
            raise SystemExit(f"python -m executor exited with {process.returncode}")
        time.sleep(0.1)
    raise SystemExit("python -m executor did not become ready")


def _quiet(_line: str) -> None:
    pass


async def _run(url: str, key: str, args: Any) -> dict[str, Any]:
    async def write_row(http: httpx2.AsyncClient, n: int) -> None:
        response = await http.post("/v1/collections/todos/documents", json={"data": {"n": n}}, headers={"apikey": key})
        assert response.status_code == 201, response.text

    async def write_document(http: httpx2.AsyncClient, n: int) -> None:
        path = f"/v1/mongo/collections/{COLLECTION}/documents"
        response = await http.post(path, json={"n": n}, headers={"apikey": key})
        assert response.status_code == 201, response.text

    async with httpx2.AsyncClient(base_url=url, timeout=WAIT_S) as http:  # the collection exists once written to
        await write_document(http, -1)
    results: dict[str, Any] = {}
    for label, path, write in (
        ("postgres", "/v1/realtime/collections/todos", write_row),
        ("mongo", f"/v1/realtime/mongo/collections/{COLLECTION}", write_document),
    ):
        delivered, acknowledged = await measure(url, key, label, path, write, args)
        print(delivered.line(), flush=True)
        print(acknowledged.line(), flush=True)
        results[label] = {"delivered": delivered.summary(), "acknowledged": acknowledged.summary()}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--rate", type=float, default=40.0, help="writes per second")
    parser.add_argument("--subscribers", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    backends = backends_from_endpoints(endpoints.load())
    assert backends.postgres is not None
    assert backends.vault is not None
    assert backends.mongo is not None
    run = uuid4().hex[:6]
    root = Path(tempfile.mkdtemp(prefix="bench-realtime-"))
    state, work = root / "state", root / "work"
    settings = {
        "platformRealm": f"plat-{run}",
        "sharedBucket": f"flc-shared-{run}",
        "rolePrefix": f"plat{run}",
        "metadataDatabase": f"falcone_platform_{run}",
        "tenantDatabase": f"falcone_tenants_{run}",
        "kafkaRevokeOnly": "true",
        "renderDir": str(root / "rendered"),
    }
    tenant = TenantNames(f"rt{run}")
    names = tenant.workspace("prod")
    print(f"setting up: platform, tenant {tenant.slug} (growth), workspace prod with `todos`", flush=True)
    outputs = platform_stack.ensure(backends, state, work, settings, on_output=_quiet)
    stacks: list[auto.Stack] = []
    vault = hvac.Client(url=backends.vault.address, token=backends.vault.token)
    vault_system: Any = vault.sys  # untyped in types-hvac
    policy = f"{EXECUTOR_POLICY}-bench-{run}"
    process: subprocess.Popen[bytes] | None = None
    try:
        for name, config in ((tenant.stack, {"plan": "growth"}), (names.stack, {"tables": '["todos"]'})):
            stack = pulumi_runner.project_stack(name, state, work_dir=work / "project")
            pulumi_runner.configure(stack, backends, **settings, **config)
            stacks.append(stack)
            stack.up(on_output=_quiet)
        key = apikeys.generate("service")
        with psycopg.connect(outputs.metadata_dsn(backends, "automation"), autocommit=True) as metadata:
            metadata.execute(
                "INSERT INTO tenants (slug, id, display_name, plan, iam_topology, state) "
                "VALUES (%s, %s, %s, 'growth', 'dedicated', 'active')",
                (tenant.slug, f"ten_{tenant.slug}", tenant.slug),
            )
            metadata.execute(
                "INSERT INTO workspaces (tenant, slug, id, display_name, state) "
                "VALUES (%s, 'prod', %s, 'prod', 'active')",
                (tenant.slug, f"wks_{tenant.slug}_prod"),
            )
            metadata.execute(
                "INSERT INTO api_keys (id, tenant, workspace, kind, prefix, secret_hash, db_role, created_by) "
                "VALUES (%s, %s, 'prod', 'service', %s, %s, %s, 'bench')",
                (key.id, tenant.slug, key.prefix, key.secret_hash, names.db_role("service")),
            )
        vault_system.create_or_update_policy(name=policy, policy=executor_policy_hcl(outputs.vault_mount))
        auth: Any = vault.auth
        token = str(auth.token.create(policies=[policy], ttl="1h", no_default_policy=True)["auth"]["client_token"])
        admin = conninfo_to_dict(backends.postgres.dsn)
        http_port = _free_port()
        env = {
            **os.environ,
            "FALCONE_EXECUTOR_PORT": str(http_port),
            "FALCONE_EXECUTOR_WORKERS": str(args.workers),
            "FALCONE_EXECUTOR_METADATA_DSN": outputs.metadata_dsn(backends, "keys"),
            "FALCONE_EXECUTOR_VAULT_ADDRESS": backends.vault.address,
            "FALCONE_EXECUTOR_VAULT_TOKEN": token,
            "FALCONE_EXECUTOR_VAULT_MOUNT": outputs.vault_mount,
            "FALCONE_EXECUTOR_POSTGRES_HOST": str(admin.get("host", "127.0.0.1")),
            "FALCONE_EXECUTOR_POSTGRES_PORT": str(admin.get("port") or 5432),
            # The server only: the executor logs in as the workspace's own Mongo user.
            "FALCONE_EXECUTOR_MONGO_URL": "mongodb://"
            + ",".join(f"{host}:{port}" for host, port in parse_uri(backends.mongo.uri)["nodelist"]),
            "FALCONE_EXECUTOR_RATE_LIMIT_MULTIPLIER": "1000",
            "FALCONE_EXECUTOR_LOG_LEVEL": "warning",
        }
        process = subprocess.Popen([sys.executable, "-m", "executor"], env=env)
        url = f"http://127.0.0.1:{http_port}"
        _wait_ready(url, process)
        print(
            f"\n{args.events} writes at {args.rate:.0f}/s through the API, {args.subscribers} SSE subscribers each, "
            f"{args.workers} executor worker(s), loopback, {os.cpu_count()} CPUs",
            flush=True,
        )
        results = uvloop.run(_run(url, key.secret, args))
        print(json.dumps(results))
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
        print("tearing down", flush=True)
        for stack in reversed(stacks):
            stack.destroy(on_output=_quiet)
            stack.workspace.remove_stack(stack.name)
        vault_system.delete_policy(name=policy)
        platform_stack.destroy(backends, state, work, on_output=_quiet)


if __name__ == "__main__":
    main()
