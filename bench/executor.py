"""The executor next to its floor: single-row GET by id under RLS with an API key, 50 concurrent connections.

    .venv/bin/python bench/executor.py [--seconds 20] [--connections 50] [--workers 2] [--pool-size 16]

(needs scripts/platform start and the toolchain). It brings up a platform stack, a starter tenant and one
workspace with a `todos` table (forced RLS, tenant policy) of 1,000 rows, registers a service key, then runs two
phases of the same length on loopback, each stopping by itself:

* floor: the very transaction the executor issues (BEGIN READ ONLY; set_config role/tenant/workspace/timeout in
  one statement; the compiled SELECT … json_agg; COMMIT) through raw asyncpg from this process, on as many
  connections as the executor's workers hold together;
* executor: `python -m executor` (uvicorn, `--workers` processes), `GET /rest/v1/todos?id=eq.N` with `apikey`,
  over keep-alive HTTP/1.1 connections driven from this process.

Both phases run on uvloop, as the executor does. The machine is shared by everything on it (PostgreSQL, the load,
the server): the figures are for this box, not for the executor alone.

It prints req/s, p50/p95/p99 and the executor/floor ratio, then destroys everything it created.
"""

# ruff: noqa: E402 (the imports below must come after the sys.path fix)
from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/executor.py`, this file's folder comes first on sys.path, and this file's name would shadow
# the `executor` package it measures: the repository instead (`bench` and `tests` are not installed packages).
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent), *(entry for entry in sys.path if Path(entry or ".").resolve() != HERE)]

import argparse
import asyncio
import json
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import hvac
import uvloop

from bench.workspace import bench_workspace
from executor.data.session import CONTEXT, keep_session
from executor.tables import repository, statements
from executor.tables.grammar import parse_query
from falcone.naming import WorkspaceNames
from tests.executor_world import running_executor

ROWS = 1000
STATEMENT_TIMEOUT_MS = "10000"


@dataclass
class Measured:
    label: str
    seconds: float
    latencies: list[float]
    errors: int

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000 if ordered else float("nan")

    def line(self) -> str:
        return (
            f"  {self.label:<34} {self.rate:8.0f} req/s   p50 {self.percentile(0.50):6.1f} ms   "
            f"p95 {self.percentile(0.95):6.1f} ms   p99 {self.percentile(0.99):6.1f} ms   errors {self.errors}"
        )


async def drive(
    label: str, connections: int, seconds: float, warmup: float, one: Callable[[int], Awaitable[bool]]
) -> Measured:
    """`connections` loops calling `one(worker)` until the time is up; latencies after `warmup` only."""
    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()
    measure_from, stop_at = started + warmup, started + warmup + seconds

    async def loop(worker: int) -> None:
        nonlocal errors
        while (now := time.perf_counter()) < stop_at:
            ok = await one(worker)
            done = time.perf_counter()
            if now >= measure_from:
                if ok:
                    latencies.append(done - now)
                else:
                    errors += 1

    await asyncio.gather(*(loop(worker) for worker in range(connections)))
    return Measured(label, seconds, latencies, errors)


# --- the floor: raw asyncpg --------------------------------------------------------------------------------


async def floor(
    credentials: dict[str, str], host: str, port: int, names: WorkspaceNames, role: str, pool_size: int, args: Any
) -> Measured:
    pool = await asyncpg.create_pool(
        host=host,
        port=port,
        user=credentials["user"],
        password=credentials["password"],
        database=credentials["database"],
        min_size=pool_size,
        max_size=pool_size,
        reset=keep_session,
    )
    assert pool is not None
    try:
        async with pool.acquire() as connection, connection.transaction():
            await connection.execute(CONTEXT, role, names.tenant, names.slug, STATEMENT_TIMEOUT_MS)
            table = await repository.table(connection, names.schema, "todos")
        assert table is not None
        # The same SQL the executor compiles for `?id=eq.N` (one parameterized statement, prepared per connection).
        compiled = statements.read(table, parse_query([("id", "eq.1")]), limit=1000, count=False)

        async def one(_worker: int) -> bool:
            params = [str(random.randint(1, ROWS)), *compiled.params[1:]]  # noqa: S311 (load, not secrets)
            async with pool.acquire() as connection, connection.transaction(readonly=True):
                await connection.execute(CONTEXT, role, names.tenant, names.slug, STATEMENT_TIMEOUT_MS)
                row = await connection.fetchrow(compiled.sql, *params)
            return row is not None and row[1] == 1

        return await drive("floor: raw asyncpg", args.connections, args.seconds, args.warmup, one)
    finally:
        await pool.close()


# --- the executor over HTTP ----------------------------------------------------------------------------------


async def executor_load(url: str, key: str, args: Any) -> Measured:
    target = urlsplit(url)
    streams = []
    for _ in range(args.connections):
        # Opened one by one, as a gateway grows its upstream pool: a burst of connects lands mostly on whichever
        # worker wakes first, and keep-alive would keep that imbalance for the whole run.
        streams.append(await asyncio.open_connection(target.hostname, target.port))
        await asyncio.sleep(0.02)

    async def one(worker: int) -> bool:
        reader, writer = streams[worker]
        request = (
            f"GET /rest/v1/todos?id=eq.{random.randint(1, ROWS)} HTTP/1.1\r\n"  # noqa: S311
            f"Host: 127.0.0.1\r\napikey: {key}\r\n\r\n"
        )
        writer.write(request.encode())
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await reader.readexactly(length)
        return head.startswith(b"HTTP/1.1 200") and body.startswith(b"[{")

    try:
        return await drive(
            f"executor: {args.workers} uvicorn workers", args.connections, args.seconds, args.warmup, one
        )
    finally:
        for _, writer in streams:
            writer.close()


# --- setup and teardown -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pool-size", type=int, default=16, help="connections per executor worker")
    args = parser.parse_args()

    with bench_workspace("bench", "starter") as workspace:
        names = workspace.names
        vault = workspace.deployment.backends.vault
        assert vault is not None
        read = hvac.Client(url=vault.address, token=vault.token).secrets.kv.v2.read_secret_version
        credentials = dict(
            read(
                path=f"{names.vault_prefix}/database",
                mount_point=workspace.deployment.outputs.vault_mount,
                raise_on_deleted_version=True,
            )["data"]["data"]
        )
        host, port = workspace.executor.postgres_host, workspace.executor.postgres_port
        role = names.db_role("service")
        asyncio.run(_fill(credentials, host, port, names, role))

        print(
            f"\nsingle-row GET by id under RLS, {args.connections} connections, {args.seconds:.0f} s each "
            f"(after {args.warmup:.0f} s warm-up), loopback, {os.cpu_count()} CPUs",
            flush=True,
        )
        total_pool = args.workers * args.pool_size
        floor_result = uvloop.run(floor(credentials, host, port, names, role, total_pool, args))
        print(floor_result.line(), flush=True)

        settings = workspace.executor.model_copy(
            update={
                "workers": args.workers,
                "pool_size": args.pool_size,
                # One key carries the load: at the starter plan's own limit (600/min) nearly all would be 429s.
                "rate_limit_multiplier": 1000.0,
                "key_cache_ttl_s": 5.0,
                "log_level": "warning",
            }
        )
        with running_executor(settings, workspace.root / "executor.log") as url:
            executor_result = uvloop.run(executor_load(url, workspace.key.secret, args))
        print(executor_result.line(), flush=True)
        ratio = executor_result.rate / floor_result.rate
        p95 = executor_result.percentile(0.95)
        print(f"\n  executor / floor: {ratio:.0%} of the floor's req/s")
        print(
            f"  targets: >= 2,500 req/s [{'met' if executor_result.rate >= 2500 else 'not met'}], "
            f"p95 <= 25 ms [{'met' if p95 <= 25 else 'not met'}], "
            f">= 50% of the floor [{'met' if ratio >= 0.5 else 'not met'}]"
        )
        print(json.dumps({"floor": _summary(floor_result), "executor": _summary(executor_result), "ratio": ratio}))


def _summary(result: Measured) -> dict[str, float]:
    return {
        "req_per_s": round(result.rate),
        "p50_ms": round(result.percentile(0.5), 2),
        "p95_ms": round(result.percentile(0.95), 2),
        "p99_ms": round(result.percentile(0.99), 2),
        "errors": result.errors,
    }


async def _fill(credentials: dict[str, str], host: str, port: int, names: WorkspaceNames, role: str) -> None:
    connection = await asyncpg.connect(
        host=host,
        port=port,
        user=credentials["user"],
        password=credentials["password"],
        database=credentials["database"],
    )
    try:
        async with connection.transaction():
            await connection.execute(CONTEXT, role, names.tenant, names.slug, STATEMENT_TIMEOUT_MS)
            await connection.execute(
                f'INSERT INTO "{names.schema}".todos (id, data) '  # noqa: S608 (schema from validated slugs)
                "SELECT n, jsonb_build_object('title', 'todo ' || n, 'done', n % 2 = 0) FROM generate_series(1, $1) n",
                ROWS,
            )
    finally:
        await connection.close()


if __name__ == "__main__":
    main()
